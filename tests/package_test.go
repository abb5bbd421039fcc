package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"syscall"

	"github.com/rkt/rkt/tests/harness"
)

// TestPackage builds the Debian package twice and checks that the builds
// are identical, that lintian finds no errors, and that the package
// installs into a fresh Debian system (debootstrap, cached as a tarball
// in build/chroot) and works there: rkt version, the units verify, a
// member of group rkt fetches the signed example image without root,
// root runs it with the default stage1, and purge keeps the user's data.
func TestPackage(t *testing.T) {
	harness.RequireRoot(t)
	for _, tool := range []string{"dpkg-deb", "lintian", "debootstrap", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/deps installs it): %v", tool, err)
		}
	}
	dir := harness.NewEnv(t).Root
	// The package of the committed HEAD, from a clone: the working tree is
	// shared and may change between two builds, a commit does not.
	src := filepath.Join(dir, "src")
	harness.Run(t, "git", "clone", "--quiet", "--shared", harness.Top(), src).OK(t)
	head := strings.TrimSpace(harness.Run(t, "git", "-C", src, "rev-parse", "HEAD").OK(t).Stdout)
	t.Logf("packaging commit %s (uncommitted changes are not in the package)", head)
	deb := buildPackage(t, src, filepath.Join(dir, "a"))
	again := buildPackage(t, src, filepath.Join(dir, "b"))
	if filepath.Base(deb) != filepath.Base(again) {
		t.Fatalf("two builds of one commit named differently: %s %s", deb, again)
	}
	h1, h2 := debMemberHash(t, deb, "data.tar.xz"), debMemberHash(t, again, "data.tar.xz")
	t.Logf("data.tar.xz sha256: %s (first build), %s (second build)", h1, h2)
	if h1 != h2 {
		t.Errorf("the package is not reproducible: data.tar.xz differs between two builds")
	}
	if c1, c2 := debMemberHash(t, deb, "control.tar.xz"), debMemberHash(t, again, "control.tar.xz"); c1 != c2 {
		t.Errorf("control.tar.xz differs between two builds: %s %s", c1, c2)
	}

	t.Run("Lintian", func(t *testing.T) {
		r := harness.Run(t, "lintian", "--tag-display-limit", "0", deb)
		var errs []string
		for _, l := range strings.Split(r.Stdout+r.Stderr, "\n") {
			if strings.HasPrefix(l, "E: ") {
				errs = append(errs, l)
			}
		}
		t.Logf("lintian:\n%s%s", r.Stdout, r.Stderr)
		if len(errs) > 0 || r.Code != 0 {
			t.Errorf("lintian reports errors (exit %d):\n%s", r.Code, strings.Join(errs, "\n"))
		}
	})

	t.Run("Chroot", func(t *testing.T) {
		c := newChroot(t, filepath.Join(dir, "root"))
		c.copyIn(deb, "/tmp/rkt.deb")
		c.run("dpkg", "-i", "/tmp/rkt.deb").OK(t)

		v := c.run("rkt", "version").OK(t).Stdout
		for _, want := range []string{"rkt Version: ", "Commit: ", "appc Version: 0.8.11", "Go Version: go",
			"Default stage1 image: coreos.com/rkt/stage1-native:", "Stage1 images directory: /usr/lib/rkt/stage1-images",
			"Stage1 images available: fly, native", "Exec directory: /usr/lib/rkt/libexec", "Features: "} {
			if !strings.Contains(v, want) {
				t.Errorf("rkt version lacks %q:\n%s", want, v)
			}
		}

		// The units, with the chroot's systemd; Documentation= with its man.
		units := []string{"/lib/systemd/system/rkt-gc.service", "/lib/systemd/system/rkt-gc.timer",
			"/lib/systemd/system/rkt-metadata.socket", "/lib/systemd/system/rkt-metadata.service",
			"/lib/systemd/system/rkt-api.service", "/usr/share/doc/rkt/examples/rkt-busybox.service"}
		r := c.run("systemd-analyze", append([]string{"verify"}, units...)...)
		t.Logf("systemd-analyze verify (in the chroot): exit %d, output: %q", r.Code, r.Stdout+r.Stderr)
		if r.Code != 0 || strings.TrimSpace(r.Stdout+r.Stderr) != "" {
			t.Errorf("systemd-analyze verify: %s", r)
		}
		if man := c.run("man", "-P", "cat", "rkt-run").OK(t).Stdout; !strings.Contains(man, "--pull-policy") {
			t.Errorf("man rkt-run in the chroot:\n%s", man)
		}
		for _, f := range []string{"/usr/share/bash-completion/completions/rkt", "/usr/share/zsh/vendor-completions/_rkt",
			"/usr/share/fish/vendor_completions.d/rkt.fish",
			"/usr/lib/tmpfiles.d/rkt.conf", "/usr/lib/sysusers.d/rkt.conf", "/usr/share/man/man1/rkt-image-list.1.gz"} {
			if _, err := os.Stat(c.path(f)); err != nil {
				t.Errorf("not installed: %v", err)
			}
		}

		// The postinst made the groups and the data directory.
		rktGID := c.gid(t, "rkt")
		c.gid(t, "rkt-admin")
		fi, err := os.Stat(c.path("/var/lib/rkt/cas"))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); fi.Mode()&(os.ModePerm|os.ModeSetgid) != 0o770|os.ModeSetgid || st.Gid != rktGID {
			t.Errorf("/var/lib/rkt/cas: mode %v gid %d", fi.Mode(), st.Gid)
		}

		// Root trusts the example key; alice, in group rkt, fetches the
		// signed image; bob, in no group, may not.
		fixtures := harness.Fixtures(t)
		for _, f := range []string{"busybox.aci", "busybox.aci.asc", "pubkeys.gpg"} {
			c.copyIn(filepath.Join(fixtures, f), "/srv/"+f)
		}
		c.run("useradd", "--create-home", "--groups", "rkt", "alice").OK(t)
		c.run("useradd", "--create-home", "bob").OK(t)
		c.run("rkt", "trust", "--prefix=example.com/busybox", "--skip-fingerprint-review", "/srv/pubkeys.gpg").OK(t)
		if r := c.runAs(t, "bob", "rkt", "fetch", "/srv/busybox.aci"); r.Code != 254 || !strings.Contains(strings.ToLower(r.Stderr), "permission denied") {
			t.Errorf("a user outside group rkt must be refused the store: %s", r)
		}
		id := strings.TrimSpace(c.runAs(t, "alice", "rkt", "fetch", "/srv/busybox.aci").OK(t).Stdout)
		if !strings.HasPrefix(id, "sha512-") || strings.Contains(id, "\n") {
			t.Fatalf("fetch printed %q, want one image ID", id)
		}
		if l := c.runAs(t, "alice", "rkt", "image", "list", "--no-legend").OK(t).Stdout; !strings.Contains(l, "example.com/busybox") {
			t.Errorf("alice's image list:\n%s", l)
		}

		// Root runs it with the default stage1 (native). Host networking:
		// the chroot shares the host's network namespace, and a default
		// network made from the chroot would collide with the host's.
		run := c.run("rkt", "run", "--net=host", "example.com/busybox")
		if run.Code != 0 || !strings.Contains(run.Stdout, "hello from busybox ACI") {
			t.Errorf("rkt run in the chroot: %s", run)
		}
		if l := c.run("rkt", "list", "--no-legend").OK(t).Stdout; !strings.Contains(l, "exited") {
			t.Errorf("no exited pod after the run:\n%s", l)
		}
		c.run("rkt", "gc", "--grace-period=0s").OK(t)

		// Purge removes the package and leaves the user's images.
		c.run("dpkg", "--purge", "rkt").OK(t)
		if _, err := os.Stat(c.path("/usr/bin/rkt")); err == nil {
			t.Errorf("/usr/bin/rkt still there after purge")
		}
		if ents, err := os.ReadDir(c.path("/var/lib/rkt/cas/images")); err != nil || len(ents) == 0 {
			t.Errorf("purge removed the user's images: %v %v", ents, err)
		}
		if _, err := os.Stat(c.path("/etc/rkt/trustedkeys")); err != nil {
			t.Errorf("purge removed the trusted keys: %v", err)
		}

		// Installing again keeps them (and sets the directories' modes and
		// groups again); a purge that asks for it removes everything.
		c.run("dpkg", "-i", "/tmp/rkt.deb").OK(t)
		if l := c.runAs(t, "alice", "rkt", "image", "list", "--no-legend").OK(t).Stdout; !strings.Contains(l, "example.com/busybox") {
			t.Errorf("the image is gone after a reinstall:\n%s", l)
		}
		c.run("env", "RKT_PURGE_DATA=yes", "dpkg", "--purge", "rkt").OK(t)
		for _, p := range []string{"/var/lib/rkt", "/etc/rkt"} {
			if _, err := os.Stat(c.path(p)); err == nil {
				t.Errorf("%s still there after a purge with RKT_PURGE_DATA=yes", p)
			}
		}
	})
}

