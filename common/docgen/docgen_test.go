package docgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const top = "../.."

// The checked-in man pages, reference pages and completion scripts are
// what the command definitions generate today.
func TestGeneratedFilesUpToDate(t *testing.T) {
	bad, err := Stale(top, Files())
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
	want := Files()
	if err := Write(dir, want); err != nil {
		t.Fatal(err)
	}
	if bad, _ := Stale(dir, want); len(bad) != 0 {
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
	bad, err := Stale(dir, want)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(bad, " ") != "dist/completion/_rkt dist/man/rkt-run.1 docs/commands/rkt-gone.md" {
		t.Errorf("stale = %v", bad)
	}
	if err := Write(dir, want); err != nil {
		t.Fatal(err)
	}
	if bad, _ := Stale(dir, want); len(bad) != 0 {
		t.Errorf("write left stale files: %v", bad)
	}
}
