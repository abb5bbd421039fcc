package main

import (
	"testing"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/cmddoc"
	"github.com/rkt/rkt/common/commands"
	"github.com/rkt/rkt/common/completion"
)

// Every visible option of every command has usage text: a page cannot
// document a flag its author did not describe.
func TestEveryFlagDocumented(t *testing.T) {
	if u := cmddoc.Undocumented(cli.GlobalFlags()); len(u) > 0 {
		t.Errorf("global options without usage text: %v", u)
	}
	var walk func(c *cli.Command, name string)
	walk = func(c *cli.Command, name string) {
		if c.Summary == "" {
			t.Errorf("rkt %s has no summary", name)
		}
		if u := cmddoc.Undocumented(cli.OwnFlags(c)); len(u) > 0 {
			t.Errorf("rkt %s: options without usage text: %v", name, u)
		}
		for _, s := range c.Subs {
			walk(s, name+" "+s.Name)
		}
	}
	for _, c := range commands.All() {
		walk(c, c.Name)
	}
}

// Every command says what its arguments are, for completion.
func TestEveryCommandClassifiedForCompletion(t *testing.T) {
	if u := completion.Unclassified(commands.All()); len(u) > 0 {
		t.Errorf("commands without an argument kind in common/completion: %v", u)
	}
}
