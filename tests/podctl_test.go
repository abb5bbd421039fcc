package tests

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/tests/harness"
)

// The privileged pod commands (gc, rm, stop, enter, export) on pod
// directories made by hand: a pod made with pod.Create, a fake stage1
// whose entrypoints are shell scripts that log their argv and working
// directory, and a "running" pod whose lock is held by flock(1).

// pcEnv is one test's data dir and the log of the fake stage1.
type pcEnv struct {
	*harness.Env
	t    *testing.T
	root dirs.Root
	log  string
}

func pcSetup(t *testing.T) *pcEnv {
	t.Helper()
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	root, err := dirs.New(e.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Ensure(); err != nil {
		t.Fatal(err)
	}
	return &pcEnv{Env: e, t: t, root: root, log: filepath.Join(e.Root, "stage1.log")}
}

func pcWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// pcPodSpec describes a hand-made pod. gc, stop, enter are the exit
// codes of the fake entrypoints.
type pcPodSpec struct {
	apps          []string
	gc, stop, ent int
}

// makePod creates a pod in place (prepare, prepared, run, ...), with a
// non-overlay layout: stage1 and app trees copied into the pod.
func (e *pcEnv) makePod(place pod.Place, s pcPodSpec) *pod.Pod {
	t := e.t
	t.Helper()
	p, err := pod.Create(e.root)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if s.apps == nil {
		s.apps = []string{"app"}
	}
	var apps []string
	for i, a := range s.apps {
		apps = append(apps, fmt.Sprintf(`{"name":%q,"image":{"name":"example.com/%s","id":"sha512-%s"}}`, a, a, strings.Repeat(fmt.Sprint(i+1), 128)))
		pcWrite(t, p.Path("appsinfo/"+a+"/manifest"),
			fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/%s","labels":[{"name":"version","value":"1"}]}`, a), 0o640)
		pcWrite(t, p.Path("stage1/rootfs/opt/stage2/"+a+"/rootfs/etc/name"), a+"\n", 0o644)
	}
	pcWrite(t, p.Path("pod"), `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[`+strings.Join(apps, ",")+`]}`, 0o640)
	var ann []string
	for _, ep := range []struct {
		name string
		code int
	}{{"gc", s.gc}, {"stop", s.stop}, {"enter", s.ent}} {
		ann = append(ann, fmt.Sprintf(`{"name":"coreos.com/rkt/stage1/%s","value":"/ep/%s"}`, ep.name, ep.name))
		pcWrite(t, p.Path("stage1/rootfs/ep/"+ep.name),
			fmt.Sprintf("#!/bin/sh\necho \"%s $* cwd=$(pwd)\" >> %s\nexit %d\n", ep.name, e.log, ep.code), 0o755)
	}
	ann = append(ann, `{"name":"coreos.com/rkt/stage1/interface-version","value":"5"}`)
	pcWrite(t, p.Path("stage1/manifest"), `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/fake-stage1","annotations":[`+strings.Join(ann, ",")+`]}`, 0o640)
	if place != pod.Prepare {
		if err := p.MoveTo(place); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// hold locks the pod directory from a flock(1) process, as a stage1 (or
// a preparer) does, and returns the pid of the process holding it. The
// process group is killed when the test ends.
func (e *pcEnv) hold(p *pod.Pod, mode string) (pid int, release func()) {
	t := e.t
	t.Helper()
	cmd := exec.Command("flock", mode, p.Dir(), "sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		// flock(1) is reaped, but its child sleep may still be dying with
		// the lock: wait until the lock can be had.
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
			l, err := flock.OpenDir(p.Dir())
			if err != nil {
				return
			}
			err = l.TryExclusive()
			l.Close()
			if err == nil {
				return
			}
		}
	}
	t.Cleanup(release)
	// Held once an exclusive lock of our own cannot be had.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		l, err := flock.OpenDir(p.Dir())
		if err != nil {
			t.Fatal(err)
		}
		err = l.TryExclusive()
		l.Close()
		if err != nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("flock did not lock the pod")
		}
	}
	return cmd.Process.Pid, release
}

func (e *pcEnv) logLines() []string {
	b, err := os.ReadFile(e.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// place returns the directory under pods/ holding the pod, "" if none.
func (e *pcEnv) place(p *pod.Pod) string {
	for _, pl := range pod.Places {
		if _, err := os.Lstat(filepath.Join(e.root.PodsIn(pl.Dir()), p.UUID)); err == nil {
			return pl.Dir()
		}
	}
	return ""
}

func (e *pcEnv) wantPlace(p *pod.Pod, want string) {
	e.t.Helper()
	if got := e.place(p); got != want {
		e.t.Errorf("pod %s is in %q, want %q", p.UUID, got, want)
	}
}

func pcContains(t *testing.T, r *harness.Result, stream string, subs ...string) {
	t.Helper()
	s := r.Stderr
	if stream == "stdout" {
		s = r.Stdout
	}
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q: %s", stream, sub, r)
		}
	}
}

func TestPodctlGC(t *testing.T) {
	e := pcSetup(t)
	exited := e.makePod(pod.Run, pcPodSpec{})
	running := e.makePod(pod.Run, pcPodSpec{})
	e.hold(running, "-x")
	aborted := e.makePod(pod.Prepare, pcPodSpec{})
	prepared := e.makePod(pod.Prepared, pcPodSpec{})

	// Default grace period: exited pods are marked, not removed.
	r := e.Rkt("gc").OK(t)
	pcContains(t, r, "stderr",
		fmt.Sprintf("moving pod %q to garbage", exited.UUID),
		fmt.Sprintf("moving failed prepare %q to garbage", aborted.UUID),
		fmt.Sprintf("pod %q not removed: still within grace period (30m0s)", exited.UUID))
	pcContains(t, r, "stdout", fmt.Sprintf("Garbage collecting pod %q", aborted.UUID))
	e.wantPlace(exited, "exited-garbage")
	e.wantPlace(aborted, "")
	e.wantPlace(running, "run")
	e.wantPlace(prepared, "prepared")
	if l := e.logLines(); l != nil {
		t.Errorf("stage1 gc ran within the grace period: %q", l)
	}

	// --mark-only never removes; --expire-prepared=0s expires at once.
	e.Rkt("gc", "--mark-only", "--grace-period=0s", "--expire-prepared=0s").OK(t)
	e.wantPlace(exited, "exited-garbage")
	e.wantPlace(prepared, "garbage")

	r = e.Rkt("gc", "--grace-period=0s").OK(t)
	pcContains(t, r, "stdout",
		fmt.Sprintf("Garbage collecting pod %q", exited.UUID),
		fmt.Sprintf("Garbage collecting pod %q", prepared.UUID))
	e.wantPlace(exited, "")
	e.wantPlace(prepared, "")
	e.wantPlace(running, "run")
	want := fmt.Sprintf("gc --local-config=%s %s cwd=%s", e.LocalConfig, exited.UUID, filepath.Join(e.root.PodsIn("exited-garbage"), exited.UUID))
	if l := e.logLines(); len(l) != 1 || l[0] != want {
		t.Errorf("stage1 gc log %q, want [%q]", l, want)
	}
}

func TestPodctlGCSkipsHeldLocks(t *testing.T) {
	e := pcSetup(t)
	p := e.makePod(pod.ExitedGarbage, pcPodSpec{})
	_, release := e.hold(p, "-s") // a long reader, e.g. an export
	start := time.Now()
	r := e.Rkt("gc", "--grace-period=0s").OK(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gc took %s behind a held lock", d)
	}
	pcContains(t, r, "stderr", fmt.Sprintf("pod %q not removed: locked by another process", p.UUID))
	e.wantPlace(p, "exited-garbage")
	release()
	e.Rkt("gc", "--grace-period=0s").OK(t)
	e.wantPlace(p, "")
}

func TestPodctlGCStage1Gone(t *testing.T) {
	e := pcSetup(t)
	failing := e.makePod(pod.Run, pcPodSpec{gc: 1})
	gone := e.makePod(pod.Run, pcPodSpec{})
	if err := os.RemoveAll(gone.Path("stage1/rootfs")); err != nil {
		t.Fatal(err)
	}
	r := e.Rkt("gc", "--grace-period=0s").OK(t)
	pcContains(t, r, "stderr",
		fmt.Sprintf("pod %q: stage1 gc failed", failing.UUID),
		fmt.Sprintf("pod %q: stage1 tree is gone", gone.UUID))
	e.wantPlace(failing, "exited-garbage") // kept for the next gc
	e.wantPlace(gone, "")
}

func TestPodctlRm(t *testing.T) {
	e := pcSetup(t)
	running := e.makePod(pod.Run, pcPodSpec{})
	e.hold(running, "-x")
	preparing := e.makePod(pod.Prepare, pcPodSpec{})
	e.hold(preparing, "-x")
	deleting := e.makePod(pod.ExitedGarbage, pcPodSpec{})
	e.hold(deleting, "-x")
	aborted := e.makePod(pod.Prepare, pcPodSpec{})
	prepared := e.makePod(pod.Prepared, pcPodSpec{})
	exited := e.makePod(pod.Run, pcPodSpec{})
	r := e.Rkt("rm", running.UUID, preparing.UUID, deleting.UUID, aborted.UUID, prepared.UUID, exited.UUID[:13])
	r.Fails(t, 254,
		fmt.Sprintf("pod %q is currently running", running.UUID),
		fmt.Sprintf("pod %q is currently being prepared", preparing.UUID),
		fmt.Sprintf("pod %q is currently being deleted", deleting.UUID),
		"failed to remove one or more pods")
	want := fmt.Sprintf("%q\n%q\n%q\n", aborted.UUID, prepared.UUID, exited.UUID)
	if r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	for _, p := range []*pod.Pod{aborted, prepared, exited} {
		e.wantPlace(p, "")
	}
	e.wantPlace(running, "run")
	e.wantPlace(preparing, "prepare")
	e.wantPlace(deleting, "exited-garbage")
	// Only the pod that ran had its stage1 gc run.
	if l := e.logLines(); len(l) != 1 || !strings.HasPrefix(l[0], "gc --local-config="+e.LocalConfig+" "+exited.UUID+" ") {
		t.Errorf("stage1 gc log %q", l)
	}

	other := e.makePod(pod.Run, pcPodSpec{})
	uf := filepath.Join(e.Root, "uuid")
	pcWrite(t, uf, other.UUID+"\n", 0o644)
	r = e.Rkt("rm", "--uuid-file="+uf).OK(t)
	if r.Stdout != fmt.Sprintf("%q\n", other.UUID) {
		t.Errorf("rm --uuid-file: %s", r)
	}
	e.Rkt("rm", "00000000-0000-4000-8000-000000000000").Fails(t, 254, "no matches found", "failed to remove one or more pods")
	e.Rkt("rm").Fails(t, 254)
}

func TestPodctlStop(t *testing.T) {
	e := pcSetup(t)
	a := e.makePod(pod.Run, pcPodSpec{})
	e.hold(a, "-x")
	b := e.makePod(pod.Run, pcPodSpec{})
	e.hold(b, "-x")
	exited := e.makePod(pod.Run, pcPodSpec{})
	prepared := e.makePod(pod.Prepared, pcPodSpec{})

	r := e.Rkt("stop", a.UUID, exited.UUID).OK(t)
	if want := fmt.Sprintf("%q\npod %q is already stopped\n", a.UUID, exited.UUID); r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	r = e.Rkt("stop", "--force", b.UUID).OK(t)
	if r.Stdout != fmt.Sprintf("%q\n", b.UUID) {
		t.Errorf("stop --force: %s", r)
	}
	want := []string{
		fmt.Sprintf("stop %s cwd=%s", a.UUID, a.Dir()),
		fmt.Sprintf("stop --force %s cwd=%s", b.UUID, b.Dir()),
	}
	if l := e.logLines(); strings.Join(l, "\n") != strings.Join(want, "\n") {
		t.Errorf("stage1 stop log %q, want %q", l, want)
	}
	e.Rkt("stop", prepared.UUID).Fails(t, 254, "is not running", "failed to stop 1 pod(s)")
	e.Rkt("stop", "--uuid-file="+filepath.Join(e.Root, "missing")).Fails(t, 1)
}

func TestPodctlEnter(t *testing.T) {
	e := pcSetup(t)
	p := e.makePod(pod.Run, pcPodSpec{ent: 7})
	pid, _ := e.hold(p, "-x")
	pcWrite(t, p.Path("pid"), fmt.Sprint(pid), 0o644)

	// enter is replaced by the entrypoint: its exit status is enter's.
	r := e.Rkt("enter", p.UUID)
	r.Fails(t, 7, `no command specified, assuming "/bin/sh"`)
	r = e.Rkt("enter", "--app=app", p.UUID, "ls", "-l", "--all")
	if r.Code != 7 {
		t.Errorf("enter: %s", r)
	}
	want := []string{
		fmt.Sprintf("enter --pid=%d --appname=app -- /bin/sh cwd=%s", pid, p.Dir()),
		fmt.Sprintf("enter --pid=%d --appname=app -- ls -l --all cwd=%s", pid, p.Dir()),
	}
	if l := e.logLines(); strings.Join(l, "\n") != strings.Join(want, "\n") {
		t.Errorf("stage1 enter log %q, want %q", l, want)
	}

	multi := e.makePod(pod.Run, pcPodSpec{apps: []string{"web", "db"}})
	e.hold(multi, "-x")
	e.Rkt("enter", multi.UUID).Fails(t, 254, "web", "db", `specify app using "rkt enter --app= ..."`)
	e.Rkt("enter", "--app=nope", multi.UUID).Fails(t, 254, `app "nope" not found`)
	exited := e.makePod(pod.Run, pcPodSpec{})
	e.Rkt("enter", exited.UUID).Fails(t, 254, "isn't currently running")
}

// pcReadACI returns the regular files of a gzip ACI, and whether a path
// is there at all.
func pcReadACI(t *testing.T, path string) (map[string]string, map[string]bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files, seen := map[string]string{}, map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, seen
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.TrimSuffix(h.Name, "/")] = true
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
}

