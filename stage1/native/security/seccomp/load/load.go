// Package load installs an assembled seccomp filter and no_new_privs on
// the calling process. It depends on nothing but golang.org/x/sys/unix,
// so that the app-exec helper, which starts once per app, stays small;
// package seccomp builds and assembles the filters.
package load

import (
	"encoding/binary"
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

// Encode returns prog as the kernel lays it out (struct sock_filter,
// 8 bytes each): a compact form to hand to another process.
func Encode(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		b = binary.NativeEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.NativeEndian.AppendUint32(b, f.K)
	}
	return b
}

// Decode is the inverse of Encode.
func Decode(b []byte) ([]unix.SockFilter, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp program of %d bytes: not a whole number of instructions", len(b))
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		f := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(f), Jt: f[2], Jf: f[3], K: binary.NativeEndian.Uint32(f[4:])}
	}
	return prog, nil
}
