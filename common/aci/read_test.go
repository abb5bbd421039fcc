package aci

import (
	"archive/tar"
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/aci/compression"
)

const fixtures = "../../build/fixtures"

const busyboxID = "sha512-107db211203dd973c6af0bdc648fce384974ce816ec4d61e636e0b9e35b9728e02286b1af7ce9c643bdad49a84b7475feb28e10c65d9e19e80f2fff5fc8b1cab"

func fixture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(fixtures, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("fixture %s absent: %v", name, err)
	}
	return p
}

func nlink(fi os.FileInfo) uint64 {
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func readFileT(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBusyboxFixture(t *testing.T) {
	img := fixture(t, "busybox.aci")
	s := newSandbox(t)
	got, c, err := ReadFile(img, s.dir, ExtractOptions{Root: true, RootfsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != busyboxID {
		t.Errorf("ID = %s, want %s", got.ID, busyboxID)
	}
	if c != compression.Gzip {
		t.Errorf("compression = %v, want gzip", c)
	}
	if got.Manifest.Name.String() != "example.com/busybox" {
		t.Errorf("name = %s", got.Manifest.Name)
	}
	if !bytes.Contains(got.ManifestJSON, []byte("example.com/busybox")) {
		t.Errorf("ManifestJSON = %s", got.ManifestJSON)
	}
	bb, err := os.ReadFile(filepath.Join(s.dir, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	d, ok := got.Files["bin/busybox"]
	if !ok || d.Sum != sha512.Sum512(bb) || d.Size != int64(len(bb)) {
		t.Errorf("Files[bin/busybox] = %x %d, ok %v", d.Sum[:4], d.Size, ok)
	}
	if target, err := os.Readlink(filepath.Join(s.dir, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "manifest")); !os.IsNotExist(err) {
		t.Errorf("manifest extracted with RootfsOnly: %v", err)
	}
	// Without extracting, the same ID and manifest.
	got2, _, err := ReadFile(img, "", ExtractOptions{})
	if err != nil || got2.ID != busyboxID || got2.Files != nil || got2.Size != got.Size {
		t.Errorf("no-extract read: %v, %+v", err, got2)
	}
	if err := SyncTree(s.dir); err != nil {
		t.Error(err)
	}
}

func TestBusyboxMatchesTar(t *testing.T) {
	img := fixture(t, "busybox.aci")
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar")
	}
	ref := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", img, "-C", ref).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	s := newSandbox(t)
	if _, _, err := ReadFile(img, s.dir, ExtractOptions{Root: true}); err != nil {
		t.Fatal(err)
	}
	want, got := treeListing(t, ref), treeListing(t, s.dir)
	if want != got {
		t.Errorf("tree differs from tar's:\n--- tar\n%s\n--- aci\n%s", want, got)
	}
}

// treeListing describes a tree: path, type, mode, owner, mtime, link target
// and content digest of each entry, the top directory itself left out.
func treeListing(t testing.TB, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		var extra string
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			extra, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			s := sha512.Sum512(data)
			extra = hex.EncodeToString(s[:8])
		}
		b.WriteString(strings.Join([]string{rel, fi.Mode().String(), itoa(st.Uid), itoa(st.Gid),
			time.Unix(st.Mtim.Unix()).UTC().Format(time.RFC3339Nano), extra}, " "))
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func itoa(n uint32) string  { return strconv.FormatUint(uint64(n), 10) }
func uitoa(n uint32) string { return itoa(n) }

func TestHostileFixtures(t *testing.T) {
	tests := []struct {
		file string
		want error
	}{
		{"path-traversal.aci", ErrUnsafePath},
		{"path-traversal-bare.aci", ErrUnsafePath},
		{"symlink-escape-abs.aci", ErrUnsafePath},
		{"symlink-escape-rel.aci", ErrUnsafePath},
		{"invalid-manifest.aci", ErrInvalidManifest},
	}
	escapes := []string{"/tmp/aci-symlink-escape-abs", "/tmp/aci-symlink-escape-rel"}
	for _, e := range escapes {
		if _, err := os.Lstat(e); err == nil {
			t.Fatalf("%s exists before the test; remove it", e)
		}
	}
	for _, tt := range tests {
		for _, opts := range []ExtractOptions{{Root: true, RootfsOnly: true}, {}, {Root: true}} {
			t.Run(tt.file, func(t *testing.T) {
				bothResolvers(t, func(t *testing.T) {
					p := fixture(t, tt.file)
					s := newSandbox(t)
					_, _, err := ReadFile(p, s.dir, opts)
					if !errors.Is(err, tt.want) {
						t.Errorf("err = %v, want %v", err, tt.want)
					}
					s.checkOutside(t)
					for _, e := range escapes {
						if _, err := os.Lstat(e); err == nil {
							os.Remove(e)
							t.Errorf("%s was created", e)
						}
					}
				})
			})
		}
	}
	// Names are checked even when nothing is extracted, so that fetch
	// refuses what render would.
	for _, f := range []string{"path-traversal.aci", "path-traversal-bare.aci"} {
		if _, _, err := ReadFile(fixture(t, f), "", ExtractOptions{}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%s without extraction: err = %v", f, err)
		}
	}
}

func TestEscapes(t *testing.T) {
	type tc struct {
		name string
		ents func(s *sandbox) []ent
		// base is a first layer extracted before ents.
		base func(s *sandbox) []ent
		want error // nil: must succeed, contained
		opts ExtractOptions
		post func(t *testing.T, s *sandbox)
	}
	rootfs := ExtractOptions{Root: true, RootfsOnly: true}
	tests := []tc{
		{name: "absolute", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{file(s.outside+"/x", "x")}
		}},
		{name: "absolute under rootfs", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{file("/rootfs/x", "x")}
		}},
		{name: "dotdot in the middle", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{dir("rootfs/a/"), file("rootfs/a/../../../outside/x", "x")}
		}},
		{name: "dotdot that stays inside", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{dir("rootfs/a/"), file("rootfs/a/../b", "x")}
		}},
		{name: "symlink abs then file through it", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside), file("rootfs/l/x", "x")}
		}},
		{name: "symlink rel then file through it", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", "../../outside"), file("rootfs/l/x", "x")}
		}},
		{name: "symlink then file over it", ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside+"/secret"), file("rootfs/l", "x")}
		}, post: func(t *testing.T, s *sandbox) {
			if got := readFileT(t, filepath.Join(s.dir, "l")); got != "x" {
				t.Errorf("l = %q", got)
			}
		}},
		{name: "symlink to dir then dir through it", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside), dir("rootfs/l/sub/")}
		}},
		{name: "symlink to dir then symlink through it", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside), symlink("rootfs/l/sub", "/")}
		}},
		{name: "symlink chain", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{dir("rootfs/d/"), symlink("rootfs/d/l", "../l2"), symlink("rootfs/l2", s.outside), file("rootfs/d/l/x", "x")}
		}},
		{name: "hardlink to dotdot", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{hardlink("rootfs/h", "rootfs/../../outside/secret")}
		}},
		{name: "hardlink to bare dotdot", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{hardlink("rootfs/h", "../outside/secret")}
		}},
		{name: "hardlink to absolute", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{hardlink("rootfs/h", s.outside+"/secret")}
		}},
		{name: "hardlink through a symlink", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside), hardlink("rootfs/h", "rootfs/l/secret")}
		}},
		{name: "hardlink outside rootfs", want: ErrUnsafePath, opts: rootfs, ents: func(s *sandbox) []ent {
			return []ent{hardlink("rootfs/h", "manifest")}
		}},
		{name: "hardlink to escaping symlink links the symlink", ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside+"/secret"), hardlink("rootfs/h", "rootfs/l")}
		}, post: func(t *testing.T, s *sandbox) {
			if got, err := os.Readlink(filepath.Join(s.dir, "h")); err != nil || got != s.outside+"/secret" {
				t.Errorf("h -> %q, %v; want the symlink itself", got, err)
			}
		}},
		{name: "symlink replaced by dir", ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside), dir("rootfs/l/"), file("rootfs/l/x", "x")}
		}, post: func(t *testing.T, s *sandbox) {
			if st := lstat(t, filepath.Join(s.dir, "l")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
				t.Errorf("l is not a directory: %o", st.Mode)
			}
			if got := readFileT(t, filepath.Join(s.dir, "l/x")); got != "x" {
				t.Errorf("l/x = %q", got)
			}
		}},
		{name: "earlier layer symlink then file through it", want: ErrUnsafePath, base: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside)}
		}, ents: func(s *sandbox) []ent {
			return []ent{file("rootfs/l/x", "x")}
		}},
		{name: "earlier layer symlink then file over it", base: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside+"/secret")}
		}, ents: func(s *sandbox) []ent {
			return []ent{file("rootfs/l", "x")}
		}},
		{name: "earlier layer symlink then dir over it", base: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside)}
		}, ents: func(s *sandbox) []ent {
			return []ent{dir("rootfs/l"), file("rootfs/l/secret", "x")}
		}},
		{name: "device through symlink", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs/l", s.outside), {name: "rootfs/l/fifo", typ: tar.TypeFifo}}
		}},
		{name: "replace the root", want: ErrUnsafePath, ents: func(s *sandbox) []ent {
			return []ent{symlink("rootfs", s.outside)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bothResolvers(t, func(t *testing.T) {
				s := newSandbox(t)
				opts := tt.opts
				opts.RootfsOnly, opts.Root = true, true
				if tt.base != nil {
					base := mkTar(t, append([]ent{manifestEnt()}, tt.base(s)...)...)
					if _, err := readBytes(base, s.dir, opts); err != nil {
						t.Fatalf("base layer: %v", err)
					}
				}
				data := mkTar(t, append([]ent{manifestEnt(), dir("rootfs/")}, tt.ents(s)...)...)
				_, err := readBytes(data, s.dir, opts)
				t.Logf("err: %v", err)
				if tt.want == nil && err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				s.checkOutside(t)
				if tt.post != nil && err == nil {
					tt.post(t, s)
				}
			})
		})
	}
}

