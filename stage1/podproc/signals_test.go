package podproc

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// stopLateChild is the child half of TestStopLate: it catches SIGTERM,
// gives it back with StopLate, then sends it to itself until it dies of
// it. Still alive after 5 s, it exits 0, which fails the test.
const stopLateChild = "PODPROC_TEST_STOPLATE"

func TestMain(m *testing.M) {
	if os.Getenv(stopLateChild) == "1" {
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGTERM)
		StopLate(sigs)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			time.Sleep(5 * time.Millisecond)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStopLate(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stopLateChild+"=1")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the child did not die of SIGTERM once it was given back: %v", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("the child ended with %v, want death by SIGTERM", ws)
	}
}
