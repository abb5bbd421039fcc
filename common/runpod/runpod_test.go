package runpod

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/runplan"
	"github.com/rkt/rkt/common/stage1abi"
)

const uuid = "0123abcd-0000-4000-8000-000000000001"

// fakePod makes a data directory with one prepared pod of one app
// ("web"), whose stage1's run entrypoint is /bin/run, a symlink to
// /real/run inside the stage1 tree.
func fakePod(t *testing.T, overlay bool) *pod.Pod {
	return fakePodSlack(t, overlay, false)
}

// fakePodSlack is fakePod, with a stage1 that announces
// stage1abi.AnnotationTimerSlack when slack is true.
func fakePodSlack(t *testing.T, overlay, slack bool) *pod.Pod {
	t.Helper()
	root, err := dirs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root.PodsIn(pod.Prepared.Dir()), uuid)
	s1tree := filepath.Join(root.Trees(), "deps-s1", "rootfs")
	if !overlay {
		s1tree = filepath.Join(dir, stage1abi.Stage1RootfsRel)
	}
	files := map[string]string{
		stage1abi.Stage1ManifestRel: `{"acKind":"ImageManifest","name":"example.com/stage1","annotations":[` +
			`{"name":"` + stage1abi.AnnotationRun + `","value":"/bin/run"},` +
			`{"name":"` + stage1abi.AnnotationInterfaceVersion + `","value":"6"}` + slackAnnotation(slack) + `]}`,
		stage1abi.Stage1TreeIDFile: "deps-s1",
		filepath.Join(stage1abi.AppsInfoDir, "web", stage1abi.AppTreeIDFile): "deps-app\n",
	}
	if overlay {
		files[stage1abi.OverlayPrepared] = ""
	}
	for rel, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s1tree, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s1tree, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/real/run", filepath.Join(s1tree, "bin", "run")); err != nil {
		t.Fatal(err)
	}
	p, err := pod.Open(root, uuid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Lock(false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPlan(t *testing.T) {
	p := fakePod(t, true)
	plan, dropped, err := Plan(p, []string{"web"}, stage1abi.RunArgs{Net: "none", Hostname: "h"})
	if err != nil || len(dropped) > 0 {
		t.Fatal(err, dropped)
	}
	runDir := filepath.Join(p.Root().PodsIn(pod.Run.Dir()), uuid)
	trees := p.Root().Trees()
	fd, err := p.LockFD()
	if err != nil {
		t.Fatal(err)
	}
	ovl := func(lower, name, target string) runplan.Step {
		opts := "lowerdir=" + lower + ",upperdir=" + runDir + "/overlay/" + name + "/upper,workdir=" + runDir + "/overlay/" + name + "/work"
		return runplan.Step{Op: runplan.OpMount, Strs: []string{"overlay", target, "overlay", opts + ",volatile", opts}}
	}
	rootfs := runDir + "/stage1/rootfs"
	want := []runplan.Step{
		{Op: runplan.OpRename, Strs: []string{p.Dir(), runDir}},
		{Op: runplan.OpUnshare, Flags: unix.CLONE_NEWNS},
		{Op: runplan.OpMount, Strs: []string{"", "/", "", "", ""}, Flags: unix.MS_REC | unix.MS_SLAVE},
		ovl(trees+"/deps-s1/rootfs", "stage1", rootfs),
		ovl(trees+"/deps-app/rootfs", "web", rootfs+"/opt/stage2/web/rootfs"),
		{Op: runplan.OpChdir, Strs: []string{runDir}},
		// The entrypoint resolved inside the stage1 (the symlink), argv[0]
		// as the stage1 named it.
		{Op: runplan.OpExec, Strs: []string{rootfs + "/real/run", "RKT_LOCK_FD=" + strconv.Itoa(fd), ""},
			Argv: []string{rootfs + "/bin/run", "--net=none", "--hostname=h", "--ipc=auto", uuid}},
	}
	if len(plan.Steps) != len(want) {
		t.Fatalf("got %d steps, want %d: %+v", len(plan.Steps), len(want), plan.Steps)
	}
	for i := range want {
		g, w := plan.Steps[i], want[i]
		if g.Op != w.Op || g.Flags != w.Flags || !slices.Equal(g.Strs, w.Strs) {
			t.Errorf("step %d:\n got %+v\nwant %+v", i, g, w)
		}
		if w.Op == runplan.OpExec {
			// The stage1 arguments are stage1abi's; check the ends.
			if g.Argv[0] != w.Argv[0] || g.Argv[len(g.Argv)-1] != uuid || !slices.Contains(g.Argv, "--net=none") || !slices.Contains(g.Argv, "--hostname=h") {
				t.Errorf("exec argv: %q", g.Argv)
			}
		}
	}
	if plan.Pod != uuid {
		t.Errorf("plan of pod %q", plan.Pod)
	}
	if _, err := plan.Encode(); err != nil {
		t.Error(err)
	}
}

// A pod with copied trees has no overlays to mount.
func TestPlanNoOverlay(t *testing.T) {
	p := fakePod(t, false)
	plan, _, err := Plan(p, []string{"web"}, stage1abi.RunArgs{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []runplan.Op
	for _, s := range plan.Steps {
		ops = append(ops, s.Op)
	}
	if want := []runplan.Op{runplan.OpRename, runplan.OpUnshare, runplan.OpMount, runplan.OpChdir, runplan.OpExec}; !slices.Equal(ops, want) {
		t.Errorf("steps %v, want %v", ops, want)
	}
	exec := plan.Steps[len(plan.Steps)-1]
	if !strings.HasSuffix(exec.Strs[0], "/pods/run/"+uuid+"/stage1/rootfs/real/run") {
		t.Errorf("exec %q", exec.Strs[0])
	}
}

// An entrypoint that leads out of the stage1 rootfs stays inside it.
func TestPlanEntrypointInside(t *testing.T) {
	p := fakePod(t, true)
	s1, err := p.Stage1Rootfs()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s1, "bin", "run")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../../etc/passwd", filepath.Join(s1, "bin", "run")); err != nil {
		t.Fatal(err)
	}
	plan, _, err := Plan(p, []string{"web"}, stage1abi.RunArgs{})
	if err != nil {
		t.Fatal(err)
	}
	exec := plan.Steps[len(plan.Steps)-1].Strs[0]
	if want := filepath.Join(p.Root().PodsIn(pod.Run.Dir()), uuid, "stage1/rootfs/etc/passwd"); exec != want {
		t.Errorf("exec %q, want %q", exec, want)
	}
}

func slackAnnotation(on bool) string {
	if !on {
		return ""
	}
	return `,{"name":"` + stage1abi.AnnotationTimerSlack + `","value":"true"}`
}

// The timer slack steps: a stage1 that announces it runs with
// stage1abi.TimerSlack and learns the caller's; another gets the
// caller's back when the dispatcher raised ours (RKT_TIMER_SLACK).
func TestPlanTimerSlack(t *testing.T) {
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	steps := func(p *pod.Pod) ([]runplan.Step, runplan.Step) {
		plan, _, err := Plan(p, []string{"web"}, stage1abi.RunArgs{})
		if err != nil {
			t.Fatal(err)
		}
		var slack []runplan.Step
		for _, s := range plan.Steps {
			if s.Op == runplan.OpTimerSlack {
				slack = append(slack, s)
			}
		}
		return slack, plan.Steps[len(plan.Steps)-1]
	}
	for _, caller := range []string{"", "123"} {
		t.Setenv(stage1abi.TimerSlackEnv, caller)
		want := strconv.Itoa(own)
		if caller != "" {
			want = caller
		}
		slack, exec := steps(fakePodSlack(t, true, true))
		if len(slack) != 1 || slack[0].Flags != stage1abi.TimerSlack || exec.Strs[2] != stage1abi.TimerSlackEnv+"="+want {
			t.Errorf("caller %q, announcing stage1: %+v, exec env %q", caller, slack, exec.Strs[1:])
		}
		slack, exec = steps(fakePodSlack(t, true, false))
		if exec.Strs[2] != "" {
			t.Errorf("caller %q, other stage1: exec env %q", caller, exec.Strs[1:])
		}
		if caller == "" && len(slack) != 0 {
			t.Errorf("no caller's slack, other stage1: %+v", slack)
		}
		if caller != "" && (len(slack) != 1 || slack[0].Flags != 123) {
			t.Errorf("caller's slack %s, other stage1: %+v", caller, slack)
		}
	}
}

// A pod prepared by an earlier build has no stage2 files in the stage1's
// upper layer: Exec writes them from the app info; those there are kept.
func TestStage2OfEarlierBuilds(t *testing.T) {
	p := fakePod(t, true)
	info := p.Path(filepath.Join(stage1abi.AppsInfoDir, "web", stage1abi.AppManifestFile))
	if err := os.WriteFile(info, []byte(`{"acKind":"ImageManifest"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stage2OfEarlierBuilds(p, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(p.Stage1UpperDir(), stage1abi.Stage2Dir, "web")
	if b, err := os.ReadFile(filepath.Join(dir, "manifest")); err != nil || string(b) != `{"acKind":"ImageManifest"}` {
		t.Errorf("manifest %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "rootfs")); err != nil || !fi.IsDir() {
		t.Errorf("rootfs: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "manifest")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest"), []byte("prepared"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := stage2OfEarlierBuilds(p, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "manifest")); string(b) != "prepared" {
		t.Errorf("the prepared manifest was replaced: %q", b)
	}
}