func TestErrorNamesEntry(t *testing.T) {
	data := mkTar(t, manifestEnt(), file("rootfs/../../escape", "x"))
	_, err := readBytes(data, t.TempDir(), ExtractOptions{})
	if err == nil || !strings.Contains(err.Error(), "rootfs/../../escape") {
		t.Errorf("err = %v, want it to name the entry", err)
	}
}

func TestOverwriteLayers(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		s := newSandbox(t)
		opts := ExtractOptions{Root: true, RootfsOnly: true}
		l1 := mkTar(t, manifestEnt(), dir("rootfs/"),
			dir("rootfs/a/"), file("rootfs/a/f", "one"), file("rootfs/b", "file b"),
			symlink("rootfs/c", "x"), dir("rootfs/d/"), dir("rootfs/d/e/"), file("rootfs/d/e/g", "g"),
			file("rootfs/keep", "keep"), file("rootfs/hl-src", "src"), hardlink("rootfs/hl", "rootfs/hl-src"))
		if _, err := readBytes(l1, s.dir, opts); err != nil {
			t.Fatal(err)
		}
		l2 := mkTar(t, manifestEnt(), dir("rootfs/"),
			file("rootfs/a/f", "two"), ent{name: "rootfs/a/", typ: tar.TypeDir, mode: 0o700},
			dir("rootfs/b/"), file("rootfs/b/in", "in b"),
			file("rootfs/c", "c is a file"),
			file("rootfs/d", "d replaced a tree"),
			file("rootfs/hl", "new hl"))
		img, err := readBytes(l2, s.dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]string{
			"a/f": "two", "b/in": "in b", "c": "c is a file", "d": "d replaced a tree",
			"keep": "keep", "hl": "new hl", "hl-src": "src",
		} {
			if got := readFileT(t, filepath.Join(s.dir, p)); got != want {
				t.Errorf("%s = %q, want %q", p, got, want)
			}
		}
		if st := lstat(t, filepath.Join(s.dir, "a")); st.Mode&0o7777 != 0o700 {
			t.Errorf("a mode %o, want 700", st.Mode&0o7777)
		}
		if _, ok := img.Files["keep"]; ok {
			t.Error("Files lists a file of the previous layer")
		}
		if d := img.Files["d"]; d.Sum != sha512.Sum512([]byte("d replaced a tree")) {
			t.Error("Files[d] has the wrong digest")
		}
		s.checkOutside(t)
	})
}

