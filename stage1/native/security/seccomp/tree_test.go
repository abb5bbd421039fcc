package seccomp

import (
	"encoding/binary"
	"slices"
	"sort"
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/seccomp/syscalls"
)

// libraryProgram is go-seccomp-bpf's program for f, behind the same
// architecture check: the reference that rkt's programs are held to.
func libraryProgram(t *testing.T, f *Filter, info *syscalls.Arch) []bpf.Instruction {
	t.Helper()
	// The library takes only bare actions as the default: a whitelist's
	// default is a placeholder swapped for "errno N"/kill afterwards.
	const placeholder = libseccomp.ActionTrace
	p := libseccomp.Policy{}
	if f.Mode == Whitelist {
		p.DefaultAction = placeholder
		p.Syscalls = []libseccomp.SyscallGroup{{Names: f.Syscalls, Action: libseccomp.ActionAllow}}
	} else {
		p.DefaultAction = libseccomp.ActionAllow
		p.Syscalls = []libseccomp.SyscallGroup{{Names: f.Syscalls, Action: libseccomp.Action(f.blockAction())}}
	}
	insts, err := p.Assemble()
	if err != nil {
		t.Fatalf("assembling the library's program: %v", err)
	}
	for i, in := range insts {
		if r, ok := in.(bpf.RetConstant); ok && r.Val == uint32(placeholder) && f.Mode == Whitelist {
			insts[i] = bpf.RetConstant{Val: f.blockAction()}
		}
	}
	return append(f.archCheck(info), insts...)
}

// seccompData is a struct seccomp_data with nr and arch, in the byte
// order x/net/bpf's VM loads words in (big endian; the kernel uses the
// host's, and the programs compare the same words either way).
func seccompData(nr, auditArch uint32) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], auditArch)
	return b
}

// TestTreeMatchesLibrary runs the binary search, linear's list and the
// library's list of comparisons on every syscall number (and the x32
// and a foreign architecture's) for rkt's groups as whitelists and
// blacklists, with and without an errno: the answers must be the same.
func TestTreeMatchesLibrary(t *testing.T) {
	info, err := syscalls.Current()
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
	all := info.Names()
	// Single syscalls, every other one, the first and the last.
	filters = append(filters,
		&Filter{Mode: Whitelist, Syscalls: []string{"read"}},
		&Filter{Mode: Blacklist, Syscalls: []string{"mount"}, Errno: 1},
		&Filter{Mode: Whitelist, Syscalls: everyOther(info, all)},
		&Filter{Mode: Blacklist, Syscalls: all})
	trees := 0
	for i, f := range filters {
		progs := map[string][]bpf.Instruction{"linear": f.linear(info), "library": libraryProgram(t, f, info)}
		if tree, ok := f.tree(info); ok {
			progs["tree"] = tree
			trees++
			if f.Mode == Whitelist && len(f.Syscalls) > 100 && len(tree) >= len(progs["library"]) {
				t.Errorf("filter %d: tree of %d instructions, library %d", i, len(tree), len(progs["library"]))
			}
		} else if len(ranges(info, f.Syscalls)) < 150 {
			t.Errorf("filter %d (%d ranges): no tree", i, len(ranges(info, f.Syscalls)))
		}
		// Instructions picks the tree where it fits, linear elsewhere.
		got, err := f.Instructions()
		if err != nil {
			t.Fatal(err)
		}
		if want := progs["tree"]; want == nil && len(got) != len(progs["linear"]) || want != nil && len(got) != len(want) {
			t.Errorf("filter %d: Instructions gave %d instructions, tree %d, linear %d", i, len(got), len(want), len(progs["linear"]))
		}
		vms := map[string]*bpf.VM{}
		for name, prog := range progs {
			if len(prog) > unix.BPF_MAXINSNS {
				t.Fatalf("filter %d: %s program of %d instructions", i, name, len(prog))
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("filter %d: %s: %v", i, name, err)
			}
			vms[name] = vm
		}
		var inputs [][]byte
		for nr := uint32(0); nr < 1100; nr++ {
			inputs = append(inputs, seccompData(nr, info.Audit))
		}
		inputs = append(inputs,
			seccompData(0x40000000, info.Audit), seccompData(0x40000001, info.Audit),
			seccompData(0xffffffff, info.Audit), seccompData(1, 0x40000003)) // i386
		for _, in := range inputs {
			want, err := vms["library"].Run(in)
			if err != nil {
				t.Fatal(err)
			}
			for name, vm := range vms {
				if got, err := vm.Run(in); err != nil || got != want {
					t.Fatalf("filter %d (%v, %d syscalls, errno %d): nr %d arch %#x: %s %#x (%v), library %#x",
						i, f.Mode, len(f.Syscalls), f.Errno, binary.BigEndian.Uint32(in), binary.BigEndian.Uint32(in[4:]), name, got, err, want)
				}
			}
		}
	}
	if trees == 0 || trees == len(filters) {
		t.Errorf("%d of %d filters as trees: both programs must be exercised", trees, len(filters))
	}
}

func everyOther(info *syscalls.Arch, names []string) []string {
	nums := map[int]string{}
	for _, n := range names {
		nr, _ := info.Number(n)
		nums[nr] = n
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
	info, _ := syscalls.Current()
	tree, ok := f.tree(info)
	lin := f.linear(info)
	if !ok || len(tree) > len(lin)/2 {
		t.Errorf("tree %d instructions (ok %v), library %d", len(tree), ok, len(lin))
	}
	t.Logf("default whitelist: %d ranges, tree %d instructions, library %d", len(ranges(info, f.Syscalls)), len(tree), len(lin))
}
