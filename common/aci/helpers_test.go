package aci

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	// The tests read compressed images.
	_ "github.com/rkt/rkt/common/aci/compression/codecs"
)

const testManifest = `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}`

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// ent is one entry of a crafted tar.
type ent struct {
	name  string
	typ   byte // default TypeReg
	body  string
	link  string
	mode  int64 // default 0644 files, 0755 dirs, 0777 symlinks
	uid   int
	gid   int
	mtime time.Time // default testTime
	pax   map[string]string
	major int64
	minor int64
}

func file(name, body string) ent   { return ent{name: name, body: body} }
func dir(name string) ent          { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, to string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) ent { return ent{name: name, typ: tar.TypeLink, link: to} }
func manifestEnt() ent             { return file("manifest", testManifest) }

// mkTar builds an uncompressed tar; names are used verbatim, hostile ones
// included.
func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{
			Name:       e.name,
			Typeflag:   e.typ,
			Linkname:   e.link,
			Mode:       e.mode,
			Uid:        e.uid,
			Gid:        e.gid,
			ModTime:    e.mtime,
			PAXRecords: e.pax,
			Devmajor:   e.major,
			Devminor:   e.minor,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		if h.Mode == 0 {
			switch h.Typeflag {
			case tar.TypeDir:
				h.Mode = 0o755
			case tar.TypeSymlink:
				h.Mode = 0o777
			default:
				h.Mode = 0o644
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a parent directory holding the extraction target "dir" and,
// optionally, files standing for the host outside it.
type sandbox struct {
	parent, dir, outside string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	parent := t.TempDir()
	s := &sandbox{parent: parent, dir: filepath.Join(parent, "dir"), outside: filepath.Join(parent, "outside")}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkOutside fails the test if anything outside s.dir changed: the parent
// must hold only dir and outside, and outside only the untouched secret.
func (s *sandbox) checkOutside(t testing.TB) {
	t.Helper()
	if got := names(t, s.parent); !equal(got, []string{"dir", "outside"}) {
		t.Errorf("parent holds %v, want [dir outside]", got)
	}
	if got := names(t, s.outside); !equal(got, []string{"secret"}) {
		t.Errorf("outside holds %v, want [secret]", got)
	}
	b, err := os.ReadFile(filepath.Join(s.outside, "secret"))
	if err != nil || string(b) != "secret" {
		t.Errorf("outside/secret = %q, %v", b, err)
	}
	var st os.FileInfo
	if st, err = os.Stat(filepath.Join(s.outside, "secret")); err == nil {
		if n := nlink(st); n != 1 {
			t.Errorf("outside/secret has %d links", n)
		}
	}
}

func names(t testing.TB, d string) []string {
	t.Helper()
	es, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bothResolvers runs f with openat2 and with the component walk used on
// kernels without it.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", f)
	t.Run("walk", func(t *testing.T) {
		noOpenat2.Store(true)
		defer noOpenat2.Store(false)
		f(t)
	})
}

func readBytes(data []byte, dir string, opts ExtractOptions) (*Image, error) {
	return Read(bytes.NewReader(data), dir, opts)
}