func TestPodctlExport(t *testing.T) {
	e := pcSetup(t)
	p := e.makePod(pod.Run, pcPodSpec{})
	pcWrite(t, p.Path("stage1/rootfs/opt/stage2/app/rootfs/var/log/app.log"), "ran\n", 0o644)
	out := filepath.Join(e.Root, "out.aci")
	e.Rkt("export", p.UUID, filepath.Join(e.Root, "out.tgz")).Fails(t, 254, "extension must be .aci")
	r := e.Rkt("export", p.UUID, out).OK(t)
	if r.Stdout != "" {
		t.Errorf("stdout %q", r.Stdout)
	}
	files, _ := pcReadACI(t, out)
	if !strings.Contains(files["manifest"], `"name":"example.com/app"`) || files["rootfs/etc/name"] != "app\n" || files["rootfs/var/log/app.log"] != "ran\n" {
		t.Errorf("exported %q", files)
	}
	e.Rkt("export", p.UUID, out).Fails(t, 254, "target file exists (try --overwrite)")
	e.Rkt("export", "--overwrite", p.UUID, out).OK(t)

	running := e.makePod(pod.Run, pcPodSpec{})
	e.hold(running, "-x")
	e.Rkt("export", running.UUID, filepath.Join(e.Root, "r.aci")).Fails(t, 254, "is not exited")
	multi := e.makePod(pod.Run, pcPodSpec{apps: []string{"web", "db"}})
	e.Rkt("export", multi.UUID, filepath.Join(e.Root, "m.aci")).Fails(t, 254, `specify app using "rkt export --app= ..."`)
	e.Rkt("export", "--app=db", multi.UUID, filepath.Join(e.Root, "m.aci")).OK(t)
}

