// Package fly is the "fly" stage1 flavor: it runs the single app of a
// pod in a chroot of the app's rootfs, with the host's network, PID, IPC
// and UTS namespaces, no cgroups, no capability bounding and no seccomp
// (reference FLV-05). Only the mounts are the pod's own: they are made in
// a private mount namespace, so they vanish when the app exits.
//
// One static binary implements every entrypoint. The stage1 image holds
// it at /fly with the symlinks /run, /enter, /gc and /stop pointing at it;
// Main picks the entrypoint from the name it was invoked by, or from its
// first argument (`fly run ...`).
package fly

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// InterfaceVersion is the stage1 interface version fly implements
// (reference S1-03: fly is version 5).
const InterfaceVersion = 5

// Exit statuses of the entrypoints.
const (
	// ExitOK is a successful entrypoint.
	ExitOK = 0
	// ExitStage1Error is the status of every stage1-internal failure
	// (reference S1-EXIT).
	ExitStage1Error = 254
)

// Entrypoint names: the basenames the binary answers to.
const (
	EntrypointRun   = "run"
	EntrypointEnter = "enter"
	EntrypointGC    = "gc"
	EntrypointStop  = "stop"
)

// entrypoints maps an entrypoint name to its implementation. Each takes
// the arguments after the entrypoint name and returns the exit status.
var entrypoints = map[string]func(args []string) int{
	EntrypointRun:   Run,
	EntrypointEnter: Enter,
	EntrypointGC:    GC,
	EntrypointStop:  Stop,
}

// errUsage means the binary was invoked under a name it does not know.
var errUsage = errors.New("unknown entrypoint")

// selectEntrypoint returns the entrypoint named by argv (its basename, or
// else its first argument) and the arguments that entrypoint gets.
func selectEntrypoint(argv []string) (string, []string, error) {
	if len(argv) > 0 {
		if name := filepath.Base(argv[0]); entrypoints[name] != nil {
			return name, argv[1:], nil
		}
	}
	if len(argv) > 1 && entrypoints[argv[1]] != nil {
		return argv[1], argv[2:], nil
	}
	return "", nil, errUsage
}

// Main runs the entrypoint argv selects and returns the process's exit
// status.
func Main(argv []string) int {
	name, args, err := selectEntrypoint(argv)
	if err != nil {
		names := make([]string, 0, len(entrypoints))
		for n := range entrypoints {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "stage1: %v: invoke as one of %s, or as `fly ENTRYPOINT ARGS...`\n",
			err, strings.Join(names, ", "))
		return ExitStage1Error
	}
	return entrypoints[name](args)
}

// logger writes the stage1's messages to stderr: errors and warnings
// always, diagnostics only with --debug.
type logger struct {
	out   io.Writer
	debug bool
}

func newLogger(debug bool) *logger { return &logger{out: os.Stderr, debug: debug} }

// Errorf prints an error as `stage1: ...`.
func (l *logger) Errorf(format string, args ...any) {
	fmt.Fprintf(l.out, "stage1: "+format+"\n", args...)
}

// Warnf prints a warning as `stage1: warning: ...`.
func (l *logger) Warnf(format string, args ...any) {
	fmt.Fprintf(l.out, "stage1: warning: "+format+"\n", args...)
}

// Debugf prints a diagnostic when debugging.
func (l *logger) Debugf(format string, args ...any) {
	if l.debug {
		fmt.Fprintf(l.out, "stage1: debug: "+format+"\n", args...)
	}
}

// fail prints err and returns the stage1 error status.
func (l *logger) fail(err error) int {
	l.Errorf("%v", err)
	return ExitStage1Error
}