func TestOverwriteWithinTar(t *testing.T) {
	// Many entries at the same few paths, alternating types, so that
	// pending writes and replacements meet.
	var ents []ent
	ents = append(ents, manifestEnt(), dir("rootfs/"))
	want := map[string]string{}
	for i := range 300 {
		p := "rootfs/p" + uitoa(uint32(i%7))
		switch i % 5 {
		case 0, 1, 2:
			body := strings.Repeat("x", i)
			ents = append(ents, file(p, body))
			want[p] = "file:" + body
		case 3:
			ents = append(ents, symlink(p, "target"+uitoa(uint32(i))))
			want[p] = "link:target" + uitoa(uint32(i))
		case 4:
			ents = append(ents, dir(p+"/"), file(p+"/child", "c"))
			want[p] = "dir"
		}
	}
	bothResolvers(t, func(t *testing.T) {
		s := newSandbox(t)
		img, err := readBytes(mkTar(t, ents...), s.dir, ExtractOptions{Root: true})
		if err != nil {
			t.Fatal(err)
		}
		for p, w := range want {
			full := filepath.Join(s.dir, p)
			st := lstat(t, full)
			var got string
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				got = "file:" + readFileT(t, full)
				if d := img.Files[p]; d.Sum != sha512.Sum512([]byte(got[5:])) {
					t.Errorf("Files[%s] wrong", p)
				}
			case unix.S_IFLNK:
				l, _ := os.Readlink(full)
				got = "link:" + l
			case unix.S_IFDIR:
				got = "dir"
			}
			if got != w {
				t.Errorf("%s = %.40q, want %.40q", p, got, w)
			}
			if got != "dir" {
				if _, ok := img.Files[p+"/child"]; ok {
					t.Errorf("Files lists %s/child, which was removed", p)
				}
			}
		}
	})
}

