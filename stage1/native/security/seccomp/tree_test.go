package seccomp

import (
	"encoding/binary"
	"slices"
	"sort"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// seccompData is a struct seccomp_data with nr and arch, in the byte
// order x/net/bpf's VM loads words in (big endian; the kernel uses the
// host's, and the programs compare the same words either way).
func seccompData(nr, auditArch uint32) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], auditArch)
	return b
}

// TestTreeMatchesLibrary runs the binary search and the library's list
// of comparisons on every syscall number (and the x32 and a foreign
// architecture's) for rkt's groups as whitelists and blacklists, with
// and without an errno: the answers must be the same.
func TestTreeMatchesLibrary(t *testing.T) {
	info, err := arch.GetInfo("")
	if err != nil {
		t.Skip(err)
	}
	var filters []*Filter
	var names []string
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		list := known(info, groups[g])
		if len(list) == 0 {
			continue
		}
		filters = append(filters,
			&Filter{Mode: Whitelist, Syscalls: list},
			&Filter{Mode: Whitelist, Syscalls: list, Errno: 1},
			&Filter{Mode: Blacklist, Syscalls: list},
			&Filter{Mode: Blacklist, Syscalls: list, Errno: 13})
	}
	all := known(info, func() []string {
		var out []string
		for n := range info.SyscallNames {
			out = append(out, n)
		}
		return out
	}())
	// Single syscalls, every other one, the first and the last.
	filters = append(filters,
		&Filter{Mode: Whitelist, Syscalls: []string{"read"}},
		&Filter{Mode: Blacklist, Syscalls: []string{"mount"}, Errno: 1},
		&Filter{Mode: Whitelist, Syscalls: everyOther(info, all)},
		&Filter{Mode: Blacklist, Syscalls: all})
	for i, f := range filters {
		tree, ok := f.tree(info)
		if !ok {
			if len(ranges(info, f.Syscalls)) < 150 {
				t.Errorf("filter %d (%d ranges): no tree", i, len(ranges(info, f.Syscalls)))
			}
			continue
		}
		lin, err := f.linear(info)
		if err != nil {
			t.Fatal(err)
		}
		treeVM, err := bpf.NewVM(tree)
		if err != nil {
			t.Fatalf("filter %d: tree: %v", i, err)
		}
		linVM, err := bpf.NewVM(lin)
		if err != nil {
			t.Fatalf("filter %d: linear: %v", i, err)
		}
		var inputs [][]byte
		for nr := uint32(0); nr < 1100; nr++ {
			inputs = append(inputs, seccompData(nr, uint32(info.ID)))
		}
		inputs = append(inputs,
			seccompData(0x40000000, uint32(info.ID)), seccompData(0x40000001, uint32(info.ID)),
			seccompData(0xffffffff, uint32(info.ID)), seccompData(1, 0x40000003)) // i386
		for _, in := range inputs {
			a, err1 := treeVM.Run(in)
			b, err2 := linVM.Run(in)
			if err1 != nil || err2 != nil || a != b {
				t.Fatalf("filter %d (%v, %d syscalls, errno %d): nr %d arch %#x: tree %#x (%v), library %#x (%v)",
					i, f.Mode, len(f.Syscalls), f.Errno, binary.BigEndian.Uint32(in), binary.BigEndian.Uint32(in[4:]), a, err1, b, err2)
			}
		}
		if f.Mode == Whitelist && len(f.Syscalls) > 100 && len(tree) >= len(lin) {
			t.Errorf("filter %d: tree of %d instructions, library %d", i, len(tree), len(lin))
		}
	}
}

func everyOther(info *arch.Info, names []string) []string {
	nums := map[int]string{}
	for _, n := range names {
		nums[info.SyscallNames[n]] = n
	}
	var out []string
	for nr, n := range nums {
		if nr%2 == 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// The default whitelist is far shorter as a tree.
func TestTreeOfTheDefaultWhitelist(t *testing.T) {
	f := mustBuild(t, nil)
	info, _ := arch.GetInfo("")
	tree, ok := f.tree(info)
	lin, _ := f.linear(info)
	if !ok || len(tree) > len(lin)/2 {
		t.Errorf("tree %d instructions (ok %v), library %d", len(tree), ok, len(lin))
	}
	t.Logf("default whitelist: %d ranges, tree %d instructions, library %d", len(ranges(info, f.Syscalls)), len(tree), len(lin))
}
