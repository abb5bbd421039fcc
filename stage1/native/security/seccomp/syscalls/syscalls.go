// Package syscalls holds the Linux system call numbers of the
// architectures whose seccomp filters rkt builds, by name.
//
// The tables are static data (ztables.go, generated from
// go-seccomp-bpf's, Linux v6.15): that library builds its tables as
// maps when a program starts, for every architecture, ~0.16 ms and
// 165 kB of allocations in each of the two stage1 processes of every
// pod start. Here nothing runs before a lookup, and a lookup is a
// binary search.
package syscalls

//go:generate go run gen.go

import (
	"fmt"
	"runtime"
	"sort"
)

// X32Bit is set in the syscall numbers of the x32 ABI on x86-64.
const X32Bit = 0x40000000

// Arch is the syscall table of one architecture.
type Arch struct {
	// Name is the Linux name of the architecture ("x86_64").
	Name string
	// Audit is its AUDIT_ARCH_* value, the arch field of seccomp_data.
	Audit uint32
	// sorted is the table, sorted by name.
	sorted []entry
}

type entry struct {
	name string
	nr   int
}

// Current returns the table of the architecture the program runs on.
func Current() (*Arch, error) {
	switch runtime.GOARCH {
	case "amd64":
		return &amd64Table, nil
	case "arm64":
		return &arm64Table, nil
	case "386":
		return &i386Table, nil
	case "arm":
		return &armTable, nil
	}
	return nil, fmt.Errorf("unsupported arch: %s", runtime.GOARCH)
}

// Number returns the number of the syscall name.
func (a *Arch) Number(name string) (int, bool) {
	i := sort.Search(len(a.sorted), func(i int) bool { return a.sorted[i].name >= name })
	if i < len(a.sorted) && a.sorted[i].name == name {
		return a.sorted[i].nr, true
	}
	return 0, false
}

// Names returns every syscall name of the architecture, sorted.
func (a *Arch) Names() []string {
	out := make([]string, len(a.sorted))
	for i, e := range a.sorted {
		out[i] = e.name
	}
	return out
}

// HasX32 reports whether the architecture has the x32 ABI, whose
// syscall numbers have X32Bit set (x86-64).
func (a *Arch) HasX32() bool {
	return a == &amd64Table
}
