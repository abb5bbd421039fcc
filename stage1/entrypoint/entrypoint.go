// Package entrypoint picks which stage1 entrypoint a multi-call stage1
// binary runs: each flavor's one binary answers to the names of its
// entrypoints (run, enter, gc, stop, ...) through symlinks, or takes the
// name as its first argument.
package entrypoint

import (
	"errors"
	"path/filepath"
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