// buildPackage runs scripts/package of the checkout src into dir and
// returns the .deb's path.
func buildPackage(t *testing.T, src, dir string) string {
	t.Helper()
	r := harness.Run(t, filepath.Join(src, "scripts", "package"), "--out", dir).OK(t)
	deb := strings.TrimSpace(r.Stdout)
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("scripts/package printed %q", deb)
	}
	return deb
}

// debMemberHash returns the sha256 of one member of a .deb (an ar archive).
func debMemberHash(t *testing.T, deb, member string) string {
	t.Helper()
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("!<arch>\n")) {
		t.Fatalf("%s is not an ar archive", deb)
	}
	for off := 8; off+60 <= len(data); {
		hdr := data[off : off+60]
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(hdr[48:58])))
		if err != nil {
			t.Fatalf("%s: bad ar header at %d", deb, off)
		}
		body := data[off+60 : off+60+size]
		if name == member {
			sum := sha256.Sum256(body)
			return hex.EncodeToString(sum[:])
		}
		off += 60 + size + size%2
	}
	t.Fatalf("%s has no member %s", deb, member)
	return ""
}

// chroot is a Debian system unpacked from the cached debootstrap tarball,
// with /proc, /sys and /dev mounted; the Env's cleanup (which root lives
// under) unmounts them and removes it, whatever the test's outcome.
type chroot struct {
	t    *testing.T
	root string
}

