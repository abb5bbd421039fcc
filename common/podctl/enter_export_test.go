package podctl

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

var errExecStub = errors.New("exec stub")

// stubExec replaces execve for one test and returns what it was called
// with.
func stubExec(t *testing.T) *[]string {
	var got []string
	old := execve
	execve = func(path string, argv, env []string) error {
		wd, _ := os.Getwd()
		got = append([]string{path, "cwd=" + wd}, argv...)
		return errExecStub
	}
	t.Cleanup(func() { execve = old })
	t.Chdir(t.TempDir()) // enter changes directory; restore it after
	return &got
}

func TestEnter(t *testing.T) {
	f := newFixture(t)
	got := stubExec(t)
	p := f.makePod(podSpec{}, pod.Run, true)
	write(t, p.Path(stage1abi.PIDFile), fmt.Sprint(os.Getpid()), 0o644)
	code, _, errOut := f.run(EnterCommand(), p.UUID)
	if code != 254 || !strings.Contains(errOut, errExecStub.Error()) {
		t.Fatalf("enter: %d %s", code, errOut)
	}
	contains(t, "stderr", errOut, `no command specified, assuming "/bin/sh"`)
	ep := p.Path(filepath.Join(stage1abi.Stage1RootfsRel, "enter.sh"))
	want := []string{ep, "cwd=" + p.Dir(), ep, fmt.Sprintf("--pid=%d", os.Getpid()), "--appname=app", "--", "/bin/sh"}
	if strings.Join(*got, " ") != strings.Join(want, " ") {
		t.Errorf("exec %q, want %q", *got, want)
	}
	// Everything after the UUID is the command, flags included.
	*got = nil
	f.run(EnterCommand(), "--app=app", p.UUID, "ls", "-l", "--all")
	if g := strings.Join(*got, " "); !strings.HasSuffix(g, "--appname=app -- ls -l --all") {
		t.Errorf("exec %q", g)
	}
}

func TestEnterErrors(t *testing.T) {
	f := newFixture(t)
	got := stubExec(t)
	multi := f.makePod(podSpec{apps: []string{"web", "db"}}, pod.Run, true)
	exited := f.makePod(podSpec{}, pod.Run, false)
	code, _, errOut := f.run(EnterCommand(), multi.UUID)
	if code != 254 {
		t.Errorf("enter on a multi-app pod exited %d", code)
	}
	contains(t, "stderr", errOut, "Pod contains multiple apps:\n\tweb\n\tdb\n", `specify app using "rkt enter --app= ..."`)
	_, _, errOut = f.run(EnterCommand(), "--app=nope", multi.UUID)
	contains(t, "stderr", errOut, `app "nope" not found`)
	_, _, errOut = f.run(EnterCommand(), exited.UUID)
	contains(t, "stderr", errOut, fmt.Sprintf("pod %q isn't currently running", exited.UUID))
	if *got != nil {
		t.Errorf("exec'd %q", *got)
	}
}

func TestEnterWaitsForPID(t *testing.T) {
	f := newFixture(t)
	got := stubExec(t)
	p := f.makePod(podSpec{}, pod.Run, true)
	go func() {
		time.Sleep(300 * time.Millisecond)
		write(t, p.Path(stage1abi.PIDFile), "4242", 0o644)
	}()
	start := time.Now()
	f.run(EnterCommand(), p.UUID, "true")
	if time.Since(start) < 250*time.Millisecond || !strings.Contains(strings.Join(*got, " "), "--pid=4242") {
		t.Errorf("enter did not wait for the pid: %q after %s", *got, time.Since(start))
	}

	// A pod that stops while enter waits.
	q := f.makePod(podSpec{}, pod.Run, false)
	release := f.lock(q)
	go func() {
		time.Sleep(300 * time.Millisecond)
		release()
	}()
	code, _, errOut := f.run(EnterCommand(), q.UUID, "true")
	if code != 254 || !strings.Contains(errOut, "is not running anymore") {
		t.Errorf("enter on a pod that stopped: %d %s", code, errOut)
	}
}

// readACI returns the entries of a gzip ACI: name -> header, and the
// content of regular files.
func readACI(t *testing.T, path string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	gz, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	hdrs, files := map[string]*tar.Header{}, map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
	return hdrs, files
}

