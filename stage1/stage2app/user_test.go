package stage2app

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (name → content) under root; a content
// starting with "->" makes a symlink to the rest.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else if strings.HasSuffix(name, "/") {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolveCredentials(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/passwd": "# comment\nroot:x:0:0:root:/root:/bin/sh\n+nis\nfixture:x:1000:1001:f:/home/fixture:/bin/sh\n" +
			"docker:x:2000:2001::/:/bin/sh\nbroken:x:notanumber:1\n",
		"etc/group": "root:x:0:\nfixture:x:1001:\nstaff:x:50:fixture,root\n",
		"owned":     "x",
		// A symlink leading out of the rootfs resolves inside it.
		"escape": "->/../../../../../../../../etc",
	})
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(root, "owned"), 4242, 4343); err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range []struct {
		user, group string
		sup         []int
		want        Credentials
	}{
		{"0", "0", nil, Credentials{0, 0, []uint32{}}},
		{"1000", "50", []int{1, 2}, Credentials{1000, 50, []uint32{1, 2}}},
		{"fixture", "fixture", nil, Credentials{1000, 1001, []uint32{}}},
		{"fixture", "staff", nil, Credentials{1000, 50, []uint32{}}},
		{"root", "root", nil, Credentials{0, 0, []uint32{}}},
		// Docker-converted image: group named like the user, not in /etc/group.
		{"docker", "docker", nil, Credentials{2000, 2001, []uint32{}}},
		{"", "", nil, Credentials{0, 0, []uint32{}}},
		// escape -> /etc inside the rootfs: the rootfs's /etc/passwd.
		{"/escape/passwd", "/escape/group", nil, Credentials{0, 0, []uint32{}}},
	} {
		got, err := ResolveCredentials(root, c.user, c.group, c.sup)
		if err != nil {
			t.Errorf("%s:%s: %v", c.user, c.group, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s:%s = %+v, want %+v", c.user, c.group, *got, c.want)
		}
	}
	if os.Geteuid() == 0 {
		got, err := ResolveCredentials(root, "/owned", "/owned", nil)
		if err != nil || got.UID != 4242 || got.GID != 4343 {
			t.Errorf("path form: %+v %v", got, err)
		}
	}

	for _, c := range []struct{ user, group, msg string }{
		{"nobody", "0", `invalid user "nobody": not found in the image's /etc/passwd`},
		{"broken", "0", `invalid user "broken"`},
		{"0", "nogroup", `invalid group "nogroup": not found in the image's /etc/group`},
		{"fixture", "nogroup", `invalid group "nogroup"`},
		{"/missing", "0", `invalid user "/missing"`},
		{"0", "/missing", `invalid group "/missing"`},
		{"-1", "0", `invalid user "-1"`},
	} {
		_, err := ResolveCredentials(root, c.user, c.group, nil)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s:%s: error %v, want %q", c.user, c.group, err, c.msg)
		}
	}
	if _, err := ResolveCredentials(root, "0", "0", []int{-5}); err == nil {
		t.Error("negative supplementary GID accepted")
	}

	// An image without /etc/passwd says so.
	empty := t.TempDir()
	_, err := ResolveCredentials(empty, "someone", "0", nil)
	if err == nil || !errors.Is(err, errNotFound) || !strings.Contains(err.Error(), "the image has no /etc/passwd") {
		t.Errorf("no passwd: %v", err)
	}
}
