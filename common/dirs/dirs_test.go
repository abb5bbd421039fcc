package dirs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestNew(t *testing.T) {
	if _, err := New(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	r, err := New(filepath.Join(link, "not", "yet"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(real, "not", "yet"); r.Path() != want {
		t.Errorf("Path = %s, want %s", r.Path(), want)
	}
	if r.PodsIn("run") != filepath.Join(real, "not/yet/pods/run") || r.CAS() != filepath.Join(real, "not/yet/cas") {
		t.Errorf("paths: %s %s", r.PodsIn("run"), r.CAS())
	}
}

func TestEnsure(t *testing.T) {
	r, err := New(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := r.Ensure(); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, e := range Layout {
		if fi, err := os.Stat(filepath.Join(r.Path(), e.Rel)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", e.Rel, err)
		}
	}
}
