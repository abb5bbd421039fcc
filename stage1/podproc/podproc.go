// Package podproc holds what both stage1 flavors know about the
// processes of a pod: the pod lock descriptor stage0 hands them, the pid
// files they write and read, and the exit status a process gives the pod.
package podproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
)

// LockFD returns the pod lock descriptor stage0 passed in RKT_LOCK_FD,
// checked to be an open descriptor above 2.
func LockFD() (int, error) {
	s := os.Getenv(stage1abi.LockFDEnv)
	if s == "" {
		return 0, fmt.Errorf("%s is not set: stage0 must pass the pod's lock", stage1abi.LockFDEnv)
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return 0, fmt.Errorf("%s=%q is not a file descriptor above 2", stage1abi.LockFDEnv, s)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return 0, fmt.Errorf("%s=%d: %w", stage1abi.LockFDEnv, fd, err)
	}
	return fd, nil
}

// ReadPIDFile reads a positive process or group ID from a file.
func ReadPIDFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q is not a process ID", path, data)
	}
	return n, nil
}

// WaitExitStatus is a process's status as the pod reports it: its exit
// code, or 128+N when signal N killed it.
func WaitExitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Proc is a child process started with syscall.ForkExec (which, unlike
// os.StartProcess, forks no throw-away child to probe for pidfd support
// first), signalled through a pidfd where the kernel has them, so never
// a recycled pid.
type Proc struct {
	pid   int
	pidfd int // -1 without pidfds
	// file owns pidfd when it is non-blocking (Linux 5.10 and later):
	// Wait then parks in the runtime's poller (a pidfd is readable once
	// its process exited) instead of in a blocking wait4. A goroutine
	// in a system call keeps its P busy, and while one is, the runtime's
	// monitor thread wakes every 20 µs (stretched by the timer slack,
	// stage1abi.TimerSlack, to ~0.24 ms), each time taking a CPU from
	// the pod being started, for the pod's whole life; with every P idle
	// it sleeps.
	file *os.File
}

// Track returns the Proc of the child pid.
func Track(pid int) *Proc {
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		return &Proc{pid: pid, pidfd: fd, file: os.NewFile(uintptr(fd), "pidfd")}
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		fd = -1
	}
	return &Proc{pid: pid, pidfd: fd}
}

// Signal sends sig to the process; a process already gone is no error.
func (p *Proc) Signal(sig unix.Signal) {
	if p.pidfd >= 0 {
		_ = unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
		return
	}
	_ = unix.Kill(p.pid, sig)
}

// Kill kills the process and reaps it.
func (p *Proc) Kill() {
	p.Signal(unix.SIGKILL)
	_, _ = p.Wait()
}

// Wait waits for the process to exit and returns its wait status.
func (p *Proc) Wait() (unix.WaitStatus, error) {
	if p.file != nil {
		if rc, err := p.file.SyscallConn(); err == nil {
			var ws unix.WaitStatus
			var werr error
			// Called again each time the pidfd turns readable.
			err := rc.Read(func(uintptr) bool {
				for {
					var pid int
					pid, werr = unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
					if werr != unix.EINTR {
						return werr != nil || pid != 0
					}
				}
			})
			if err == nil {
				return ws, werr
			}
		}
	}
	return WaitPID(p.pid)
}

// WaitPID waits for the child pid to exit and returns its wait status.
func WaitPID(pid int) (unix.WaitStatus, error) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		return ws, err
	}
}

// Close releases the pidfd.
func (p *Proc) Close() {
	switch {
	case p.file != nil:
		p.file.Close()
		p.file = nil
	case p.pidfd >= 0:
		unix.Close(p.pidfd)
	}
	p.pidfd = -1
}

// Forward passes the signals from sigs (see NotifySignals) to the
// process until done is closed. When we own the terminal (fg) only
// SIGTERM is passed: the terminal sent the others to the process itself.
func (p *Proc) Forward(sigs <-chan os.Signal, fg bool, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case s := <-sigs:
			if fg && s != unix.SIGTERM {
				continue
			}
			p.Signal(s.(unix.Signal))
		}
	}
}
