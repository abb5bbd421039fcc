package runplan

import (
	"encoding/binary"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func samplePlan() *Plan {
	return &Plan{Steps: []Step{
		{Op: OpRename, Strs: []string{"/d/pods/prepare/u", "/d/pods/run/u"}},
		{Op: OpUnshare, Flags: 0x20000},
		{Op: OpMount, Strs: []string{"", "/", "", "", ""}, Flags: 0x4000 | 0x80000},
		{Op: OpMount, Strs: []string{"overlay", "/d/pods/run/u/stage1/rootfs", "overlay", "lowerdir=/l,upperdir=/u,workdir=/w,volatile", "lowerdir=/l,upperdir=/u,workdir=/w"}},
		{Op: OpChdir, Strs: []string{"/d/pods/run/u"}},
		{Op: OpTimerSlack, Flags: 2000000},
		{Op: OpExec, Strs: []string{"/d/pods/run/u/stage1/rootfs/fly", "RKT_LOCK_FD=9", "RKT_TIMER_SLACK=50000"}, Argv: []string{"/d/pods/run/u/stage1/rootfs/fly", "--net=default", "", "u"}},
	}}
}

func TestRoundTrip(t *testing.T) {
	p := samplePlan()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	// Decode gives an empty list where Encode was given none.
	for i := range got.Steps {
		if got.Steps[i].Strs == nil {
			got.Steps[i].Strs = p.Steps[i].Strs
		}
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
	}
	if !validBytes(b) {
		t.Error("the assembly refuses a plan Decode accepts")
	}
}

func TestEncodeRefuses(t *testing.T) {
	for name, mod := range map[string]func(p *Plan){
		"no exec last":      func(p *Plan) { p.Steps = p.Steps[:len(p.Steps)-1] },
		"two execs":         func(p *Plan) { p.Steps = append(p.Steps, p.Steps[len(p.Steps)-1]) },
		"NUL in a path":     func(p *Plan) { p.Steps[0].Strs[0] = "a\x00b" },
		"empty rename":      func(p *Plan) { p.Steps[0].Strs[1] = "" },
		"mount no target":   func(p *Plan) { p.Steps[2].Strs[1] = "" },
		"env without =":     func(p *Plan) { p.Steps[6].Strs[1] = "RKT_LOCK_FD" },
		"env without name":  func(p *Plan) { p.Steps[6].Strs[1] = "=9" },
		"env2 without =":    func(p *Plan) { p.Steps[6].Strs[2] = "RKT_TIMER_SLACK" },
		"exec without env2": func(p *Plan) { p.Steps[6].Strs = p.Steps[6].Strs[:2] },
		"no argv":           func(p *Plan) { p.Steps[6].Argv = nil },
		"unknown op":        func(p *Plan) { p.Steps[1].Op = 9 },
		"too large":         func(p *Plan) { p.Steps[4].Strs[0] = strings.Repeat("x", MaxSize) },
	} {
		p := samplePlan()
		mod(p)
		if _, err := p.Encode(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// damaged returns the encoded plan good damaged in the ways the
// executors must refuse, by name.
func damaged(good []byte) map[string][]byte {
	put := func(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	rec := func(i, arg int) int { return headerSize + recordSize*i + 8 + 8*arg }
	out := map[string][]byte{}
	for name, mod := range map[string]func(b []byte) []byte{
		"magic":            func(b []byte) []byte { b[7] = '2'; return b },
		"size":             func(b []byte) []byte { put(b, 8, uint64(len(b)+1)); return b },
		"truncated":        func(b []byte) []byte { return b[:len(b)-1] },
		"no final NUL":     func(b []byte) []byte { b[len(b)-1] = 'x'; return b },
		"no records":       func(b []byte) []byte { put(b, 16, 0); return b },
		"records overflow": func(b []byte) []byte { put(b, 16, 1<<60); return b },
		"records past end": func(b []byte) []byte { put(b, 16, uint64(len(b))/recordSize); return b },
		"exec first":       func(b []byte) []byte { put(b, headerSize, uint64(OpExec)); return b },
		"unknown op":       func(b []byte) []byte { put(b, headerSize+recordSize, 77); return b },
		"string past end":  func(b []byte) []byte { put(b, rec(0, 1), uint64(len(b))); return b },
		"nil rename":       func(b []byte) []byte { put(b, rec(0, 0), 0); return b },
		"nil mount target": func(b []byte) []byte { put(b, rec(2, 1), 0); return b },
		"mount data out":   func(b []byte) []byte { put(b, rec(3, 5), 1<<40); return b },
		"nil chdir":        func(b []byte) []byte { put(b, rec(4, 0), 0); return b },
		"nil exec":         func(b []byte) []byte { put(b, rec(6, 0), 0); return b },
		"nil env":          func(b []byte) []byte { put(b, rec(6, 2), 0); return b },
		"env no =":         func(b []byte) []byte { put(b, rec(6, 2), binary.LittleEndian.Uint64(b[rec(6, 0):])); return b },
		"argv unaligned":   func(b []byte) []byte { put(b, rec(6, 1), binary.LittleEndian.Uint64(b[rec(6, 1):])+1); return b },
		"argv nil":         func(b []byte) []byte { put(b, rec(6, 1), 0); return b },
		"argv past end":    func(b []byte) []byte { put(b, rec(6, 1), uint64(len(b))&^7); return b },
		"argv empty":       func(b []byte) []byte { put(b, rec(6, 1), uint64(len(b)-1-8)&^7); return b },
		"argv string out":  func(b []byte) []byte { put(b, int(binary.LittleEndian.Uint64(b[rec(6, 1):])), 1<<33); return b },
		"too short":        func(b []byte) []byte { return b[:headerSize+recordSize] },
		"empty":            func(b []byte) []byte { return nil },
	} {
		out[name] = mod(slices.Clone(good))
	}
	return out
}

// TestDecodeRefuses checks that Decode and the assembly refuse damaged
// plans alike.
func TestDecodeRefuses(t *testing.T) {
	good, err := samplePlan().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range damaged(good) {
		_, err := Decode(b)
		if err == nil {
			t.Errorf("%s: Decode accepted it", name)
		}
		if validBytes(b) != (err == nil) {
			t.Errorf("%s: the assembly says %v, Decode %v", name, validBytes(b), err)
		}
	}
}

func TestDecodeMaxArgs(t *testing.T) {
	for _, n := range []int{MaxArgs, MaxArgs + 1} {
		p := samplePlan()
		p.Steps[6].Argv = make([]string, n)
		b, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(b)
		if (err == nil) != (n <= MaxArgs) || validBytes(b) != (err == nil) {
			t.Errorf("%d arguments: Decode %v, assembly %v", n, err, validBytes(b))
		}
	}
}

func TestEnviron(t *testing.T) {
	got := Environ([]string{"A=1", "RKT_LOCK_FD=3", "RKT_LOCK_FDX=4", "RKT_LOCK_FD=5", "B="}, "RKT_LOCK_FD=9")
	want := []string{"A=1", "RKT_LOCK_FDX=4", "B=", "RKT_LOCK_FD=9"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	got = Environ([]string{"A=1", "S=2", "RKT_LOCK_FD=3"}, "RKT_LOCK_FD=9", "S=7")
	if want := []string{"A=1", "RKT_LOCK_FD=9", "S=7"}; !slices.Equal(got, want) {
		t.Errorf("two entries: got %q, want %q", got, want)
	}
	if got := Environ([]string{"A=1"}, "L=9", ""); !slices.Equal(got, []string{"A=1", "L=9"}) {
		t.Errorf("an empty entry: got %q", got)
	}
}

// FuzzValidate holds the assembly's check of a plan to Decode's: the
// fast path must carry out exactly the plans the format allows.
func FuzzValidate(f *testing.F) {
	good, err := samplePlan().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, b := range damaged(good) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Decode(b)
		if v := validBytes(b); v != (err == nil) {
			t.Fatalf("assembly %v, Decode %v", v, err)
		}
	})
}
