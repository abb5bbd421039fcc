package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/runplan"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/tests/harness"
)

// runtimeStarts counts the Go programs that started a runtime under
// GODEBUG=inittrace=1.
func runtimeStarts(r *harness.Result) int { return strings.Count(r.Stderr, "init runtime @") }

// `rkt run` hands rkt-run-prepared a start plan, which it carries out
// before its Go runtime starts (common/runplan/fast.go): the pod starts
// and exits as on the Go path, with one Go program fewer on the way.
func TestRunPlanFastPath(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fast path is amd64 only")
	}
	e, _ := runEnv(t)
	// The first fly pod imports the fly stage1 into the store, with a
	// child process.
	e.Rkt("run", "--stage1-from-dir=stage1-fly.aci", "example.com/busybox", "--exec=/bin/true").OK(t)
	o := harness.RunOpts{Env: []string{"GODEBUG=inittrace=1", "RKT_LOCK_FD=99"}}
	// rkt-prepare and the fly stage1 are Go programs; the dispatcher and
	// rkt-run-prepared start none.
	r := e.RktOpts(o, "run", "--stage1-from-dir=stage1-fly.aci", "example.com/busybox", "--exec=/bin/sh", "--",
		"-c", `echo "fd=$RKT_LOCK_FD"; exit 7`)
	if r.Code != 7 || !strings.Contains(r.Stdout, "fd=") {
		t.Fatalf("fly pod: %s", r)
	}
	if n := runtimeStarts(r); n != 2 {
		t.Errorf("%d Go runtimes started, want 2 (rkt-prepare, the fly stage1):\n%s", n, r.Stderr)
	}
	pods, err := filepath.Glob(filepath.Join(e.DataDir, "pods", "run", "*", runplan.FileName))
	if err != nil || len(pods) != 2 {
		t.Fatalf("want two pods in run/ with their plans: %v %v", pods, err)
	}
	// The native stage1 under the plan: overlays mounted, the app's
	// status recorded.
	r = sh(e, "cat /proc/self/status | grep ^Seccomp:; exit 5", "--net=none")
	if r.Code != 5 || !strings.Contains(r.Stdout, "Seccomp:\t2") {
		t.Errorf("native pod: %s", r)
	}
	// The same pods through rkt prepare and rkt run-prepared, which
	// start them from Go.
	uuid := strings.TrimSpace(e.Rkt("prepare", "--quiet", "--stage1-from-dir=stage1-fly.aci", "example.com/busybox", "--exec=/bin/true").OK(t).Stdout)
	e.Rkt("run-prepared", uuid).OK(t)
	if _, err := os.Stat(filepath.Join(e.DataDir, "pods", "run", uuid, runplan.FileName)); !os.IsNotExist(err) {
		t.Errorf("rkt prepare wrote a start plan: %v", err)
	}
}

// planRun runs rkt-run-prepared with a plan made here, as rkt run would
// hand it one, in the directory dir.
func planRun(t *testing.T, dir string, p *runplan.Plan, mode os.FileMode, env ...string) *harness.Result {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plan")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return harness.RunWith(t, harness.RunOpts{Env: env}, harness.Bin("rkt-run-prepared"),
		"--run-plan="+path, "--dir="+filepath.Join(dir, "data"), "0123abcd-0000-0000-0000-000000000000")
}

