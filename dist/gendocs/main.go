// Command gendocs writes the files generated from rkt's command
// definitions: the man pages (dist/man), the per-command reference pages
// (docs/commands) and the shell completion scripts (dist/completion).
// scripts/gen-docs runs it from the top of the checkout; with -check it
// writes nothing and fails if a file is out of date.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rkt/rkt/common/cmddoc"
	"github.com/rkt/rkt/common/commands"
	"github.com/rkt/rkt/common/completion"
)

// Generated directories and the names in them gendocs owns.
var owned = map[string]string{
	"dist/man":        "*.1",
	"docs/commands":   "rkt*.md",
	"dist/completion": "*",
}

// files returns every generated file by path relative to the top.
func files() map[string][]byte {
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

// stale compares the generated files with those under top: the paths
// that differ, are missing, or are left over from a removed command.
func stale(top string, want map[string][]byte) ([]string, error) {
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

func write(top string, want map[string][]byte) error {
	bad, err := stale(top, want)
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

func main() {
	check := flag.Bool("check", false, "write nothing; fail if a generated file is out of date")
	top := flag.String("top", ".", "top of the rkt checkout")
	flag.Parse()
	want := files()
	if *check {
		bad, err := stale(*top, want)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		if len(bad) > 0 {
			fmt.Fprintf(os.Stderr, "gendocs: out of date (run scripts/gen-docs): %s\n", strings.Join(bad, " "))
			os.Exit(1)
		}
		return
	}
	if err := write(*top, want); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
