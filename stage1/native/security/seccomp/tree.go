package seccomp

import (
	"slices"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/seccomp/syscalls"
)

// A filter as one comparison per listed syscall (go-seccomp-bpf's
// programs, and linear's) is long: rkt's default whitelist is 285
// syscalls, which the kernel checks and compiles at every app start
// (~0.25 ms of the exec path here) and which a syscall outside the list
// walks in full. tree assembles the same decisions as a binary search
// over the ranges of consecutive listed syscall numbers: the default
// whitelist is 32 ranges, 5 to 6 levels deep, 135 instructions instead
// of 295, and a syscall takes at most a dozen comparisons.
// TestTreeMatchesLibrary runs the tree, linear's list and the library's
// program on every syscall number and compares their answers.

// x32Errno is what a program returns for the x32 ABI's syscall numbers
// (those with the X32 bit set on x86-64): ENOSYS.
const x32Errno = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// numRange is a range of syscall numbers, both ends included.
type numRange struct{ lo, hi uint32 }

// ranges returns the sorted ranges of consecutive numbers of names.
func ranges(info *syscalls.Arch, names []string) []numRange {
	var nums []uint32
	for _, n := range names {
		if nr, ok := info.Number(n); ok {
			nums = append(nums, uint32(nr))
		}
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	var out []numRange
	for _, n := range nums {
		if len(out) > 0 && out[len(out)-1].hi+1 == n {
			out[len(out)-1].hi = n
			continue
		}
		out = append(out, numRange{n, n})
	}
	return out
}

// tree returns f's program as a binary search, or false when a jump of
// the search would not fit BPF's 8-bit offsets (a list of well over a
// hundred ranges); linear is used then.
func (f *Filter) tree(info *syscalls.Arch) ([]bpf.Instruction, bool) {
	listed, other := f.actions()
	search, ok := searchTree(ranges(info, f.Syscalls), listed, other)
	if !ok {
		return nil, false
	}
	return append(f.prologue(info), search...), true
}

// prologue is the start of every program: the architecture check, the
// load of the syscall number and, on x86-64, the refusal of the x32
// ABI's numbers (with ENOSYS, as go-seccomp-bpf's programs, which rkt
// used before, refuse them).
func (f *Filter) prologue(info *syscalls.Arch) []bpf.Instruction {
	prog := append(f.archCheck(info), bpf.LoadAbsolute{Off: 0, Size: 4}) // seccomp_data.nr
	if info.HasX32() {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpLessThan, Val: syscalls.X32Bit, SkipTrue: 1},
			bpf.RetConstant{Val: x32Errno})
	}
	return prog
}

// searchTree decides whether the number in A lies in one of rs (sorted,
// disjoint): listed if so, else other. For the middle range [lo, hi]: A
// below lo searches the ranges before it, A above hi those after it,
// else it is listed.
func searchTree(rs []numRange, listed, other uint32) ([]bpf.Instruction, bool) {
	if len(rs) == 0 {
		return []bpf.Instruction{bpf.RetConstant{Val: other}}, true
	}
	mid := len(rs) / 2
	left, ok := searchTree(rs[:mid], listed, other)
	if !ok {
		return nil, false
	}
	right, ok := searchTree(rs[mid+1:], listed, other)
	if !ok {
		return nil, false
	}
	// jge lo  → (true) the block below, (false) skip it to left
	//   jgt hi → (true) skip the ret to right
	//   ret listed
	//   right
	// left
	block := 2 + len(right)
	if block > 255 {
		return nil, false
	}
	out := make([]bpf.Instruction, 0, 1+block+len(left))
	out = append(out,
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: rs[mid].lo, SkipFalse: uint8(block)},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: rs[mid].hi, SkipTrue: 1},
		bpf.RetConstant{Val: listed})
	out = append(out, right...)
	return append(out, left...), true
}
