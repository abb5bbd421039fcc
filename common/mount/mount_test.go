package mount

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const sample = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:40 / /var/lib/rkt/pods/run/a rw shared:7 - tmpfs tmpfs rw
41 40 0:41 / /var/lib/rkt/pods/run/a/stage1/rootfs rw - overlay overlay rw,lowerdir=/x
42 41 0:42 / /var/lib/rkt/pods/run/a/stage1/rootfs/opt/stage2/my\040app/rootfs rw - overlay overlay rw
43 40 0:43 / /var/lib/rkt/pods/run/a/stage1/rootfs rw master:2 - tmpfs tmpfs rw
44 27 0:44 / /var/lib/rkt/pods/run/ab rw - tmpfs tmpfs rw
`

func TestParseAndUnder(t *testing.T) {
	tab, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab) != 7 {
		t.Fatalf("parsed %d mounts, want 7", len(tab))
	}
	if m := tab[4]; m.MountPoint != "/var/lib/rkt/pods/run/a/stage1/rootfs/opt/stage2/my app/rootfs" || m.FSType != "overlay" || m.Parent != 41 {
		t.Errorf("unescaped mount: %+v", m)
	}
	if tab[3].SuperOptions != "rw,lowerdir=/x" || tab[1].SuperOptions != "rw" {
		t.Errorf("super options: %q, %q", tab[3].SuperOptions, tab[1].SuperOptions)
	}
	if !tab[2].Shared() || tab[5].Shared() {
		t.Errorf("shared: %v %v", tab[2].Shared(), tab[5].Shared())
	}
	var got []int
	for _, m := range tab.Under("/var/lib/rkt/pods/run/a/") {
		got = append(got, m.ID)
	}
	// Deepest first; of the two mounts stacked on stage1/rootfs the later
	// one first; the sibling "ab" is not under "a".
	if want := []int{42, 43, 41, 40}; !reflect.DeepEqual(got, want) {
		t.Errorf("Under order %v, want %v", got, want)
	}
	if n := len(tab.Under("/nowhere")); n != 0 {
		t.Errorf("Under(/nowhere) = %d mounts", n)
	}
}

func TestParseMalformed(t *testing.T) {
	if _, err := Parse(strings.NewReader("garbage line\n")); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:    "/a b",
		`/tab\011x`:  "/tab\tx",
		`/back\134s`: `/back\s`,
		`/plain`:     "/plain",
		`/short\04`:  `/short\04`,
		`/notoct\09`: `/notoct\09`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeOpt(t *testing.T) {
	for in, want := range map[string]string{
		`/a:b,c\d`:    `/a\:b\,c\\d`,
		`/plain/path`: `/plain/path`,
		``:            ``,
		`,:\`:         `\,\:\\`,
	} {
		if got := escapeOpt(in); got != want {
			t.Errorf("escapeOpt(%q) = %q, want %q", in, got, want)
		}
	}
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// readThreadMounts reads the mount table of the calling thread.
func readThreadMounts(t *testing.T) Table {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestOverlayInPrivateNamespace(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	lower, upper, target := filepath.Join(dir, "lower"), filepath.Join(dir, "up:per"), filepath.Join(dir, "target")
	for _, d := range []string{lower, upper, target} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(lower, "a"), []byte("lower"), 0o644)
	os.WriteFile(filepath.Join(lower, "b"), []byte("lower"), 0o644)
	os.WriteFile(filepath.Join(upper, "b"), []byte("upper"), 0o644)
	err := InPrivateNamespace(func() error {
		if err := MountOverlay([]string{upper, lower}, "", "", target, true); err != nil {
			return err
		}
		if n := len(readThreadMounts(t).Under(target)); n != 1 {
			t.Errorf("%d mounts on target inside the namespace, want 1", n)
		}
		a, _ := os.ReadFile(filepath.Join(target, "a"))
		b, _ := os.ReadFile(filepath.Join(target, "b"))
		if string(a) != "lower" || string(b) != "upper" {
			t.Errorf("overlay content a=%q b=%q", a, b)
		}
		if err := os.WriteFile(filepath.Join(target, "c"), nil, 0o644); err == nil {
			t.Error("read-only overlay is writable")
		}
		return Unmount(target, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := MountsUnder(dir); len(m) != 0 {
		t.Errorf("mounts leaked to the host: %v", m)
	}
}

func TestPrivateNamespaceDropsMounts(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	err := InPrivateNamespace(func() error {
		return unix.Mount("tmpfs", dir, "tmpfs", 0, "")
		// not unmounted: the namespace dies with the thread
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := MountsUnder(dir); len(m) != 0 {
		t.Errorf("mounts leaked to the host: %v", m)
	}
}

func TestUnmountAll(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	pod := filepath.Join(dir, "pod")
	inner := filepath.Join(pod, "stage1", "rootfs")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", pod, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(pod, unix.MNT_DETACH) })
	// A shared mount with a busy child, as a foreign stage1 might leave.
	if err := unix.Mount("", pod, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(inner, 0o755)
	if err := unix.Mount("tmpfs", inner, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(inner, "busy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m, _ := MountsUnder(dir); len(m) != 2 {
		t.Fatalf("mounts under %s: %v, want 2", dir, m)
	}
	if err := UnmountAll(pod); err != nil {
		t.Fatal(err)
	}
	if m, _ := MountsUnder(dir); len(m) != 0 {
		t.Errorf("left mounted: %v", m)
	}
	// Unmounting what is not mounted is fine.
	if err := Unmount(pod, false); err != nil {
		t.Errorf("Unmount of a plain dir: %v", err)
	}
}
