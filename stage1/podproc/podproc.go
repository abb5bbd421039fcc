// Package podproc holds what both stage1 flavors know about the
// processes of a pod: the pod lock descriptor stage0 hands them, the pid
// files they write and read, and the exit status a process gives the pod.
package podproc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

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

// ExitStatus is a process's status as the pod reports it: its exit code,
// or 128+N when signal N killed it.
func ExitStatus(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}

// WaitExitStatus is ExitStatus for a raw wait status.
func WaitExitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
