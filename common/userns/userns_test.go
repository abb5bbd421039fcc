package userns

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rkt/rkt/common/dirs"
)

func newRoot(t *testing.T) dirs.Root {
	t.Helper()
	r, err := dirs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParse(t *testing.T) {
	r, err := Parse("65536:65536\n")
	if err != nil || r != (Range{65536, 65536}) || r.String() != "65536:65536" {
		t.Errorf("Parse = %v, %v", r, err)
	}
	for _, bad := range []string{"", "1", "0:65536", "65536:0", "x:1", "4294901760:65537", "-1:5"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestAllocateDistinctAndFree(t *testing.T) {
	root := newRoot(t)
	seen := map[uint32]string{}
	for i := range 300 {
		uuid := "pod-" + strconv.Itoa(i)
		r, err := Allocate(root, uuid)
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != Size || r.Shift%Size != 0 || r.Shift == 0 || r.Shift >= 1<<31 {
			t.Fatalf("bad range %v", r)
		}
		if other, dup := seen[r.Shift]; dup {
			t.Fatalf("range %v given to %s and %s", r, other, uuid)
		}
		seen[r.Shift] = uuid
	}
	owners, err := Owners(root)
	if err != nil || len(owners) != len(seen) {
		t.Fatalf("Owners: %d ranges, %v; want %d", len(owners), err, len(seen))
	}
	for shift, uuid := range seen {
		// Freeing in another pod's name does nothing.
		if err := Free(root, "someone-else", Range{shift, Size}); err != nil {
			t.Fatal(err)
		}
		if err := Free(root, uuid, Range{shift, Size}); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root.Path(), Dir)); len(ents) != 0 {
		t.Errorf("%d ranges left after freeing all", len(ents))
	}
}

func TestAllocateSkipsTakenRanges(t *testing.T) {
	dir := t.TempDir()
	// Every range but one is taken: that one must be found, from any
	// random start.
	const slots = 64
	for slot := 1; slot <= slots; slot++ {
		if slot == 37 {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(slot<<16)), []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	r, err := allocate(dir, "last", slots)
	if err != nil || r.Shift != 37<<16 {
		t.Fatalf("allocate = %v, %v; want shift %d", r, err, 37<<16)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, strconv.Itoa(37<<16))); string(b) != "last" {
		t.Errorf("range recorded for %q", b)
	}
	if _, err := allocate(dir, "none-left", slots); err == nil {
		t.Fatal("allocate succeeded with every range taken")
	}
}

func TestSweep(t *testing.T) {
	root := newRoot(t)
	live, err := Allocate(root, "live")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Allocate(root, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := Sweep(root, func(uuid string) bool { return uuid == "live" }); err != nil {
		t.Fatal(err)
	}
	owners, _ := Owners(root)
	if len(owners) != 1 || owners[live.Shift] != "live" {
		t.Errorf("after sweep: %v", owners)
	}
}
