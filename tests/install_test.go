package tests

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/dispatch"
	"github.com/rkt/rkt/tests/harness"
)

// scripts/install into a DESTDIR lays out the FHS tree and builds the
// binaries for the final prefix.
func TestInstallDestdir(t *testing.T) {
	dest := t.TempDir()
	cmd := exec.Command(filepath.Join(harness.Top(), "scripts", "install"))
	cmd.Env = append(os.Environ(), "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/install: %v\n%s", err, out)
	}
	want := []string{"usr/bin/rkt", "usr/share/doc/rkt/README.md"}
	for _, b := range dispatch.Binaries() {
		want = append(want, "usr/lib/rkt/libexec/"+b)
	}
	for _, p := range want {
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil {
			t.Errorf("missing %s: %v", p, err)
			continue
		}
		if strings.Contains(p, "bin/") && fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "usr/lib/rkt/stage1-images")); err != nil || !fi.IsDir() {
		t.Errorf("no stage1-images directory: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "usr/lib/rkt/libexec/rkt-run")); err != nil {
		t.Errorf("no rkt-run link: %v", err)
	}
	// Nothing outside PREFIX, and no data dir set up for a package build.
	ents, _ := os.ReadDir(dest)
	if len(ents) != 1 || ents[0].Name() != "usr" {
		t.Errorf("DESTDIR holds more than usr/: %v", ents)
	}
	r := harness.Run(t, filepath.Join(dest, "usr/bin/rkt"), "version").OK(t)
	if !strings.Contains(r.Stdout, "Stage1 images directory: /usr/lib/rkt/stage1-images") {
		t.Errorf("installed rkt not built for /usr:\n%s", r.Stdout)
	}
	harness.Run(t, filepath.Join(dest, "usr/bin/rkt"), "--exec-path="+filepath.Join(dest, "usr/lib/rkt/libexec"), "config", "--dir=/tmp/x").OK(t)
}

// scripts/setup-data-dir creates exactly common/dirs.Layout with the
// documented modes, group rkt on the data dir and rkt-admin on the config.
func TestSetupDataDir(t *testing.T) {
	harness.RequireRoot(t)
	root := t.TempDir()
	data, cfg := filepath.Join(root, "data"), filepath.Join(root, "etc-rkt")
	harness.Run(t, filepath.Join(harness.Top(), "scripts", "setup-data-dir"), data, cfg).OK(t)
	rktGID := groupID(t, "rkt")
	for _, e := range dirs.Layout {
		p := filepath.Join(data, e.Rel)
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != e.Mode {
			t.Errorf("%s: mode %v, want %v", e.Rel, got, e.Mode)
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != rktGID {
			t.Errorf("%s: gid %d, want rkt (%d)", e.Rel, gid, rktGID)
		}
	}
	fi, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&(os.ModePerm|os.ModeSetgid) != 0o775|os.ModeSetgid || fi.Sys().(*syscall.Stat_t).Gid != groupID(t, "rkt-admin") {
		t.Errorf("config dir: mode %v gid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid)
	}
	// Idempotent: a second run changes nothing and does not fail.
	harness.Run(t, filepath.Join(harness.Top(), "scripts", "setup-data-dir"), data, cfg).OK(t)
}

func groupID(t *testing.T, name string) uint32 {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(id)
}
