package acname

import (
	"testing"

	"github.com/appc/spec/schema/types"
)

// Check decides as the schema does, with its messages.
func TestCheckMatchesSchema(t *testing.T) {
	for _, s := range []string{"", "a", "busybox", "a-b", "a--b", "-a", "a-", "-", "A", "a_b", "a.b", "a/b", "../x", "a b", "é", "0", "9-z", "a\x00"} {
		checkName(t, s)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"busybox", "a--b", "../etc", "-x-"} {
		f.Add(s)
	}
	f.Fuzz(checkName)
}

func checkName(t *testing.T, s string) {
	_, want := types.NewACName(s)
	got := Check(s)
	if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
		t.Errorf("%q: %v, schema %v", s, got, want)
	}
}