// An overlay pod: the app's rootfs is the image's tree in the tree store
// under the pod's upper dir; export mounts them (privately) and reads the
// merged tree.
func TestPodctlExportOverlay(t *testing.T) {
	e := pcSetup(t)
	p := e.makePod(pod.Run, pcPodSpec{})
	treeID := "deps-sha512-" + strings.Repeat("cd", 32)
	tree := filepath.Join(e.root.Trees(), treeID, "rootfs")
	pcWrite(t, filepath.Join(tree, "etc", "image-file"), "image\n", 0o644)
	pcWrite(t, filepath.Join(tree, "etc", "removed"), "image\n", 0o644)
	pcWrite(t, filepath.Join(tree, "etc", "name"), "image\n", 0o644)
	upper := p.Path("overlay/app/upper")
	pcWrite(t, filepath.Join(upper, "etc", "name"), "changed by the app\n", 0o644)
	pcWrite(t, filepath.Join(upper, "data", "upper-file"), "upper\n", 0o644)
	if err := syscall.Mknod(filepath.Join(upper, "etc", "removed"), syscall.S_IFCHR, 0); err != nil {
		t.Fatal(err) // an overlayfs whiteout: the app deleted the file
	}
	os.MkdirAll(p.Path("overlay/app/work"), 0o755)
	pcWrite(t, p.Path("appsinfo/app/treeStoreID"), treeID, 0o640)
	pcWrite(t, p.Path("overlay-prepared"), "", 0o640)
	os.RemoveAll(p.Path("stage1/rootfs/opt/stage2/app/rootfs"))
	os.MkdirAll(p.Path("stage1/rootfs/opt/stage2/app/rootfs"), 0o755)

	out := filepath.Join(e.Root, "overlay.aci")
	e.Rkt("export", p.UUID, out).OK(t)
	files, seen := pcReadACI(t, out)
	if files["rootfs/data/upper-file"] != "upper\n" || files["rootfs/etc/name"] != "changed by the app\n" || files["rootfs/etc/image-file"] != "image\n" {
		t.Errorf("exported %q", files)
	}
	if seen["rootfs/etc/removed"] {
		t.Error("exported a file the app deleted")
	}
	if ents, _ := os.ReadDir(e.root.Tmp()); len(ents) != 0 {
		t.Errorf("export left %v in $dir/tmp", ents)
	}
	// The pod is still collectable afterwards (nothing mounted, no lock).
	e.Rkt("rm", p.UUID).OK(t)
}

func TestPodctlUnprivileged(t *testing.T) {
	e := pcSetup(t)
	for _, d := range []string{harness.TmpRoot(), e.Root} {
		os.Chmod(d, 0o755)
	}
	p := e.makePod(pod.Run, pcPodSpec{})
	user := harness.RunOpts{UID: 65534, GID: 65534}
	for _, args := range [][]string{
		{"gc"}, {"rm", p.UUID}, {"stop", p.UUID}, {"enter", p.UUID}, {"export", p.UUID, filepath.Join(e.Root, "x.aci")},
	} {
		e.RktOpts(user, args...).Fails(t, 254, "cannot run as unprivileged user")
	}
	e.wantPlace(p, "run")
}
