package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/cmddoc"
	"github.com/rkt/rkt/common/commands"
	"github.com/rkt/rkt/common/completion"
)

const top = "../.."

// The checked-in man pages, reference pages and completion scripts are
// what the command definitions generate today.
func TestGeneratedFilesUpToDate(t *testing.T) {
	bad, err := stale(top, files())
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("generated files out of date; run scripts/gen-docs and commit the result:\n  %s", strings.Join(bad, "\n  "))
	}
}

// The staleness check notices a changed, a missing and a left-over file.
func TestStaleFindsDrift(t *testing.T) {
	dir := t.TempDir()
	want := files()
	if err := write(dir, want); err != nil {
		t.Fatal(err)
	}
	if bad, _ := stale(dir, want); len(bad) != 0 {
		t.Fatalf("fresh output reported stale: %v", bad)
	}
	if err := os.WriteFile(filepath.Join(dir, "dist/man/rkt-run.1"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "dist/completion/_rkt")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs/commands/rkt-gone.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := stale(dir, want)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(bad, " ") != "dist/completion/_rkt dist/man/rkt-run.1 docs/commands/rkt-gone.md" {
		t.Errorf("stale = %v", bad)
	}
	if err := write(dir, want); err != nil {
		t.Fatal(err)
	}
	if bad, _ := stale(dir, want); len(bad) != 0 {
		t.Errorf("write left stale files: %v", bad)
	}
}

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
