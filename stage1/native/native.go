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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// InterfaceVersion is the stage1 interface version native implements.
const InterfaceVersion = 6

// ImageName is the name of the native stage1 image.
const ImageName = "coreos.com/rkt/stage1-native"

// Exit statuses of the entrypoints.
const (
	ExitOK          = 0
	ExitStage1Error = 254
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

var entrypoints map[string]func(args []string) int

func init() {
	entrypoints = map[string]func(args []string) int{
		EntrypointRun:   Run,
		EntrypointEnter: Enter,
		EntrypointGC:    GC,
		EntrypointStop:  Stop,
		EntrypointInit:  Init,

		EntrypointAppExec: AppExec,
	}
}

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

// Main runs the entrypoint argv selects and returns the exit status.
func Main(argv []string) int {
	name, args, err := selectEntrypoint(argv)
	if err != nil {
		names := make([]string, 0, len(entrypoints))
		for n := range entrypoints {
			if n != EntrypointInit && n != EntrypointAppExec {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "stage1: %v: invoke as one of %s, or as `native ENTRYPOINT ARGS...`\n",
			err, strings.Join(names, ", "))
		return ExitStage1Error
	}
	return entrypoints[name](args)
}

// logger writes the stage1's messages to stderr.
type logger struct {
	out   io.Writer
	debug bool
}

func newLogger(debug bool) *logger { return &logger{out: os.Stderr, debug: debug} }

func (l *logger) Errorf(format string, args ...any) {
	fmt.Fprintf(l.out, "stage1: "+format+"\n", args...)
}

func (l *logger) Warnf(format string, args ...any) {
	fmt.Fprintf(l.out, "stage1: warning: "+format+"\n", args...)
}

func (l *logger) Debugf(format string, args ...any) {
	if l.debug {
		fmt.Fprintf(l.out, "stage1: debug: "+format+"\n", args...)
	}
}

func (l *logger) fail(err error) int {
	l.Errorf("%v", err)
	return ExitStage1Error
}