func TestWhitelist(t *testing.T) {
	data := mkTar(t, manifestEnt(), dir("rootfs/"),
		dir("rootfs/bin/"), file("rootfs/bin/sh", "sh"), file("rootfs/bin/ls", "ls"),
		dir("rootfs/etc/"), file("rootfs/etc/hosts", "hosts"), file("rootfs/etc/passwd", "pw"),
		dir("rootfs/usr/"), dir("rootfs/usr/lib/"), file("rootfs/usr/lib/libc.so", "libc"),
		symlink("rootfs/lib", "usr/lib"), file("rootfs/other", "o"))
	wl := []string{"/bin/sh", "/usr/lib/libc.so", "/lib", "/etc/"}
	for _, rootfsOnly := range []bool{true, false} {
		s := newSandbox(t)
		img, err := readBytes(data, s.dir, ExtractOptions{RootfsOnly: rootfsOnly, Whitelist: wl})
		if err != nil {
			t.Fatal(err)
		}
		root := s.dir
		if !rootfsOnly {
			root = filepath.Join(s.dir, "rootfs")
			if got := names(t, s.dir); !equal(got, []string{"manifest", "rootfs"}) {
				t.Errorf("top level = %v", got)
			}
		}
		var got []string
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if p != root {
				rel, _ := filepath.Rel(root, p)
				got = append(got, rel)
			}
			return err
		})
		want := []string{"bin", "bin/sh", "etc", "lib", "usr", "usr/lib", "usr/lib/libc.so"}
		if !equal(got, want) {
			t.Errorf("rootfsOnly=%v: tree %v, want %v", rootfsOnly, got, want)
		}
		if n := len(img.Files); rootfsOnly && n != 2 || !rootfsOnly && n != 3 {
			t.Errorf("Files = %v", img.Files)
		}
	}
}

func TestRootAndUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to check ownership and device nodes")
	}
	data := mkTar(t, manifestEnt(), dir("rootfs/"),
		ent{name: "rootfs/suid", body: "s", mode: 0o4755, uid: 1000, gid: 1001},
		ent{name: "rootfs/sgid-dir/", typ: tar.TypeDir, mode: 0o2775, uid: 1000, gid: 1001},
		ent{name: "rootfs/sgid-dir/f", body: "f", mode: 0o664, uid: 1002, gid: 1003},
		ent{name: "rootfs/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		ent{name: "rootfs/fifo", typ: tar.TypeFifo, mode: 0o600, uid: 5, gid: 6},
		ent{name: "rootfs/link", typ: tar.TypeSymlink, link: "suid", uid: 7, gid: 8},
		ent{name: "rootfs/x", body: "x", pax: map[string]string{"SCHILY.xattr.user.test": "v"}},
	)
	t.Run("root", func(t *testing.T) {
		s := newSandbox(t)
		if _, err := readBytes(data, s.dir, ExtractOptions{Root: true, RootfsOnly: true}); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) {
				t.Skipf("environment lacks mknod or xattrs: %v", err)
			}
			t.Fatal(err)
		}
		check := func(p string, mode uint32, uid, gid uint32) {
			t.Helper()
			st := lstat(t, filepath.Join(s.dir, p))
			if st.Mode != mode || st.Uid != uid || st.Gid != gid {
				t.Errorf("%s: mode %o %d:%d, want %o %d:%d", p, st.Mode, st.Uid, st.Gid, mode, uid, gid)
			}
		}
		check("suid", unix.S_IFREG|0o4755, 1000, 1001)
		check("sgid-dir", unix.S_IFDIR|0o2775, 1000, 1001)
		check("sgid-dir/f", unix.S_IFREG|0o664, 1002, 1003)
		check("null", unix.S_IFCHR|0o666, 0, 0)
		check("fifo", unix.S_IFIFO|0o600, 5, 6)
		check("link", unix.S_IFLNK|0o777, 7, 8)
		if st := lstat(t, filepath.Join(s.dir, "null")); st.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("null rdev %x", st.Rdev)
		}
		buf := make([]byte, 16)
		n, err := unix.Getxattr(filepath.Join(s.dir, "x"), "user.test", buf)
		if err != nil || string(buf[:n]) != "v" {
			t.Errorf("xattr = %q, %v", buf[:n], err)
		}
	})
	t.Run("unprivileged", func(t *testing.T) {
		s := newSandbox(t)
		if _, err := readBytes(data, s.dir, ExtractOptions{RootfsOnly: true}); err != nil {
			t.Fatal(err)
		}
		uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
		for p, mode := range map[string]uint32{
			"suid": unix.S_IFREG | 0o755, "sgid-dir": unix.S_IFDIR | 0o775, "sgid-dir/f": unix.S_IFREG | 0o664,
		} {
			st := lstat(t, filepath.Join(s.dir, p))
			if st.Mode != mode || st.Uid != uid || st.Gid != gid {
				t.Errorf("%s: mode %o %d:%d, want %o %d:%d", p, st.Mode, st.Uid, st.Gid, mode, uid, gid)
			}
		}
		for _, p := range []string{"null", "fifo"} {
			if _, err := os.Lstat(filepath.Join(s.dir, p)); !os.IsNotExist(err) {
				t.Errorf("%s created without Root: %v", p, err)
			}
		}
		if n, _ := unix.Getxattr(filepath.Join(s.dir, "x"), "user.test", nil); n > 0 {
			t.Error("xattr applied without Root")
		}
	})
}

