// Package docgen is the set of files generated from rkt's command
// definitions: the man pages (dist/man), the per-command reference pages
// (docs/commands) and the shell completion scripts (dist/completion),
// and keeping a checkout's copies of them up to date.
package docgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/rkt/rkt/common/cmddoc"
	"github.com/rkt/rkt/common/commands"
	"github.com/rkt/rkt/common/completion"
)

// owned are the generated directories and the names in them this
// package owns: a file there that Files does not name is removed.
var owned = map[string]string{
	"dist/man":        "*.1",
	"docs/commands":   "rkt*.md",
	"dist/completion": "*",
}

// Files returns every generated file, by path relative to the top of
// the checkout.
func Files() map[string][]byte {
	cmds := commands.All()
	out := map[string][]byte{}
	for _, p := range cmddoc.Pages(cmds) {
		out["dist/man/"+p.Name+".1"] = p.Man()
		out["docs/commands/"+p.Name+".md"] = p.Markdown()
	}
	m := completion.NewModel(cmds)
	out["dist/completion/rkt.bash"] = m.Bash()
	out["dist/completion/_rkt"] = m.Zsh()
	out["dist/completion/rkt.fish"] = m.Fish()
	return out
}

// Stale compares the generated files want with those under top: the
// paths that differ, are missing, or are left over from a removed
// command.
func Stale(top string, want map[string][]byte) ([]string, error) {
	var out []string
	for p, data := range want {
		have, err := os.ReadFile(filepath.Join(top, p))
		if err != nil || !bytes.Equal(have, data) {
			out = append(out, p)
		}
	}
	for dir, pattern := range owned {
		extra, err := filepath.Glob(filepath.Join(top, dir, pattern))
		if err != nil {
			return nil, err
		}
		for _, e := range extra {
			rel, _ := filepath.Rel(top, e)
			if _, ok := want[filepath.ToSlash(rel)]; !ok {
				out = append(out, rel)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Write brings the files under top in line with want: writes those
// that are stale, removes those left over.
func Write(top string, want map[string][]byte) error {
	bad, err := Stale(top, want)
	if err != nil {
		return err
	}
	for _, p := range bad {
		full := filepath.Join(top, p)
		data, ok := want[p]
		if !ok {
			if err := os.Remove(full); err != nil {
				return fmt.Errorf("removing %s: %w", p, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}