func newChroot(t *testing.T, root string) *chroot {
	t.Helper()
	base := strings.TrimSpace(harness.Run(t, filepath.Join(harness.Top(), "scripts", "chroot-base")).OK(t).Stdout)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &chroot{t: t, root: root}
	// Unmount before the directory is removed, even if the test fails
	// half-way (cleanups run last-registered first, before the Env's).
	t.Cleanup(func() {
		if _, err := os.Stat(c.path("/usr/bin/rkt")); err == nil {
			_ = exec.Command("chroot", root, "rkt", "gc", "--grace-period=0s").Run()
		}
		for _, m := range []string{"/dev", "/sys", "/proc", "/"} {
			_ = exec.Command("umount", "-R", "-l", c.path(m)).Run()
		}
	})
	harness.Run(t, "tar", "-C", root, "--numeric-owner", "-xf", base).OK(t)
	// The root is a mount point of its own, as on a real system: the
	// stage1 makes "/" a slave mount, which needs one.
	harness.Run(t, "mount", "--bind", root, root).OK(t)
	harness.Run(t, "mount", "--make-private", root).OK(t)
	harness.Run(t, "mount", "-t", "proc", "proc", c.path("/proc")).OK(t)
	for _, m := range []string{"/sys", "/dev"} {
		harness.Run(t, "mount", "--rbind", m, c.path(m)).OK(t)
		// Unmounting in the chroot must not reach the host's mounts.
		harness.Run(t, "mount", "--make-rslave", c.path(m)).OK(t)
	}
	// Name resolution is not needed: nothing in the chroot uses the network.
	return c
}

func (c *chroot) path(p string) string { return filepath.Join(c.root, p) }

func (c *chroot) copyIn(from, to string) {
	c.t.Helper()
	if err := os.MkdirAll(filepath.Dir(c.path(to)), 0o755); err != nil {
		c.t.Fatal(err)
	}
	copyFile(c.t, from, c.path(to))
}

var chrootEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "HOME=/root", "TERM=dumb", "MANPAGER=cat", "MANWIDTH=200"}

// run runs a command as root inside the chroot.
func (c *chroot) run(prog string, args ...string) *harness.Result {
	c.t.Helper()
	return harness.Run(c.t, "env", append(append(append([]string{"-i"}, chrootEnv...), "chroot", c.root, prog), args...)...)
}

// runAs runs a command inside the chroot as user (with its groups).
func (c *chroot) runAs(t *testing.T, user, prog string, args ...string) *harness.Result {
	t.Helper()
	id := strings.TrimSpace(c.run("id", "-u", user).OK(t).Stdout)
	gid := strings.TrimSpace(c.run("id", "-g", user).OK(t).Stdout)
	groups := strings.Join(strings.Fields(c.run("id", "-G", user).OK(t).Stdout), ",")
	chrootBin, err := exec.LookPath("chroot")
	if err != nil {
		t.Fatal(err)
	}
	full := []string{"-i", "PATH=/usr/bin:/bin", "LANG=C", "HOME=/home/" + user, chrootBin, "--userspec=" + id + ":" + gid, "--groups=" + groups, c.root, prog}
	return harness.Run(t, "env", append(full, args...)...)
}

// gid returns a group's ID in the chroot.
func (c *chroot) gid(t *testing.T, group string) uint32 {
	t.Helper()
	out := strings.TrimSpace(c.run("getent", "group", group).OK(t).Stdout)
	f := strings.Split(out, ":")
	if len(f) < 3 {
		t.Fatalf("group %s: %q", group, out)
	}
	n, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		t.Fatal(fmt.Errorf("group %s: %w", group, err))
	}
	return uint32(n)
}