// The fast path's own behaviour, with plans made by hand: which plans it
// takes, the environment and argv of its exec, the fallback data of a
// mount, and the errors of a failed step, which are the Go path's.
func TestRunPlanSteps(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fast path is amd64 only")
	}
	harness.RequireRoot(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mnt := filepath.Join(dir, "mnt")
	for _, d := range []string{a, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `echo "lock=$RKT_LOCK_FD n=$(env | grep -c ^RKT_LOCK_FD=) slack=$RKT_TIMER_SLACK:$(env | grep -c ^RKT_TIMER_SLACK=):$(cat /proc/self/timerslack_ns) pwd=$(pwd) args=$#:$1:$2"; grep " ` + mnt + ` " /proc/self/mountinfo`
	plan := &runplan.Plan{Steps: []runplan.Step{
		{Op: runplan.OpRename, Strs: []string{a, b}},
		{Op: runplan.OpUnshare, Flags: unix.CLONE_NEWNS},
		{Op: runplan.OpMount, Strs: []string{"", "/", "", "", ""}, Flags: unix.MS_REC | unix.MS_PRIVATE},
		// tmpfs refuses an unknown option with EINVAL: the fallback data.
		{Op: runplan.OpMount, Strs: []string{"tmpfs", mnt, "tmpfs", "nosuchoption", "size=1m"}},
		{Op: runplan.OpChdir, Strs: []string{b}},
		{Op: runplan.OpTimerSlack, Flags: 1234567},
		{Op: runplan.OpExec, Strs: []string{"/bin/sh", "RKT_LOCK_FD=7", "RKT_TIMER_SLACK=42"}, Argv: []string{"sh", "-c", script, "x", "", "z"}},
	}}
	// Not root's own file to itself: group-writable plans are the Go
	// path's, which knows nothing of this pod. Nothing was renamed.
	r := planRun(t, dir, plan, 0o620)
	r.Fails(t, 254, "no matches found")
	if _, err := os.Stat(a); err != nil {
		t.Fatalf("a refused plan was carried out: %v", err)
	}

	r = planRun(t, dir, plan, 0o600, "GODEBUG=inittrace=1", "RKT_LOCK_FD=3", "RKT_LOCK_FDX=4", "RKT_TIMER_SLACK=9").OK(t)
	if want := "lock=7 n=1 slack=42:1:1234567 pwd=" + b + " args=2::z"; !strings.Contains(r.Stdout, want) {
		t.Errorf("exec: got %q, want %q", r.Stdout, want)
	}
	if !strings.Contains(r.Stdout, " tmpfs ") || !strings.Contains(r.Stdout, "size=1024k") {
		t.Errorf("the fallback mount is not in the plan's namespace: %q", r.Stdout)
	}
	if runtimeStarts(r) != 0 {
		t.Errorf("rkt-run-prepared started its Go runtime: %s", r.Stderr)
	}
	if mounted(t, mnt) {
		t.Errorf("the plan's mount leaked into the host's namespace")
	}

	// A failed step: the pod is left as the steps before left it, and
	// the error is the step's. b is now renamed back.
	plan.Steps[0].Strs = []string{b, a}
	plan.Steps[3].Strs[1] = filepath.Join(dir, "nosuchdir")
	planRun(t, dir, plan, 0o600).Fails(t, 254,
		"pod 0123abcd-0000-0000-0000-000000000000: mounting tmpfs on "+filepath.Join(dir, "nosuchdir")+": no such file or directory")
	if _, err := os.Stat(a); err != nil {
		t.Errorf("the steps before the failed one were not made: %v", err)
	}
	plan.Steps[0].Strs = []string{a, b}
	plan.Steps[3].Strs[1] = mnt
	plan.Steps[6].Strs[0] = filepath.Join(dir, "nosuchprogram")
	planRun(t, dir, plan, 0o600).Fails(t, 254, "executing stage1 "+filepath.Join(dir, "nosuchprogram")+": no such file or directory")
}

// mounted reports whether path is a mount point in this namespace.
func mounted(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+path+" ")
}

// A stage1 that announces it (stage1abi.AnnotationTimerSlack, as both of
// ours do) runs with a large timer slack, and gives the pod's processes
// the one rkt's caller had.
func TestRunTimerSlack(t *testing.T) {
	e, _ := runEnv(t)
	script := `echo "slack=$(cat /proc/self/timerslack_ns) env=$(env | grep -c ^RKT_TIMER_SLACK=)"`
	for _, stage1 := range []string{"--net=none", "--stage1-from-dir=stage1-fly.aci"} {
		for _, slack := range []int{123456, 0} {
			r := withTimerSlack(t, slack, func() *harness.Result { return sh(e, script, stage1) }).OK(t)
			want := slack
			if want == 0 {
				want = 50000 // the kernel's default, which the test runs with
			}
			if got := fmt.Sprintf("slack=%d env=0", want); !strings.Contains(r.Stdout, got) {
				t.Errorf("%s, caller's slack %d: got %q, want %q", stage1, slack, r.Stdout, got)
			}
		}
	}
	// The native stage1's own process (the pod's pid) runs with the large
	// one.
	uuidFile := filepath.Join(e.Root, "uuid")
	done := make(chan *harness.Result, 1)
	go func() {
		done <- e.Rkt("run", "--net=none", "--uuid-file-save="+uuidFile, "example.com/busybox", "--exec=/bin/sleep", "--", "1000")
	}()
	var pid string
	for range 200 {
		if u, err := os.ReadFile(uuidFile); err == nil && len(u) > 0 {
			if b, err := os.ReadFile(filepath.Join(e.DataDir, "pods", "run", string(u), "pid")); err == nil {
				pid = strings.TrimSpace(string(b))
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == "" {
		t.Fatal("the pod did not start")
	}
	if b, err := os.ReadFile("/proc/" + pid + "/timerslack_ns"); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(stage1abi.TimerSlack) {
		t.Errorf("the stage1's timer slack: %q %v", b, err)
	}
	e.Rkt("stop", "--force", strings.TrimSpace(readFile(t, uuidFile))).OK(t)
	<-done
}

// withTimerSlack runs f from an OS thread with the timer slack slack
// (ns; 0 leaves it), which the processes f starts inherit.
func withTimerSlack(t *testing.T, slack int, f func() *harness.Result) *harness.Result {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if slack != 0 {
		old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	}
	return f()
}