func TestModesAndTimes(t *testing.T) {
	t1 := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	t2 := time.Date(2002, 3, 4, 5, 6, 7, 0, time.UTC)
	t3 := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	t4 := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) // past UnixNano's range
	big := strings.Repeat("0123456789abcdef", (smallFile*3)/16)
	data := mkTar(t, manifestEnt(),
		ent{name: "rootfs/", typ: tar.TypeDir, mtime: t1},
		ent{name: "rootfs/ro/", typ: tar.TypeDir, mode: 0o555, mtime: t2},
		ent{name: "rootfs/ro/f", body: "f", mode: 0o600, mtime: t3},
		ent{name: "rootfs/ro/sub/", typ: tar.TypeDir, mode: 0o700, mtime: t1},
		ent{name: "rootfs/ro/sub/g", body: "g", mode: 0o664, mtime: t2},
		ent{name: "rootfs/l", typ: tar.TypeSymlink, link: "ro/f", mtime: t3},
		ent{name: "rootfs/big", body: big, mode: 0o640, mtime: t1},
		ent{name: "rootfs/empty", mode: 0o444, mtime: t2},
		ent{name: "rootfs/sticky/", typ: tar.TypeDir, mode: 0o1777, mtime: t3},
		ent{name: "rootfs/future", body: "2300", mtime: t4},
	)
	for _, root := range []bool{true, false} {
		bothResolvers(t, func(t *testing.T) {
			s := newSandbox(t)
			img, err := readBytes(data, s.dir, ExtractOptions{Root: root, RootfsOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			for p, w := range map[string]struct {
				mode uint32
				mt   time.Time
			}{
				"ro": {unix.S_IFDIR | 0o555, t2}, "ro/f": {unix.S_IFREG | 0o600, t3},
				"ro/sub": {unix.S_IFDIR | 0o700, t1}, "ro/sub/g": {unix.S_IFREG | 0o664, t2},
				"l": {unix.S_IFLNK | 0o777, t3}, "big": {unix.S_IFREG | 0o640, t1},
				"empty": {unix.S_IFREG | 0o444, t2}, "sticky": {unix.S_IFDIR | 0o1777, t3},
				"future": {unix.S_IFREG | 0o644, t4},
			} {
				st := lstat(t, filepath.Join(s.dir, p))
				if st.Mode != w.mode {
					t.Errorf("%s mode %o, want %o", p, st.Mode, w.mode)
				}
				if mt := time.Unix(st.Mtim.Unix()); !mt.Equal(w.mt) {
					t.Errorf("%s mtime %v, want %v", p, mt.UTC(), w.mt)
				}
			}
			if d := img.Files["big"]; d.Size != int64(len(big)) || d.Sum != sha512.Sum512([]byte(big)) {
				t.Error("Files[big] wrong")
			}
			if got := readFileT(t, filepath.Join(s.dir, "big")); got != big {
				t.Error("big content differs")
			}
			if d, ok := img.Files["empty"]; !ok || d.Size != 0 || d.Sum != sha512.Sum512(nil) {
				t.Error("Files[empty] wrong")
			}
		})
	}
}

func TestHardlinks(t *testing.T) {
	data := mkTar(t, manifestEnt(), dir("rootfs/"), dir("rootfs/a/"),
		file("rootfs/a/f", "content"), hardlink("rootfs/b", "rootfs/a/f"),
		hardlink("rootfs/a/f2", "rootfs/a/f"), file("rootfs/a/f", "replaced"))
	s := newSandbox(t)
	img, err := readBytes(data, s.dir, ExtractOptions{RootfsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFileT(t, filepath.Join(s.dir, "b")); got != "content" {
		t.Errorf("b = %q", got)
	}
	if b, f2 := lstat(t, filepath.Join(s.dir, "b")), lstat(t, filepath.Join(s.dir, "a/f2")); b.Ino != f2.Ino || b.Nlink != 2 {
		t.Errorf("b and a/f2 not the same inode (%d %d, nlink %d)", b.Ino, f2.Ino, b.Nlink)
	}
	if got := readFileT(t, filepath.Join(s.dir, "a/f")); got != "replaced" {
		t.Errorf("a/f = %q", got)
	}
	if img.Files["b"].Sum != sha512.Sum512([]byte("content")) || img.Files["a/f"].Sum != sha512.Sum512([]byte("replaced")) {
		t.Error("hard link digests wrong")
	}
	// A link to a missing target is an error, not a silent skip.
	data = mkTar(t, manifestEnt(), hardlink("rootfs/b", "rootfs/missing"))
	if _, err := readBytes(data, t.TempDir(), ExtractOptions{RootfsOnly: true}); err == nil {
		t.Error("hard link to a missing file succeeded")
	}
}

func TestID(t *testing.T) {
	data := mkTar(t, manifestEnt(), dir("rootfs/"), file("rootfs/x", "x"))
	// Bytes after the end marker are part of the image, and of its ID.
	data = append(data, []byte("trailing garbage")...)
	sum := sha512.Sum512(data)
	for _, d := range []string{"", t.TempDir()} {
		img, err := readBytes(data, d, ExtractOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := "sha512-" + hex.EncodeToString(sum[:]); img.ID != want {
			t.Errorf("ID = %s, want %s", img.ID, want)
		}
		if img.Size != int64(len(data)) {
			t.Errorf("Size = %d, want %d", img.Size, len(data))
		}
		if string(img.ManifestJSON) != testManifest {
			t.Errorf("ManifestJSON = %s", img.ManifestJSON)
		}
	}
	// A stream larger than the pipe's buffers.
	big := mkTar(t, manifestEnt(), file("rootfs/big", strings.Repeat("y", chunkSize*numChunks*2+17)))
	sum = sha512.Sum512(big)
	img, err := readBytes(big, "", ExtractOptions{})
	if err != nil || img.ID != "sha512-"+hex.EncodeToString(sum[:]) {
		t.Errorf("big: %v", err)
	}
}

func TestManifestErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"none", mkTar(t, dir("rootfs/"), file("rootfs/x", "x")), ErrNoManifest},
		{"empty tar", mkTar(t), ErrNoManifest},
		{"bad json", mkTar(t, file("manifest", "{")), ErrInvalidManifest},
		{"bad kind", mkTar(t, file("manifest", `{"acKind":"PodManifest","acVersion":"0.8.11","name":"a"}`)), ErrInvalidManifest},
		{"bad name", mkTar(t, file("manifest", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"A B"}`)), ErrInvalidManifest},
		{"dir", mkTar(t, dir("manifest/")), ErrInvalidManifest},
		{"unsupported", mkTar(t, manifestEnt(), ent{name: "rootfs/x", typ: 'Z'}), ErrUnsupportedEntry},
		// The schema's parser would compute 10^999999999 for minutes.
		{"huge exponent", mkTar(t, file("manifest", `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a",`+
			`"app":{"exec":["/x"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"1e-999999999"}}]}}`)), ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, d := range []string{"", t.TempDir()} {
				if _, err := readBytes(tt.data, d, ExtractOptions{}); !errors.Is(err, tt.want) {
					t.Errorf("dir %q: err = %v, want %v", d, err, tt.want)
				}
			}
		})
	}
	if _, err := ParseManifest([]byte(testManifest)); err != nil {
		t.Error(err)
	}
	// Sane resource isolators still pass.
	ok := `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"exec":["/x"],"user":"0","group":"0",` +
		`"isolators":[{"name":"resource/memory","value":{"limit":"64M"}},{"name":"resource/cpu","value":{"limit":"1e3"}}]}}`
	if _, err := ParseManifest([]byte(ok)); err != nil {
		t.Error(err)
	}
}

