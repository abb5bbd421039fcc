// Package seccomp builds and loads the seccomp filter of an app from its
// appc seccomp isolators (SEC-SC-01..04) and decides no_new_privs
// (SEC-NNP-01).
//
// Without isolator an app gets rkt's default whitelist. A syscall outside a
// whitelist (or inside a blacklist) kills the whole app with SIGSYS unless
// the isolator names an errno, which the syscall then fails with instead.
package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/isolators"
	"github.com/rkt/rkt/stage1/native/security/seccomp/syscalls"
)

// Mode says how Filter.Syscalls is interpreted.
type Mode int

const (
	// Whitelist allows only the listed syscalls (retain-set).
	Whitelist Mode = iota
	// Blacklist blocks only the listed syscalls (remove-set).
	Blacklist
)

// String returns "whitelist" or "blacklist".
func (m Mode) String() string {
	if m == Blacklist {
		return "blacklist"
	}
	return "whitelist"
}

// Filter is an assembled seccomp policy for one app.
type Filter struct {
	// Disabled is set when seccomp is off (--insecure-options=seccomp or
	// "@appc.io/all" in a retain-set); Load is then a no-op.
	Disabled bool
	// Mode tells whether Syscalls are allowed or blocked.
	Mode Mode
	// Syscalls is the sorted, expanded list of syscall names present on the
	// running architecture.
	Syscalls []string
	// Errno is returned by blocked syscalls; 0 means kill the process
	// (SIGSYS).
	Errno syscall.Errno
}

// Active reports whether f would install a filter.
func (f *Filter) Active() bool {
	return f != nil && !f.Disabled
}

// Build computes the filter of an app from its isolators. disabled
// (--insecure-options=seccomp) turns seccomp off. At most one seccomp
// isolator is allowed per app; without one the default whitelist applies.
func Build(isos isolators.Isolators, disabled bool) (*Filter, error) {
	var found *isolators.Isolator
	for i := range isos {
		if isos[i].Name != isolators.SeccompRetainSetName && isos[i].Name != isolators.SeccompRemoveSetName {
			continue
		}
		if found != nil {
			return nil, errors.New("too many seccomp isolators")
		}
		found = &isos[i]
	}
	if disabled {
		return &Filter{Disabled: true}, nil
	}
	info, err := syscalls.Current()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if found == nil {
		return &Filter{Mode: Whitelist, Syscalls: known(info, groups[GroupRktDefaultWhitelist])}, nil
	}

	set, ok := found.Value.(isolators.SeccompSet)
	if !ok {
		return nil, fmt.Errorf("isolator %s: unexpected value type %T", found.Name, found.Value)
	}
	if len(set.Set) == 0 {
		return nil, fmt.Errorf("isolator %s: set must be non-empty", found.Name)
	}
	f := &Filter{Mode: Whitelist}
	if found.Name == isolators.SeccompRemoveSetName {
		f.Mode = Blacklist
	}
	if e := set.Errno; e != "" {
		n, err := ParseErrno(e)
		if err != nil {
			return nil, fmt.Errorf("isolator %s: %w", found.Name, err)
		}
		f.Errno = n
	}

	var names []string
	for _, entry := range set.Set {
		e := strings.TrimSpace(entry)
		switch {
		case e == GroupAll:
			if f.Mode == Whitelist {
				// Retaining everything is how appc spells "no seccomp".
				return &Filter{Disabled: true}, nil
			}
			return nil, fmt.Errorf("isolator %s: %s would block every syscall, including execve", found.Name, GroupAll)
		case e == GroupEmpty:
			if f.Mode == Whitelist {
				return nil, fmt.Errorf("isolator %s: %s would block every syscall, including execve", found.Name, GroupEmpty)
			}
		case strings.HasPrefix(e, "@"):
			g, ok := groups[e]
			if !ok {
				return nil, fmt.Errorf("isolator %s: unsupported seccomp group %q", found.Name, e)
			}
			names = append(names, known(info, g)...)
		default:
			if _, ok := info.Number(e); !ok {
				return nil, fmt.Errorf("isolator %s: unknown syscall %q on %s", found.Name, e, info.Name)
			}
			names = append(names, e)
		}
	}
	if f.Mode == Blacklist && len(names) == 0 {
		// A remove-set of only "@appc.io/empty" removes nothing from the
		// default: rkt then applies its default whitelist, keeping the errno.
		f.Mode = Whitelist
		names = known(info, groups[GroupRktDefaultWhitelist])
	}
	slices.Sort(names)
	f.Syscalls = slices.Compact(names)
	return f, nil
}

// ParseErrno converts an errno name such as "EPERM" to its number.
func ParseErrno(name string) (syscall.Errno, error) {
	for n := syscall.Errno(1); n < 4096; n++ {
		if unix.ErrnoName(n) == name {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unknown errno %q", name)
}

// blockAction is the seccomp return value for a blocked syscall.
func (f *Filter) blockAction() uint32 {
	if f.Errno != 0 {
		return unix.SECCOMP_RET_ERRNO | uint32(f.Errno)&unix.SECCOMP_RET_DATA
	}
	return unix.SECCOMP_RET_KILL_PROCESS
}

// actions returns what a program of f returns for a listed syscall and
// for any other.
func (f *Filter) actions() (listed, other uint32) {
	if f.Mode == Blacklist {
		return f.blockAction(), unix.SECCOMP_RET_ALLOW
	}
	return unix.SECCOMP_RET_ALLOW, f.blockAction()
}

// Instructions returns the BPF program of f: a binary search over the
// listed syscall numbers (tree.go), or a list of comparisons where that
// does not fit. Syscalls of a foreign architecture (e.g. i386 via int
// 0x80 on amd64) are always blocked, so a blacklist cannot be bypassed
// through the compat ABI.
func (f *Filter) Instructions() ([]bpf.Instruction, error) {
	if !f.Active() {
		return nil, errors.New("seccomp filter is disabled")
	}
	info, err := syscalls.Current()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if len(f.Syscalls) == 0 {
		return nil, errors.New("seccomp filter has no syscalls")
	}
	if prog, ok := f.tree(info); ok {
		return prog, nil
	}
	return f.linear(info), nil
}

// linear is f's program as one comparison per listed syscall number,
// each followed by its own return, so that no jump is longer than one
// instruction whatever the length of the list (a syscall outside a
// whitelist walks it in full: the binary search is used wherever it
// fits). It decides as the tree does (TestTreeMatchesLibrary).
func (f *Filter) linear(info *syscalls.Arch) []bpf.Instruction {
	listed, other := f.actions()
	prog := f.prologue(info)
	for _, r := range ranges(info, f.Syscalls) {
		for nr := r.lo; nr <= r.hi; nr++ {
			prog = append(prog,
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: nr, SkipTrue: 1},
				bpf.RetConstant{Val: listed})
		}
	}
	return append(prog, bpf.RetConstant{Val: other})
}

// archCheck is the start of every program: a syscall of another
// architecture than info's is blocked.
func (f *Filter) archCheck(info *syscalls.Arch) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: info.Audit, SkipTrue: 1},
		bpf.RetConstant{Val: f.blockAction()},
	}
}

// Raw returns the assembled program of an active filter, as the kernel
// takes it.
func (f *Filter) Raw() ([]unix.SockFilter, error) {
	insts, err := f.Instructions()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("assembling seccomp filter: %w", err)
	}
	sf := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		sf[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return sf, nil
}

// known keeps the names the architecture has; groups list syscalls of all
// architectures.
func known(info *syscalls.Arch, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := info.Number(n); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