func TestExportCopiedRootfs(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.Run, false)
	rootfs := p.Path(stage1abi.AppRootfsRel("app"))
	write(t, filepath.Join(rootfs, "data", "new"), "written by the app", 0o600)
	os.Symlink("../etc/app", filepath.Join(rootfs, "data", "link"))
	os.Link(filepath.Join(rootfs, "data", "new"), filepath.Join(rootfs, "data", "xhard"))
	os.Lchown(filepath.Join(rootfs, "data", "new"), 100005, 100006)
	write(t, p.Path(PrivateUsersFile), "100000:65536", 0o644)
	out := filepath.Join(f.dir, "out.aci")

	if code, _, errOut := f.run(ExportCommand(), p.UUID, filepath.Join(f.dir, "out.tar")); code != 254 || !strings.Contains(errOut, "extension must be .aci") {
		t.Errorf("export to .tar: %d %s", code, errOut)
	}
	code, stdout, errOut := f.run(ExportCommand(), p.UUID, out)
	if code != 0 || stdout != "" {
		t.Fatalf("export: %d %q %s", code, stdout, errOut)
	}
	hdrs, files := readACI(t, out)
	var m map[string]any
	if err := json.Unmarshal([]byte(files["manifest"]), &m); err != nil {
		t.Fatal(err)
	}
	if m["name"] != "example.com/app" || m["dependencies"] != nil {
		t.Errorf("manifest %s", files["manifest"])
	}
	if files["rootfs/etc/app"] != "app\n" || files["rootfs/data/new"] != "written by the app" {
		t.Errorf("files %q", files)
	}
	if h := hdrs["rootfs/data/link"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "../etc/app" {
		t.Errorf("symlink %+v", h)
	}
	if h := hdrs["rootfs/data/new"]; h == nil || h.Mode != 0o600 || h.Uid != 5 || h.Gid != 6 {
		t.Errorf("new file %+v", h)
	}
	if h := hdrs["rootfs/data/xhard"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "rootfs/data/new" {
		t.Errorf("hard link %+v", h)
	}
	if _, ok := hdrs["rootfs/"]; !ok {
		t.Error("no rootfs/ entry")
	}

	if code, _, errOut := f.run(ExportCommand(), p.UUID, out); code != 254 || !strings.Contains(errOut, "target file exists (try --overwrite)") {
		t.Errorf("export over a file: %d %s", code, errOut)
	}
	if code, _, errOut := f.run(ExportCommand(), "--overwrite", p.UUID, out); code != 0 {
		t.Errorf("export --overwrite: %d %s", code, errOut)
	}
	// Exited garbage pods export too; running ones do not.
	if err := p.MoveTo(pod.ExitedGarbage); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := f.run(ExportCommand(), "--overwrite", p.UUID, out); code != 0 {
		t.Errorf("export of an exited garbage pod: %d %s", code, errOut)
	}
	running := f.makePod(podSpec{}, pod.Run, true)
	if code, _, errOut := f.run(ExportCommand(), running.UUID, filepath.Join(f.dir, "r.aci")); code != 254 || !strings.Contains(errOut, "is not exited") {
		t.Errorf("export of a running pod: %d %s", code, errOut)
	}
	multi := f.makePod(podSpec{apps: []string{"web", "db"}}, pod.Run, false)
	if code, _, errOut := f.run(ExportCommand(), multi.UUID, filepath.Join(f.dir, "m.aci")); code != 254 || !strings.Contains(errOut, `specify app using "rkt export --app= ..."`) {
		t.Errorf("export of a multi-app pod: %d %s", code, errOut)
	}
	if code, _, errOut := f.run(ExportCommand(), "--app=db", multi.UUID, filepath.Join(f.dir, "m.aci")); code != 0 {
		t.Errorf("export --app: %d %s", code, errOut)
	}
	if _, files := readACI(t, filepath.Join(f.dir, "m.aci")); files["rootfs/etc/app"] != "db\n" {
		t.Errorf("exported the wrong app: %q", files["rootfs/etc/app"])
	}
}

func TestExportOverlay(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.Run, false)
	// The app's rootfs is an overlay of a tree store entry and the pod's
	// upper dir; stage0 mounted it in a namespace that is gone now.
	treeID := "deps-sha512-" + strings.Repeat("ab", 32)
	tree := filepath.Join(f.root.Trees(), treeID, "rootfs")
	write(t, filepath.Join(tree, "etc", "from-image"), "image", 0o644)
	write(t, filepath.Join(tree, "etc", "changed"), "image", 0o644)
	write(t, filepath.Join(tree, "etc", "deleted"), "image", 0o644)
	upper := p.Path(filepath.Join(stage1abi.OverlayDir, "app", "upper"))
	write(t, filepath.Join(upper, "etc", "changed"), "app", 0o644)
	write(t, filepath.Join(upper, "var", "new"), "app", 0o644)
	if err := unix.Mknod(filepath.Join(upper, "etc", "deleted"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(p.Path(filepath.Join(stage1abi.OverlayDir, "app", "work")), 0o755)
	write(t, p.Path(filepath.Join(stage1abi.AppsInfoDir, "app", stage1abi.AppTreeIDFile)), treeID, 0o640)
	write(t, p.Path(stage1abi.OverlayPrepared), "", 0o640)
	os.RemoveAll(p.Path(stage1abi.AppRootfsRel("app"))) // only a mount point in overlay pods
	os.MkdirAll(p.Path(stage1abi.AppRootfsRel("app")), 0o755)

	out := filepath.Join(f.dir, "overlay.aci")
	if code, _, errOut := f.run(ExportCommand(), p.UUID, out); code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	_, files := readACI(t, out)
	if files["rootfs/etc/from-image"] != "image" || files["rootfs/etc/changed"] != "app" || files["rootfs/var/new"] != "app" {
		t.Errorf("exported files %q", files)
	}
	if _, ok := files["rootfs/etc/deleted"]; ok {
		t.Error("a file the app deleted was exported")
	}
	if m, _ := mount.MountsUnder(f.dir); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	if ents, _ := os.ReadDir(f.root.Tmp()); len(ents) != 0 {
		t.Errorf("left in $dir/tmp: %v", ents)
	}
	// The tree store entry is untouched.
	if b, _ := os.ReadFile(filepath.Join(tree, "etc", "deleted")); string(b) != "image" {
		t.Error("tree store entry changed")
	}
}

func TestExportRefusesMountedRootfs(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.Run, false)
	proc := p.Path(filepath.Join(stage1abi.AppRootfsRel("app"), "proc"))
	os.MkdirAll(proc, 0o755)
	if err := unix.Mount("tmpfs", proc, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(proc, unix.MNT_DETACH)
	code, _, errOut := f.run(ExportCommand(), p.UUID, filepath.Join(f.dir, "x.aci"))
	if code != 254 || !strings.Contains(errOut, "is still mounted") {
		t.Errorf("export of a mounted rootfs: %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "x.aci")); err == nil {
		t.Error("output written")
	}
}
