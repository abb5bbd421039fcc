package podproc

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// start runs argv as a child of the test, as the stage1s start theirs,
// its stdio on /dev/null (not the pipes go test reads).
func start(t *testing.T, argv ...string) int {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	fd := null.Fd()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Files: []uintptr{fd, fd, fd}})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// zombie waits until the child pid has exited, unreaped.
func zombie(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil); err == nil && info.Signo != 0 {
			return
		}
	}
	t.Fatalf("pid %d did not exit", pid)
}

func TestProcWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		argv   []string
		signal syscall.Signal // sent after Track
		early  bool           // exited before Track
		want   int            // WaitExitStatus
	}{
		{"exit", []string{"/bin/sh", "-c", "sleep 0.05; exit 7"}, 0, false, 7},
		{"exited before Track", []string{"/bin/sh", "-c", "exit 3"}, 0, true, 3},
		{"signal", []string{"/bin/sleep", "100"}, syscall.SIGTERM, false, 128 + int(syscall.SIGTERM)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid := start(t, tc.argv...)
			if tc.early {
				zombie(t, pid)
			}
			p := Track(pid)
			defer p.Close()
			if p.pidfd < 0 {
				t.Log("no pidfd on this kernel: waiting with wait4")
			} else if p.file == nil && kernelAtLeast(5, 10) {
				t.Error("no non-blocking pidfd (PIDFD_NONBLOCK, Linux 5.10): Wait blocks in wait4")
			}
			if tc.signal != 0 {
				p.Signal(tc.signal)
			}
			ws, err := p.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got := WaitExitStatus(ws); got != tc.want {
				t.Errorf("exit status %d, want %d", got, tc.want)
			}
			// Reaped: nothing is left to wait for.
			if _, err := unix.Wait4(pid, nil, unix.WNOHANG, nil); err != unix.ECHILD {
				t.Errorf("pid %d not reaped: wait4 %v", pid, err)
			}
		})
	}
}

// Kill kills and reaps a process that ignores SIGTERM.
func TestProcKill(t *testing.T) {
	pid := start(t, "/bin/sh", "-c", "trap '' TERM; exec sleep 100")
	p := Track(pid)
	defer p.Close()
	p.Kill()
	if _, err := unix.Wait4(pid, nil, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Errorf("pid %d not reaped: wait4 %v", pid, err)
	}
}

func kernelAtLeast(major, minor int) bool {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return false
	}
	var ma, mi int
	parts := strings.SplitN(strings.TrimSpace(string(b)), ".", 3)
	if len(parts) < 2 {
		return false
	}
	for _, c := range parts[0] {
		ma = ma*10 + int(c-'0')
	}
	for _, c := range parts[1] {
		if c < '0' || c > '9' {
			break
		}
		mi = mi*10 + int(c-'0')
	}
	return ma > major || ma == major && mi >= minor
}
