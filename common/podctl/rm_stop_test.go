package podctl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

func TestRmStates(t *testing.T) {
	f := newFixture(t)
	running := f.makePod(podSpec{}, pod.Run, true)
	preparing := f.makePod(podSpec{}, pod.Prepare, true)
	deleting := f.makePod(podSpec{}, pod.ExitedGarbage, false)
	f.lock(deleting)
	aborted := f.makePod(podSpec{}, pod.Prepare, false)
	prepared := f.makePod(podSpec{}, pod.Prepared, false)
	exited := f.makePod(podSpec{}, pod.Run, false)
	marked := f.makePod(podSpec{}, pod.ExitedGarbage, false)

	code, out, errOut := f.run(RmCommand(), running.UUID, preparing.UUID, deleting.UUID,
		aborted.UUID, prepared.UUID[:8], exited.UUID, marked.UUID, "0000dead")
	if code != 254 {
		t.Errorf("rm exited %d, want 254", code)
	}
	contains(t, "stderr", errOut,
		fmt.Sprintf("pod %q is currently running", running.UUID),
		fmt.Sprintf("pod %q is currently being prepared", preparing.UUID),
		fmt.Sprintf("pod %q is currently being deleted", deleting.UUID),
		`no matches found for "0000dead"`,
		"rkt: failed to remove one or more pods")
	for _, p := range []*pod.Pod{aborted, prepared, exited, marked} {
		contains(t, "stdout", out, fmt.Sprintf("%q\n", p.UUID))
		f.wantPlace(p, -1)
	}
	f.wantPlace(running, pod.Run)
	f.wantPlace(preparing, pod.Prepare)
	f.wantPlace(deleting, pod.ExitedGarbage)
	// Stage1 gc ran for the two pods that ran, from exited-garbage/.
	lines := f.logLines()
	if len(lines) != 2 {
		t.Fatalf("stage1 log %q, want 2 gc runs", lines)
	}
	// (Pods are removed concurrently: in any order.)
	for _, p := range []*pod.Pod{exited, marked} {
		want := fmt.Sprintf("gc --local-config=%s %s cwd=%s", filepath.Join(f.dir, "local"), p.UUID,
			filepath.Join(f.root.PodsIn("exited-garbage"), p.UUID))
		if lines[0] != want && lines[1] != want {
			t.Errorf("stage1 log %q has no %q", lines, want)
		}
	}
}

func TestRmArgs(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{}, pod.Run, false)
	uf := filepath.Join(f.dir, "uuid")
	write(t, uf, "  "+p.UUID+"\n", 0o644)
	if code, _, errOut := f.run(RmCommand()); code != 254 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("rm without pods: %d %s", code, errOut)
	}
	if code, _, errOut := f.run(RmCommand(), "--uuid-file="+uf, p.UUID); code != 254 || !strings.Contains(errOut, "not both") {
		t.Errorf("rm with both: %d %s", code, errOut)
	}
	if code, _, errOut := f.run(RmCommand(), "--uuid-file="+uf+".missing"); code != 254 || !strings.Contains(errOut, "reading UUID file") {
		t.Errorf("rm with a missing uuid file: %d %s", code, errOut)
	}
	code, out, errOut := f.run(RmCommand(), "--uuid-file="+uf)
	if code != 0 || out != fmt.Sprintf("%q\n", p.UUID) {
		t.Errorf("rm --uuid-file: %d %q %s", code, out, errOut)
	}
	f.wantPlace(p, -1)
}

func TestRmKeepsPodWhenStage1GCFails(t *testing.T) {
	f := newFixture(t)
	p := f.makePod(podSpec{entrypoints: map[string]int{stage1abi.AnnotationGC: 1}}, pod.Run, false)
	code, _, errOut := f.run(RmCommand(), p.UUID)
	if code != 254 {
		t.Fatalf("rm exited %d: %s", code, errOut)
	}
	contains(t, "stderr", errOut, "stage1 gc failed", "failed to remove one or more pods")
	f.wantPlace(p, pod.ExitedGarbage)
}

func TestStop(t *testing.T) {
	f := newFixture(t)
	a := f.makePod(podSpec{}, pod.Run, true)
	b := f.makePod(podSpec{}, pod.Run, true)
	exited := f.makePod(podSpec{}, pod.Run, false)

	code, out, errOut := f.run(StopCommand(), a.UUID, exited.UUID)
	if code != 0 {
		t.Fatalf("stop exited %d: %s", code, errOut)
	}
	if want := fmt.Sprintf("%q\npod %q is already stopped\n", a.UUID, exited.UUID); out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	code, out, errOut = f.run(StopCommand(), "--force", b.UUID)
	if code != 0 || out != fmt.Sprintf("%q\n", b.UUID) {
		t.Fatalf("stop --force: %d %q %s", code, out, errOut)
	}
	lines := f.logLines()
	want := []string{
		fmt.Sprintf("stop %s cwd=%s", a.UUID, a.Dir()),
		fmt.Sprintf("stop --force %s cwd=%s", b.UUID, b.Dir()),
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("stage1 log %q, want %q", lines, want)
	}
}

func TestStopErrors(t *testing.T) {
	f := newFixture(t)
	prepared := f.makePod(podSpec{}, pod.Prepared, false)
	noStop := f.makePod(podSpec{entrypoints: map[string]int{}}, pod.Run, true)
	failing := f.makePod(podSpec{entrypoints: map[string]int{stage1abi.AnnotationStop: 2}}, pod.Run, true)
	code, _, errOut := f.run(StopCommand(), prepared.UUID, noStop.UUID, failing.UUID)
	if code != 254 {
		t.Errorf("stop exited %d", code)
	}
	contains(t, "stderr", errOut,
		fmt.Sprintf("pod %q is not running", prepared.UUID),
		"rkt stop not implemented for pod's stage1",
		fmt.Sprintf("error stopping %q: exit status 2", failing.UUID),
		"rkt: failed to stop 3 pod(s)")
	if code, _, _ := f.run(StopCommand(), "--uuid-file="+filepath.Join(f.dir, "missing")); code != 1 {
		t.Errorf("stop with an unreadable uuid file exited %d, want 1", code)
	}
	if _, err := os.Stat(f.log); err == nil && len(f.logLines()) != 1 {
		t.Errorf("stage1 log %q", f.logLines())
	}
}

// The mount table is read once per rm; pods moved after that still have
// their leftovers found (under their new place) and unmounted.
func TestRmUnmountsLeftoversOfMovedPods(t *testing.T) {
	f := newFixture(t)
	var pods []*pod.Pod
	for range 3 {
		p := f.makePod(podSpec{}, pod.Run, false)
		mnt := p.Path(filepath.Join(stage1abi.AppRootfsRel("app"), "proc"))
		os.MkdirAll(mnt, 0o755)
		if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, pl := range []string{"run", "exited-garbage"} {
				unix.Unmount(filepath.Join(f.root.PodsIn(pl), p.UUID, stage1abi.AppRootfsRel("app"), "proc"), unix.MNT_DETACH)
			}
		})
		pods = append(pods, p)
	}
	code, out, errOut := f.run(RmCommand(), pods[0].UUID, pods[1].UUID, pods[2].UUID)
	if code != 0 {
		t.Fatalf("rm: %d %s", code, errOut)
	}
	for _, p := range pods {
		contains(t, "stdout", out, fmt.Sprintf("%q", p.UUID))
		f.wantPlace(p, -1)
	}
	if m, _ := mount.MountsUnder(f.dir); len(m) != 0 {
		t.Errorf("left mounted: %v", m)
	}
}
