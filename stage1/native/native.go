// Package native is the "native" stage1 flavor: the pod gets its own PID,
// mount, UTS, IPC and network namespaces, with a pod supervisor (this
// binary, re-executed as `init`) as PID 1. The supervisor sets up every
// app's mounts, starts all apps at once, each chrooted in its rootfs with
// its credentials, forwards signals, reaps, records exit statuses and
// exits with the first failed app's status. `enter` asks the supervisor,
// over a unix socket in the pod directory, to start a command inside an
// app (a Go process cannot setns(2) into a mount namespace).
//
// One static binary implements every entrypoint: the stage1 image holds
// it at /native with /run, /enter, /gc and /stop symlinked to it.
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

// Entrypoint names: the basenames the binary answers to. EntrypointInit
// is internal: the pod supervisor.
const (
	EntrypointRun   = "run"
	EntrypointEnter = "enter"
	EntrypointGC    = "gc"
	EntrypointStop  = "stop"
	EntrypointInit  = "init"
)

var entrypoints map[string]entrypoint.Func

func init() {
	entrypoints = map[string]entrypoint.Func{
		EntrypointRun:   Run,
		EntrypointEnter: Enter,
		EntrypointGC:    GC,
		EntrypointStop:  Stop,
		EntrypointInit:  Init,

		EntrypointAppExec: AppExec,
	}
}

// selectEntrypoint returns the entrypoint named by argv (its basename, or
// else its first argument) and the arguments that entrypoint gets.
func selectEntrypoint(argv []string) (string, []string, error) {
	return entrypoint.Select(entrypoints, argv)
}

// Main runs the entrypoint argv selects and returns the exit status.
func Main(argv []string) int {
	return entrypoint.Main("native", entrypoints, []string{EntrypointInit, EntrypointAppExec}, argv)
}

// logger is the stage1 logger.
type logger = stage1log.Logger

func newLogger(debug bool) *logger { return stage1log.New(debug) }
