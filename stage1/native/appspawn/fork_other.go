//go:build !amd64

package appspawn

import "syscall"

// vforkFlags: a plain fork where there is no vfork clone of ours (see
// vfork_amd64.go); the child then has a copy of our memory.
const vforkFlags = 0

// rawVforkSyscall is a plain raw system call here.
func rawVforkSyscall(trap, a1, a2, a3 uintptr) (uintptr, syscall.Errno) {
	r1, _, err := syscall.RawSyscall(trap, a1, a2, a3)
	return r1, err
}
