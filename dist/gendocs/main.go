// Command gendocs writes the files generated from rkt's command
// definitions: the man pages (dist/man), the per-command reference pages
// (docs/commands) and the shell completion scripts (dist/completion).
// scripts/gen-docs runs it from the top of the checkout; with -check it
// writes nothing and fails if a file is out of date.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rkt/rkt/common/docgen"
)

func main() {
	check := flag.Bool("check", false, "write nothing; fail if a generated file is out of date")
	top := flag.String("top", ".", "top of the rkt checkout")
	flag.Parse()
	want := docgen.Files()
	if *check {
		bad, err := docgen.Stale(*top, want)
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
	if err := docgen.Write(*top, want); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
