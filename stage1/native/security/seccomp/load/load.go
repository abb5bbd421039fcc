// Package load is the form in which an assembled seccomp filter goes
// from the stage1's `run`, which builds it (package seccomp), to the
// supervisor, which loads it into each app process
// (stage1/native/appspawn): raw struct sock_filter bytes. It depends on
// nothing but encoding/binary and golang.org/x/sys/unix, so that the
// supervisor links no BPF assembler.
package load

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

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
