package aci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// listTree returns "path type [content]" for every entry below dir.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		switch {
		case fi.IsDir():
			out = append(out, rel+"/")
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out = append(out, rel+" -> "+l)
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" = "+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func applyLayers(t *testing.T, dir string, layers ...[]byte) []*Layer {
	t.Helper()
	var out []*Layer
	for i, l := range layers {
		got, err := ReadLayer(bytes.NewReader(l), dir, ExtractOptions{})
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		sum := sha256.Sum256(l)
		if got.DiffID != "sha256:"+hex.EncodeToString(sum[:]) || got.Size != int64(len(l)) {
			t.Fatalf("layer %d: diff ID %s size %d, want the tar's", i, got.DiffID, got.Size)
		}
		out = append(out, got)
	}
	return out
}

func TestReadLayerWhiteouts(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		s := newSandbox(t)
		l1 := mkTar(t,
			dir("etc"), file("etc/keep", "1"), file("etc/remove-me", "1"),
			dir("opt"), dir("opt/opaque"), file("opt/opaque/old", "1"), dir("opt/opaque/sub"), file("opt/opaque/sub/deep", "1"),
			dir("gone"), file("gone/x", "1"),
			file("replaced-by-dir", "1"), dir("replaced-by-file"), file("replaced-by-file/y", "1"),
		)
		l2 := mkTar(t,
			file("etc/.wh.remove-me", ""), file(".wh.gone", ""), file("etc/.wh.never-existed", ""),
			file("opt/opaque/new-before", "2"),
			file("opt/opaque/.wh..wh..opq", ""),
			dir("opt/opaque/sub"), file("opt/opaque/sub/new", "2"),
			file("etc/.wh..wh.plnk", ""), // aufs bookkeeping: ignored
			dir("replaced-by-dir"), file("replaced-by-dir/z", "2"), file("replaced-by-file", "2"),
			file("etc/keep", "2"),
		)
		got := applyLayers(t, s.dir, l1, l2)
		want := []string{
			"etc/", "etc/keep = 2",
			"opt/", "opt/opaque/", "opt/opaque/new-before = 2", "opt/opaque/sub/", "opt/opaque/sub/new = 2",
			"replaced-by-dir/", "replaced-by-dir/z = 2", "replaced-by-file = 2",
		}
		if tree := listTree(t, s.dir); !equal(tree, want) {
			t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(tree, "\n"), strings.Join(want, "\n"))
		}
		// Removed covers each removed path (itself or an ancestor).
		covered := func(p string) bool {
			for _, r := range got[1].Removed {
				if p == r || strings.HasPrefix(p, r+"/") {
					return true
				}
			}
			return false
		}
		for _, r := range []string{"etc/remove-me", "gone/x", "opt/opaque/old", "opt/opaque/sub/deep"} {
			if !covered(r) {
				t.Errorf("Removed %v does not cover %s", got[1].Removed, r)
			}
		}
		if covered("etc/keep") || covered("opt/opaque/new-before") {
			t.Errorf("Removed %v covers paths this layer wrote", got[1].Removed)
		}
		s.checkOutside(t)
	})
}

func TestReadLayerHardLinkToLowerLayer(t *testing.T) {
	s := newSandbox(t)
	l1 := mkTar(t, dir("bin"), file("bin/busybox", "bb"))
	l2 := mkTar(t, hardlink("bin/sh", "bin/busybox"), file("bin/own", "o"), hardlink("bin/own-link", "bin/own"))
	applyLayers(t, s.dir, l1, l2)
	for _, pair := range [][2]string{{"bin/sh", "bin/busybox"}, {"bin/own-link", "bin/own"}} {
		a, err1 := os.Stat(filepath.Join(s.dir, pair[0]))
		b, err2 := os.Stat(filepath.Join(s.dir, pair[1]))
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			t.Errorf("%s is not a hard link of %s (%v, %v)", pair[0], pair[1], err1, err2)
		}
	}
}

func TestReadLayerRefusesEscapes(t *testing.T) {
	for name, layers := range map[string][][]byte{
		"dotdot":          {mkTar(t, file("../escape", "x"))},
		"absolute":        {mkTar(t, file("/abs", "x"))},
		"through symlink": {mkTar(t, symlink("link", "../outside")), mkTar(t, file("link/secret", "pwned"))},
		"whiteout through symlink": {
			mkTar(t, symlink("link", "../outside")), mkTar(t, file("link/.wh.secret", "")),
		},
		"opaque through symlink": {
			mkTar(t, symlink("link", "../outside")), mkTar(t, file("link/.wh..wh..opq", "")),
		},
		"hard link out": {mkTar(t, hardlink("h", "../outside/secret"))},
		"whiteout root": {mkTar(t, file(".wh..", ""))},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSandbox(t)
			var err error
			for _, l := range layers {
				if _, err = ReadLayer(bytes.NewReader(l), s.dir, ExtractOptions{}); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrUnsafePath) {
				t.Errorf("got %v, want ErrUnsafePath", err)
			}
			s.checkOutside(t)
		})
	}
}

// FuzzReadLayer applies two arbitrary layers: never a panic or a hang,
// and nothing outside the target.
func FuzzReadLayer(f *testing.F) {
	f.Add(mkTar(f, dir("a"), file("a/b", "1")), mkTar(f, file("a/.wh.b", ""), file("a/.wh..wh..opq", "")))
	f.Add(mkTar(f, symlink("l", "..")), mkTar(f, file("l/.wh.x", "")))
	f.Fuzz(func(t *testing.T, l1, l2 []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "dir")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		tm := time.AfterFunc(20*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("ReadLayer hung\n%s", buf[:n]))
		})
		defer tm.Stop()
		for _, l := range [][]byte{l1, l2} {
			if _, err := ReadLayer(bytes.NewReader(l), dir, ExtractOptions{}); err != nil {
				break
			}
		}
		es, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Name() != "dir" {
			t.Fatalf("parent holds %d entries after extraction", len(es))
		}
	})
}
