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
	"github.com/rkt/rkt/stage1/entrypoint"
	"github.com/rkt/rkt/stage1/stage1log"
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
	ExitStage1Error = stage1log.ExitStage1Error
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
var entrypoints = map[string]entrypoint.Func{
	EntrypointRun:   Run,
	EntrypointEnter: Enter,
	EntrypointGC:    GC,
	EntrypointStop:  Stop,
}

// selectEntrypoint returns the entrypoint named by argv (its basename, or
// else its first argument) and the arguments that entrypoint gets.
func selectEntrypoint(argv []string) (string, []string, error) {
	return entrypoint.Select(entrypoints, argv)
}

// Main runs the entrypoint argv selects and returns the exit status.
func Main(argv []string) int {
	return entrypoint.Main("fly", entrypoints, nil, argv)
}

// logger is the stage1 logger.
type logger = stage1log.Logger

func newLogger(debug bool) *logger { return stage1log.New(debug) }
