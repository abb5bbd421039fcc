package podctl

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/userns"
)

func TestGCMarkAndSweep(t *testing.T) {
	f := newFixture(t)
	exited := f.makePod(podSpec{}, pod.Run, false)
	running := f.makePod(podSpec{}, pod.Run, true)
	aborted := f.makePod(podSpec{}, pod.Prepare, false)
	preparing := f.makePod(podSpec{}, pod.Prepare, true)
	prepared := f.makePod(podSpec{}, pod.Prepared, false)
	starting := f.makePod(podSpec{}, pod.Prepared, true) // run-prepared holds it

	code, out, errOut := f.run(GCCommand(), "--grace-period=0s")
	if code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	contains(t, "stderr", errOut,
		fmt.Sprintf("moving pod %q to garbage", exited.UUID),
		fmt.Sprintf("moving failed prepare %q to garbage", aborted.UUID))
	contains(t, "stdout", out,
		fmt.Sprintf("Garbage collecting pod %q", exited.UUID),
		fmt.Sprintf("Garbage collecting pod %q", aborted.UUID))
	f.wantPlace(exited, -1)
	f.wantPlace(aborted, -1)
	f.wantPlace(running, pod.Run)
	f.wantPlace(preparing, pod.Prepare)
	// Not expired yet with the default --expire-prepared.
	f.wantPlace(prepared, pod.Prepared)
	f.wantPlace(starting, pod.Prepared)

	// The stage1 gc ran once, for the exited pod only, with the
	// interface-version-5 argv and the pod directory as cwd.
	lines := f.logLines()
	want := fmt.Sprintf("gc --local-config=%s %s cwd=%s", filepath.Join(f.dir, "local"), exited.UUID,
		filepath.Join(f.root.PodsIn("exited-garbage"), exited.UUID))
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("stage1 log %q, want [%q]", lines, want)
	}

	code, _, errOut = f.run(GCCommand(), "--expire-prepared=0s")
	if code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	contains(t, "stderr", errOut, fmt.Sprintf("moving expired prepared pod %q to garbage", prepared.UUID))
	f.wantPlace(prepared, -1)
	f.wantPlace(starting, pod.Prepared)
	if strings.Contains(errOut, starting.UUID) {
		t.Errorf("gc touched a prepared pod being started: %s", errOut)
	}
}

func TestGCGracePeriod(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.Run, false)
	code, out, errOut := f.run(GCCommand())
	if code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	contains(t, "stderr", errOut, fmt.Sprintf("pod %q not removed: still within grace period (30m0s)", p.UUID))
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	f.wantPlace(p, pod.ExitedGarbage)
	if len(f.logLines()) != 0 {
		t.Error("stage1 gc ran within the grace period")
	}
	// The grace period counts from the mark: a short one expires.
	time.Sleep(20 * time.Millisecond)
	code, out, _ = f.run(GCCommand(), "--grace-period=10ms")
	if code != 0 || !strings.Contains(out, "Garbage collecting pod") {
		t.Errorf("gc after the grace period: %d %q", code, out)
	}
	f.wantPlace(p, -1)
}

func TestGCMarkOnly(t *testing.T) {
	f := newFixture(t)
	exited := f.makePod(podSpec{}, pod.Run, false)
	aborted := f.makePod(podSpec{}, pod.Prepare, false)
	prepared := f.makePod(podSpec{}, pod.Prepared, false)
	code, out, errOut := f.run(GCCommand(), "--mark-only", "--grace-period=0s", "--expire-prepared=0s")
	if code != 0 || out != "" {
		t.Fatalf("gc --mark-only: %d %q %s", code, out, errOut)
	}
	f.wantPlace(exited, pod.ExitedGarbage)
	f.wantPlace(aborted, pod.Garbage)
	f.wantPlace(prepared, pod.Garbage)
	if len(f.logLines()) != 0 {
		t.Error("stage1 gc ran with --mark-only")
	}
}

func TestGCSkipsLockedPods(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.ExitedGarbage, false)
	g := f.makePod(podSpec{}, pod.Garbage, false)
	release := f.lock(p)
	releaseG := f.lock(g)
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		code, _, errOut = f.run(GCCommand(), "--grace-period=0s")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("gc blocked on a held pod lock")
	}
	if code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	contains(t, "stderr", errOut,
		fmt.Sprintf("pod %q not removed: locked by another process", p.UUID),
		fmt.Sprintf("pod %q not removed: locked by another process", g.UUID))
	f.wantPlace(p, pod.ExitedGarbage)
	f.wantPlace(g, pod.Garbage)
	release()
	releaseG()
	if code, _, errOut := f.run(GCCommand(), "--grace-period=0s"); code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	f.wantPlace(p, -1)
	f.wantPlace(g, -1)
}