func TestStreamErrors(t *testing.T) {
	data := mkTar(t, manifestEnt(), file("rootfs/x", strings.Repeat("x", 5000)))
	if _, err := readBytes(data[:1500], t.TempDir(), ExtractOptions{}); err == nil {
		t.Error("truncated tar accepted")
	}
	var gz bytes.Buffer
	zw := kgzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	bad := gz.Bytes()
	bad[len(bad)-6] ^= 0xff // the CRC, checked only at the very end
	rc, _, err := compression.Decompress(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(rc, t.TempDir(), ExtractOptions{}); err == nil {
		t.Error("gzip with a bad CRC accepted")
	}
	if _, err := Read(iotestErrReader{}, t.TempDir(), ExtractOptions{}); err == nil {
		t.Error("read error ignored")
	}
	if _, err := Read(bytes.NewReader(data), filepath.Join(t.TempDir(), "missing"), ExtractOptions{}); err == nil {
		t.Error("missing target dir accepted")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestCompressions(t *testing.T) {
	data := mkTar(t, manifestEnt(), dir("rootfs/"), file("rootfs/x", strings.Repeat("hello ", 1000)))
	sum := sha512.Sum512(data)
	wantID := "sha512-" + hex.EncodeToString(sum[:])
	compressors := map[compression.Compression]func() ([]byte, error){
		compression.None: func() ([]byte, error) { return data, nil },
		compression.Gzip: func() ([]byte, error) {
			var b bytes.Buffer
			w := kgzip.NewWriter(&b)
			w.Write(data)
			err := w.Close()
			return b.Bytes(), err
		},
		compression.Xz: func() ([]byte, error) {
			var b bytes.Buffer
			w, err := xz.NewWriter(&b)
			if err != nil {
				return nil, err
			}
			w.Write(data)
			err = w.Close()
			return b.Bytes(), err
		},
		compression.Zstd: func() ([]byte, error) {
			var b bytes.Buffer
			w, err := zstd.NewWriter(&b)
			if err != nil {
				return nil, err
			}
			w.Write(data)
			err = w.Close()
			return b.Bytes(), err
		},
		compression.Bzip2: func() ([]byte, error) {
			if _, err := exec.LookPath("bzip2"); err != nil {
				return nil, errSkip
			}
			cmd := exec.Command("bzip2", "-c")
			cmd.Stdin = bytes.NewReader(data)
			return cmd.Output()
		},
	}
	for c, compress := range compressors {
		t.Run(c.String(), func(t *testing.T) {
			z, err := compress()
			if err == errSkip {
				t.Skip("no bzip2 command")
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "img.aci")
			if err := os.WriteFile(p, z, 0o644); err != nil {
				t.Fatal(err)
			}
			s := newSandbox(t)
			img, got, err := ReadFile(p, s.dir, ExtractOptions{RootfsOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if got != c || img.ID != wantID {
				t.Errorf("compression %v, ID %s; want %v, %s", got, img.ID, c, wantID)
			}
			if readFileT(t, filepath.Join(s.dir, "x")) != strings.Repeat("hello ", 1000) {
				t.Error("content differs")
			}
		})
	}
}

var errSkip = errors.New("skip")

func TestReadDoesNotUseReaderAfterReturn(t *testing.T) {
	// A failing entry early in a long stream: Read must stop its reading
	// goroutine before returning.
	data := mkTar(t, manifestEnt(), file("/abs", "x"), file("rootfs/big", strings.Repeat("z", 8<<20)))
	r := &closableReader{r: bytes.NewReader(data)}
	if _, err := Read(r, t.TempDir(), ExtractOptions{}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("err = %v", err)
	}
	r.closed.Store(true)
	time.Sleep(10 * time.Millisecond)
	if r.readAfterClose.Load() {
		t.Error("Read used the reader after returning")
	}
}

func TestSyncTreeMissing(t *testing.T) {
	if err := SyncTree(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncTree on a missing dir succeeded")
	}
}

type closableReader struct {
	r              io.Reader
	closed         atomic.Bool
	readAfterClose atomic.Bool
}

func (c *closableReader) Read(p []byte) (int, error) {
	if c.closed.Load() {
		c.readAfterClose.Store(true)
	}
	return c.r.Read(p)
}

// TestUnprivileged extracts as an ordinary user (uid 65534) in a child
// process: directories the image makes read-only or unsearchable must still
// receive their children, and get their modes only at the end.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("ACI_UNPRIV_DIR") != "" {
		t.Skip("running as the helper")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	// t.TempDir's directories are 0700; the helper must reach into them.
	for _, p := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(tmp, "aci.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(tmp, "img.tar")
	if err := os.WriteFile(img, mkTar(t, manifestEnt(),
		ent{name: "rootfs/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "rootfs/ro/", typ: tar.TypeDir, mode: 0o555},
		ent{name: "rootfs/ro/f", body: "f", mode: 0o444},
		ent{name: "rootfs/ro/sub/", typ: tar.TypeDir, mode: 0o111},
		ent{name: "rootfs/ro/sub/g", body: "g", mode: 0o4755, uid: 0},
		ent{name: "rootfs/ro/sub/l", typ: tar.TypeSymlink, link: "g"},
		ent{name: "rootfs/dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		ent{name: "rootfs/x", body: "x", mode: 0o600, uid: 1000, gid: 1000},
	), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnprivilegedHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "ACI_UNPRIV_DIR="+dir, "ACI_UNPRIV_IMG="+img)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnprivilegedHelper") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

func TestUnprivilegedHelper(t *testing.T) {
	dir, img := os.Getenv("ACI_UNPRIV_DIR"), os.Getenv("ACI_UNPRIV_IMG")
	if dir == "" {
		t.Skip("only run by TestUnprivileged")
	}
	if _, _, err := ReadFile(img, dir, ExtractOptions{RootfsOnly: true}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]uint32{
		"ro": unix.S_IFDIR | 0o555, "ro/f": unix.S_IFREG | 0o444, "ro/sub": unix.S_IFDIR | 0o111,
		"ro/sub/g": unix.S_IFREG | 0o755, "ro/sub/l": unix.S_IFLNK | 0o777, "x": unix.S_IFREG | 0o600,
	} {
		st := lstat(t, filepath.Join(dir, p))
		if st.Mode != want || st.Uid != 65534 {
			t.Errorf("%s: mode %o uid %d, want %o uid 65534", p, st.Mode, st.Uid, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "dev/null")); !os.IsNotExist(err) {
		t.Errorf("dev/null created: %v", err)
	}
}

// TestTruncatedLargeFile cuts the archive inside a file big enough to be
// written in parts: Read must fail and leave no fd open behind it.
func TestTruncatedLargeFile(t *testing.T) {
	data := mkTar(t, manifestEnt(), file("rootfs/big", strings.Repeat("b", 3*smallFile+100)))
	before := openFDs(t)
	// The content starts after the manifest (two blocks) and its header.
	for _, cut := range []int{1536 + 10, 1536 + smallFile + 10, 1536 + 3*smallFile} {
		if _, err := readBytes(data[:cut], t.TempDir(), ExtractOptions{}); err == nil {
			t.Errorf("cut at %d: no error", cut)
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open before, %d after", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(es)
}
