// Command execchain is a floor for `rkt run` in scripts/bench: the
// processes of rkt's exec chain, each doing nothing but start the next.
// The dispatcher (its fast path: an exec before any Go runtime, here
// tramp) execs prepare (a Go program), which execs run-prepared (its fast
// path again: tramp), which execs the stage1's run (Go), which forks and
// waits for the supervisor (Go), which forks and waits for the app
// (ARGS). So the row's time is what three Go start-ups, four execs and
// two forks cost, with no pod work.
//
// Usage: execchain STEP APP [ARG...], STEP one of prepare, run,
// supervisor; tramp is the binary beside execchain (see tramp/), and
// the row runs `tramp execchain prepare APP...`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: execchain prepare|run|supervisor APP [ARG...]")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	app := os.Args[2:]
	switch os.Args[1] {
	case "prepare": // exec run-prepared, whose fast path execs run
		tramp := filepath.Join(filepath.Dir(self), "tramp")
		fail(syscall.Exec(tramp, append([]string{tramp, self, "run"}, app...), os.Environ()))
	case "run":
		os.Exit(forkWait(self, append([]string{self, "supervisor"}, app...)))
	case "supervisor":
		os.Exit(forkWait(app[0], app))
	default:
		fmt.Fprintf(os.Stderr, "execchain: unknown step %q\n", os.Args[1])
		os.Exit(2)
	}
}

// forkWait runs path and returns its exit status.
func forkWait(path string, argv []string) int {
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		fail(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		fail(err)
	}
	return ws.ExitStatus()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "execchain:", err)
	os.Exit(1)
}
