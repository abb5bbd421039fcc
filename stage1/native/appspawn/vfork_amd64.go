package appspawn

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// vforkFlags make the child share our memory and suspend us until it
// executed its program or exited: no page tables to copy, and none of
// the copy-on-write faults (each a TLB shootdown on the other CPUs that
// run our threads) that a plain fork costs both processes until the
// exec. The child runs on this thread's stack, which rawVforkSyscall
// allows.
const vforkFlags = unix.CLONE_VM | unix.CLONE_VFORK

// rawVforkSyscall is syscall's, in vfork_amd64.s.
//
//go:noescape
func rawVforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno)
