package stage2app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareTarget(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"abs":          "->" + outside,
		"rel":          "->../../../../../../../../../../" + outside,
		"etc/hosts":    "127.0.0.1 localhost\n",
		"dir/":         "",
		"dangling":     "->/nowhere/file",
		"hostfs/sub/":  "",
		"etc/resolved": "->../run/resolv.conf",
	})
	for _, c := range []struct {
		path string
		dir  bool
		want string // relative to root
	}{
		{"/abs/x", true, outside + "/x"},
		{"/rel/y/z", true, outside + "/y/z"},
		{"/etc/hosts", false, "etc/hosts"},
		{"/dir", true, "dir"},
		{"/new/deep/dir", true, "new/deep/dir"},
		{"/new/file", false, "new/file"},
		{"/dangling", false, "nowhere/file"},
		{"/etc/resolved", false, "run/resolv.conf"},
		{"/../../etc/passwd", false, "etc/passwd"},
	} {
		got, err := PrepareTarget(root, c.path, c.dir, nil)
		if err != nil {
			t.Errorf("PrepareTarget(%s): %v", c.path, err)
			continue
		}
		if want := filepath.Join(root, c.want); got != want {
			t.Errorf("PrepareTarget(%s) = %s, want %s", c.path, got, want)
		}
		fi, err := os.Stat(got)
		if err != nil || fi.IsDir() != c.dir {
			t.Errorf("PrepareTarget(%s): target %v %v", c.path, fi, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("created outside the rootfs: %v", ents)
	}

	if _, err := PrepareTarget(root, "/etc/hosts", true, nil); !errors.Is(err, errWrongType) {
		t.Errorf("dir on file: %v", err)
	}
	if _, err := PrepareTarget(root, "/dir", false, nil); !errors.Is(err, errWrongType) {
		t.Errorf("file on dir: %v", err)
	}
	// Nothing is created below a host file system...
	nc := []string{filepath.Join(root, "hostfs")}
	if _, err := PrepareTarget(root, "/hostfs/sub/new", true, nc); err == nil || !strings.Contains(err.Error(), "host file system") {
		t.Errorf("created under a host fs: %v", err)
	}
	// ...but an existing target there is fine.
	if _, err := PrepareTarget(root, "/hostfs/sub", true, nc); err != nil {
		t.Errorf("existing target under host fs: %v", err)
	}
}

func TestLookPath(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"bin/busybox":      "#!",
		"bin/sh":           "->busybox",
		"usr/bin/notexec":  "x",
		"usr/local/bin/ls": "->/bin/busybox",
		"app/run":          "#!",
		"escape":           "->/../../../../bin",
	})
	for _, f := range []string{"bin/busybox", "app/run"} {
		if err := os.Chmod(filepath.Join(root, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ file, path, wd, want string }{
		{"sh", "/usr/bin:/bin", "/", "/bin/sh"},
		{"ls", "", "/", "/usr/local/bin/ls"},
		{"ls", "relative:/bin", "/", ""},
		{"/bin/sh", "", "/", "/bin/sh"},
		{"./run", "", "/app", "/app/run"},
		{"run", "/app", "/", "/app/run"},
		{"/escape/sh", "", "/", "/escape/sh"},
	} {
		got, err := LookPath(root, c.file, c.path, c.wd)
		if c.want == "" {
			if err == nil {
				t.Errorf("LookPath(%q, %q) = %q, want an error", c.file, c.path, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("LookPath(%q, %q) = %q, %v; want %q", c.file, c.path, got, err, c.want)
		}
	}
	for _, c := range []struct{ file, msg string }{
		{"notexec", "not found in PATH"},
		{"/usr/bin/notexec", "not an executable file"},
		{"/nope", "no such file in the image"},
		{"", "empty"},
	} {
		if _, err := LookPath(root, c.file, "/usr/bin", "/"); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("LookPath(%q): %v, want %q", c.file, err, c.msg)
		}
	}
}
