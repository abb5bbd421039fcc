package syscalls

import (
	"runtime"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// The tables are the library's, name for name and number for number
// (go generate writes them again when the library changes).
func TestTablesMatchLibrary(t *testing.T) {
	for _, c := range []struct {
		ours *Arch
		lib  *arch.Info
	}{{&amd64Table, arch.X86_64}, {&arm64Table, arch.AARCH64}, {&i386Table, arch.I386}, {&armTable, arch.ARM}} {
		if c.ours.Name != c.lib.Name || c.ours.Audit != uint32(c.lib.ID) {
			t.Errorf("%s: name/audit %s %#x, library %s %#x", c.ours.Name, c.ours.Name, c.ours.Audit, c.lib.Name, uint32(c.lib.ID))
		}
		if len(c.ours.Names()) != len(c.lib.SyscallNames) {
			t.Errorf("%s: %d syscalls, library %d", c.ours.Name, len(c.ours.Names()), len(c.lib.SyscallNames))
		}
		for name, nr := range c.lib.SyscallNames {
			if got, ok := c.ours.Number(name); !ok || got != nr {
				t.Errorf("%s: %s = %d (%v), library %d", c.ours.Name, name, got, ok, nr)
			}
		}
	}
	if X32Bit != arch.X32.SeccompMask {
		t.Errorf("X32Bit %#x, library %#x", X32Bit, arch.X32.SeccompMask)
	}
}

func TestNumber(t *testing.T) {
	a, err := Current()
	if err != nil {
		t.Skip(err)
	}
	lib, err := arch.GetInfo(runtime.GOARCH)
	if err != nil || a.Name != lib.Name {
		t.Fatalf("Current() is %s, library's %v (%v)", a.Name, lib, err)
	}
	for _, name := range []string{"read", "execve", "mount"} {
		if nr, ok := a.Number(name); !ok || nr != lib.SyscallNames[name] {
			t.Errorf("%s: %d %v", name, nr, ok)
		}
	}
	for _, name := range []string{"", "no_such_call", "zzz", "\x00"} {
		if _, ok := a.Number(name); ok {
			t.Errorf("%q found", name)
		}
	}
}
