// Command execchain is a floor for `rkt run` in scripts/bench: the
// processes of rkt's exec chain as empty Go programs. The dispatcher
// execs prepare, which execs run-prepared, which execs the stage1's run,
// which forks and waits for the supervisor, which forks and waits for
// the app (ARGS). Each step does nothing else, so the row's time is what
// the five Go start-ups, the three execs and the two forks cost.
//
// Usage: execchain APP [ARG...]
package main

import (
	"fmt"
	"os"
	"syscall"
)

// steps is the chain; argv[0] names where a process is in it.
var steps = []string{"rkt", "rkt-prepare", "rkt-run-prepared", "run", "supervisor"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: execchain APP [ARG...]")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	step := 0
	for i, s := range steps {
		if os.Args[0] == s {
			step = i
		}
	}
	argv := append([]string{""}, os.Args[1:]...)
	switch steps[step] {
	case "rkt", "rkt-prepare", "rkt-run-prepared":
		argv[0] = steps[step+1]
		fail(syscall.Exec(self, argv, os.Environ()))
	case "run":
		argv[0] = "supervisor"
		os.Exit(forkWait(self, argv))
	default: // the supervisor starts the app
		os.Exit(forkWait(os.Args[1], os.Args[1:]))
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