func TestGCStage1Problems(t *testing.T) {
	f := newFixture(t)
	failing := f.makePod(podSpec{entrypoints: map[string]int{stage1abi.AnnotationGC: 3}}, pod.Run, false)
	missing := f.makePod(podSpec{entrypoints: map[string]int{stage1abi.AnnotationGC: -1}}, pod.Run, false)
	noGC := f.makePod(podSpec{entrypoints: map[string]int{}}, pod.Run, false)
	noManifest := f.makePod(podSpec{noStage1: true}, pod.Run, false)
	treeGone := f.makePod(podSpec{}, pod.Run, false)
	if err := os.RemoveAll(treeGone.Path(stage1abi.Stage1RootfsRel)); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := f.run(GCCommand(), "--grace-period=0s")
	if code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	// A stage1 gc that fails or cannot be found keeps the pod for the
	// next gc; a stage1 that is gone cannot get better: removed anyway.
	f.wantPlace(failing, pod.ExitedGarbage)
	f.wantPlace(missing, pod.ExitedGarbage)
	contains(t, "stderr", errOut,
		fmt.Sprintf("pod %q: stage1 gc failed: exit status 3", failing.UUID),
		fmt.Sprintf("pod %q: stage1 gc failed", missing.UUID),
		fmt.Sprintf("pod %q: stage1 is gone", noManifest.UUID),
		fmt.Sprintf("pod %q: stage1 tree is gone", treeGone.UUID))
	for _, p := range []*pod.Pod{noGC, noManifest, treeGone} {
		f.wantPlace(p, -1)
		contains(t, "stdout", out, fmt.Sprintf("Garbage collecting pod %q", p.UUID))
	}
}

func TestGCUnmountsLeftovers(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.Run, false)
	// A host directory a foreign stage1 left bind-mounted into the app,
	// and a tmpfs on the stage1 rootfs.
	host := filepath.Join(f.dir, "host-volume")
	write(t, filepath.Join(host, "precious"), "keep me", 0o644)
	vol := p.Path(filepath.Join(stage1abi.AppRootfsRel("app"), "vol"))
	os.MkdirAll(vol, 0o755)
	if err := unix.Mount(host, vol, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	tmp := p.Path(filepath.Join(stage1abi.Stage1RootfsRel, "tmp"))
	os.MkdirAll(tmp, 0o755)
	if err := unix.Mount("tmpfs", tmp, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(filepath.Join(f.root.PodsIn("exited-garbage"), p.UUID, "stage1/rootfs/tmp"), unix.MNT_DETACH)
		unix.Unmount(filepath.Join(f.root.PodsIn("exited-garbage"), p.UUID, stage1abi.AppRootfsRel("app"), "vol"), unix.MNT_DETACH)
	})
	code, _, errOut := f.run(GCCommand(), "--grace-period=0s")
	if code != 0 || errOut == "" {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	f.wantPlace(p, -1)
	if b, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(b) != "keep me" {
		t.Errorf("host volume content lost: %q %v", b, err)
	}
}

func TestRemoveTreeStopsAtMounts(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "tree")
	host := filepath.Join(f.dir, "host")
	write(t, filepath.Join(host, "precious"), "x", 0o644)
	write(t, filepath.Join(dir, "a", "b", "file"), "x", 0o644)
	os.MkdirAll(filepath.Join(dir, "a", "mnt"), 0o755)
	os.Symlink(host, filepath.Join(dir, "link"))
	if err := unix.Mount(host, filepath.Join(dir, "a", "mnt"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(dir, "a", "mnt"), unix.MNT_DETACH)
	err := removeTree(dir)
	if err == nil || !strings.Contains(err.Error(), errMountPoint.Error()) {
		t.Fatalf("removeTree over a mount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(host, "precious")); err != nil {
		t.Fatalf("crossed into the mount: %v", err)
	}
	unix.Unmount(filepath.Join(dir, "a", "mnt"), unix.MNT_DETACH)
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(host, "precious")); err != nil {
		t.Errorf("followed the symlink: %v", err)
	}
	if err := removeTree(dir); err != nil {
		t.Errorf("removeTree of a missing dir: %v", err)
	}
}

func TestGCManyPods(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	f := newFixture(t)
	const n = 200
	for range n {
		f.makePod(podSpec{}, pod.Run, false)
	}
	start := time.Now()
	code, out, errOut := f.run(GCCommand(), "--grace-period=0s")
	if code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	if got := strings.Count(out, "Garbage collecting pod"); got != n {
		t.Errorf("collected %d pods, want %d", got, n)
	}
	if got := len(f.logLines()); got != n {
		t.Errorf("stage1 gc ran %d times, want %d", got, n)
	}
	ents, _ := os.ReadDir(f.root.PodsIn("exited-garbage"))
	if len(ents) != 0 {
		t.Errorf("%d pods left", len(ents))
	}
	t.Logf("gc of %d pods: %s", n, time.Since(start))
}

// TestGCFreesIDRanges: the id range of a --private-users pod is freed
// with the pod, not before, and ranges of pods gone without a gc are
// swept.
func TestGCFreesIDRanges(t *testing.T) {
	f := newFixture(t)
	exited := f.makePod(podSpec{}, pod.Run, false)
	running := f.makePod(podSpec{}, pod.Run, true)
	ranges := map[string]userns.Range{}
	for _, p := range []*pod.Pod{exited, running} {
		r, err := userns.Allocate(f.root, p.UUID)
		if err != nil {
			t.Fatal(err)
		}
		write(t, p.Path(stage1abi.PrivateUsersFile), r.String(), 0o640)
		ranges[p.UUID] = r
	}
	// A range whose pod directory is gone.
	if _, err := userns.Allocate(f.root, "5f1f8a35-6f4b-4b8e-9a57-1d2c3b4a5e6f"); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := f.run(GCCommand(), "--grace-period=0s"); code != 0 {
		t.Fatalf("gc exited %d: %s", code, errOut)
	}
	f.wantPlace(exited, -1)
	owners, err := userns.Owners(f.root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{ranges[running.UUID].Shift: running.UUID}
	if !reflect.DeepEqual(owners, want) {
		t.Errorf("ranges after gc: %v, want %v", owners, want)
	}
}
