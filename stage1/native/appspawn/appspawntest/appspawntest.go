// Package appspawntest starts processes the way the pod supervisor
// does (package appspawn), for the tests that check in the kernel what
// an app process gets: its capabilities, its seccomp filter, its ids.
package appspawntest

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/appspawn"
)

// Run starts s with the host's root ("/") unless s has one, its stdout
// and stderr on a pipe, and returns what it wrote, its wait status, and
// what stopped it before its exec (appspawn.Pending.Wait). It needs
// root.
func Run(t testing.TB, s *appspawn.Spec) (string, unix.WaitStatus, error) {
	t.Helper()
	if s.RootFD == 0 {
		root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(root)
		s.RootFD = root
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s.Stdio = [3]*os.File{nil, w, w}
	pe, err := appspawn.Start(s, -1)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	startErr := pe.Wait()
	out, _ := io.ReadAll(r)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pe.Pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return string(out), ws, startErr
}
