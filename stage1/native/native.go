// Package native is the "native" stage1 flavor's entrypoints: `run`
// gives the pod its own PID, mount, UTS, IPC and network namespaces
// (CNI), its cgroups and, with --private-users, its id mapping, and
// starts the pod supervisor (package supervisor, a binary of its own)
// as PID 1; `enter` asks the supervisor, over a unix socket in the pod
// directory, to start a command inside an app (a Go process cannot
// setns(2) into a mount namespace); `gc` and `stop` tear down and stop
// pods.
//
// One static binary implements these entrypoints: the stage1 image
// holds it at /native with /run, /enter, /gc and /stop symlinked to it,
// and the supervisor at /init.
package native

import (
	"github.com/rkt/rkt/stage1/entrypoint"
	"github.com/rkt/rkt/stage1/stage1log"
)

// InterfaceVersion is the stage1 interface version native implements.
const InterfaceVersion = 6

// ImageName is the name of the native stage1 image.
const ImageName = "coreos.com/rkt/stage1-native"

// Exit statuses of the entrypoints.
const (
	ExitOK          = 0
	ExitStage1Error = stage1log.ExitStage1Error
)

// Entrypoint names: the basenames the binary answers to.
const (
	EntrypointRun   = "run"
	EntrypointEnter = "enter"
	EntrypointGC    = "gc"
	EntrypointStop  = "stop"
)

var entrypoints map[string]entrypoint.Func

func init() {
	entrypoints = map[string]entrypoint.Func{
		EntrypointRun:   Run,
		EntrypointEnter: Enter,
		EntrypointGC:    GC,
		EntrypointStop:  Stop,
	}
}

// selectEntrypoint returns the entrypoint named by argv (its basename, or
// else its first argument) and the arguments that entrypoint gets.
func selectEntrypoint(argv []string) (string, []string, error) {
	return entrypoint.Select(entrypoints, argv)
}

// Main runs the entrypoint argv selects and returns the exit status.
func Main(argv []string) int {
	return entrypoint.Main("native", entrypoints, nil, argv)
}

// logger is the stage1 logger.
type logger = stage1log.Logger

func newLogger(debug bool) *logger { return stage1log.New(debug) }
