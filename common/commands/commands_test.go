package commands

import (
	"testing"

	"github.com/rkt/rkt/common/dispatch"
)

// Every command the dispatcher runs has a definition here under the same
// name, and nothing else is here: a new rkt-SUB cannot miss its man page.
func TestMatchesDispatchTable(t *testing.T) {
	inTable := map[string]bool{}
	for _, s := range dispatch.Table {
		inTable[s.Name] = true
		if _, ok := constructors[s.Name]; !ok {
			t.Errorf("dispatcher command %q has no definition in common/commands", s.Name)
		}
	}
	for _, n := range Names() {
		if !inTable[n] {
			t.Errorf("common/commands has %q, which the dispatcher does not know", n)
		}
	}
	for _, c := range All() {
		if !inTable[c.Name] {
			t.Errorf("definition named %q, not a dispatcher name", c.Name)
		}
	}
}
