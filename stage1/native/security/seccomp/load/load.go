// Package load installs an assembled seccomp filter and no_new_privs on
// the calling process. It depends on nothing but golang.org/x/sys/unix,
// so that the app-exec helper, which starts once per app, stays small;
// package seccomp builds and assembles the filters.
package load

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NoNewPrivs sets no_new_privs on the calling thread. Call it on the
// locked thread that will exec the app; Filter propagates it to the other
// threads of the process.
func NoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}

// Filter installs the program for the whole process
// (SECCOMP_FILTER_FLAG_TSYNC) just before exec. no_new_privs must be set
// first (NoNewPrivs) unless the calling thread holds CAP_SYS_ADMIN. An
// empty program is a no-op.
func Filter(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return nil
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r1, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		if errno == unix.EACCES {
			return fmt.Errorf("loading seccomp filter: %w (no_new_privs not set and CAP_SYS_ADMIN missing)", errno)
		}
		return fmt.Errorf("loading seccomp filter: %w", errno)
	}
	if r1 != 0 {
		return fmt.Errorf("loading seccomp filter: thread %d could not be synchronized", r1)
	}
	return nil
}
