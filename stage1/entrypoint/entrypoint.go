// Package entrypoint picks which stage1 entrypoint a multi-call stage1
// binary runs: each flavor's one binary answers to the names of its
// entrypoints (run, enter, gc, stop, ...) through symlinks, or takes the
// name as its first argument.
package entrypoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/rkt/rkt/stage1/stage1log"
)

// Func is an entrypoint: it takes the arguments after the entrypoint's
// name and returns the process's exit status.
type Func func(args []string) int

// ErrUsage means the binary was invoked under a name it does not know.
var ErrUsage = errors.New("unknown entrypoint")

// Select returns the name of the entrypoint of table that argv names
// (its basename, or else its first argument) and the arguments that
// entrypoint gets.
func Select(table map[string]Func, argv []string) (string, []string, error) {
	if len(argv) > 0 {
		if name := filepath.Base(argv[0]); table[name] != nil {
			return name, argv[1:], nil
		}
	}
	if len(argv) > 1 && table[argv[1]] != nil {
		return argv[1], argv[2:], nil
	}
	return "", nil, ErrUsage
}

// Main runs the entrypoint of table that argv names and returns its exit
// status. An unknown name is a stage1 error (exit status 254) listing the
// entrypoints, except the internal ones in hidden.
func Main(flavor string, table map[string]Func, hidden []string, argv []string) int {
	name, args, err := Select(table, argv)
	if err != nil {
		var names []string
		for n := range table {
			if !slices.Contains(hidden, n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "stage1: %v: invoke as one of %s, or as `%s ENTRYPOINT ARGS...`\n",
			err, strings.Join(names, ", "), flavor)
		return stage1log.ExitStage1Error
	}
	return table[name](args)
}
