package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	cgroupfs "github.com/opencontainers/cgroups/fs"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/forkthread"
)

// testLimits are the limits the tests give an app: 64 MiB, half a CPU,
// 512 shares, and an oom_score_adj of 42.
func testLimits() (*cgroups.Resources, *int) {
	oom := 42
	return &cgroups.Resources{Memory: 64 << 20, CpuQuota: 50000, CpuPeriod: 100000, CpuShares: 512}, &oom
}

func TestNewPodRefusesPaths(t *testing.T) {
	if _, err := NewPod("../x"); err == nil {
		t.Fatal("NewPod accepted a path")
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		t.Skip("no cgroup filesystem")
	}
}

// leftovers lists directories named like the pod's cgroup under every
// cgroup mount of this host.
func leftovers(t *testing.T, uuid string) []string {
	t.Helper()
	mounts, err := cgroups.GetCgroupMounts(true)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	roots := map[string]bool{}
	for _, m := range mounts {
		roots[m.Mountpoint] = true
	}
	if cgroups.IsCgroup2UnifiedMode() || cgroups.IsCgroup2HybridMode() {
		roots["/sys/fs/cgroup"] = true
		roots["/sys/fs/cgroup/unified"] = true
	}
	for r := range roots {
		if _, err := os.Stat(filepath.Join(r, Prefix+uuid)); err == nil {
			left = append(left, filepath.Join(r, Prefix+uuid))
		}
	}
	return left
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestPodAppLimits(t *testing.T) {
	requireRoot(t)
	uuid := fmt.Sprintf("test-%d", os.Getpid())
	pod, err := NewPod(uuid)
	if err != nil {
		t.Fatal(err)
	}
	destroyed := false
	defer func() {
		if !destroyed {
			_ = pod.Destroy()
		}
	}()
	if pod.Subcgroup() != "rkt-"+uuid {
		t.Fatalf("subcgroup %q", pod.Subcgroup())
	}
	res, oom := testLimits()
	app, err := pod.App("example.com/app", res, oom)
	if err != nil {
		t.Fatal(err)
	}
	cmd := appCmd(t, app)
	if _, err := startApp(app, startCmd(cmd)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if got := readFile(t, "/proc/"+strconv.Itoa(cmd.Process.Pid), "oom_score_adj"); got != "42" {
		t.Errorf("oom_score_adj = %s", got)
	}
	waitJoined(t, cmd.Process.Pid, "/rkt-"+uuid+"/app-example.com%2Fapp", appControllers(res))

	if cgroups.IsCgroup2UnifiedMode() {
		dir := app.Path("")
		if len(app.Warnings) == 0 {
			if got := readFile(t, dir, "memory.max"); got != strconv.Itoa(64<<20) {
				t.Errorf("memory.max = %s", got)
			}
			if got := readFile(t, dir, "cpu.max"); got != "50000 100000" {
				t.Errorf("cpu.max = %s", got)
			}
			if got := readFile(t, dir, "cpu.weight"); got != strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(512), 10) {
				t.Errorf("cpu.weight = %s", got)
			}
		}
	} else {
		if dir := app.Path("memory"); dir != "" {
			if got := readFile(t, dir, "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
				t.Errorf("memory.limit_in_bytes = %s", got)
			}
		} else {
			t.Log("no memory controller")
		}
		if dir := app.Path("cpu"); dir != "" {
			if got := readFile(t, dir, "cpu.cfs_quota_us"); got != "50000" {
				t.Errorf("cpu.cfs_quota_us = %s", got)
			}
			if got := readFile(t, dir, "cpu.cfs_period_us"); got != "100000" {
				t.Errorf("cpu.cfs_period_us = %s", got)
			}
			if got := readFile(t, dir, "cpu.shares"); got != "512" {
				t.Errorf("cpu.shares = %s", got)
			}
		} else {
			t.Log("no cpu controller")
		}
	}
	if len(leftovers(t, uuid)) == 0 {
		t.Fatal("pod cgroup not found on any hierarchy")
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	destroyed = true
	if err := pod.Destroy(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, uuid); len(left) != 0 {
		t.Fatalf("cgroups left behind: %v", left)
	}
}

func TestDestroyByNameKillsLeftovers(t *testing.T) {
	requireRoot(t)
	uuid := fmt.Sprintf("test-gc-%d", os.Getpid())
	pod, err := NewPod(uuid)
	if err != nil {
		t.Fatal(err)
	}
	// Whatever fails below, nothing of the pod stays.
	t.Cleanup(func() { _ = DestroyByName(uuid) })
	// With limits: the app has cgroups of its own in the app
	// hierarchies, below the pod's, to kill in and remove.
	res, _ := testLimits()
	app, err := pod.App("app", res, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := appCmd(t, app)
	if _, err := startApp(app, startCmd(cmd)); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	waitJoined(t, cmd.Process.Pid, "/rkt-"+uuid+"/app-app", appControllers(res))
	// Simulates gc after the supervisor died: only the name is known.
	if err := DestroyByName(uuid); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	<-waited
	if left := leftovers(t, uuid); len(left) != 0 {
		t.Fatalf("cgroups left behind: %v", left)
	}
	// Destroying an absent pod is fine.
	if err := DestroyByName(uuid); err != nil {
		t.Fatal(err)
	}
}

// joinEnv makes the re-executed test binary do what an app process does
// before its exec (stage1/native/appspawn): join the cgroups of the tasks
// files it got from fd 3 on (the value is their number), then exec sleep.
const joinEnv = "RKT_CGROUP_TEST_JOIN"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(joinEnv)); err == nil {
		runtime.LockOSThread()
		for fd := 3; fd < 3+n; fd++ {
			if _, err := unix.Write(fd, []byte("0")); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			unix.Close(fd)
		}
		err := syscall.Exec("/bin/sleep", []string{"sleep", "100"}, os.Environ())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// appCmd is a process for startApp: the test binary joining the app's
// cgroups like an app process, then sleeping.
func appCmd(t *testing.T, app *App) *exec.Cmd {
	t.Helper()
	tasks := app.TasksFiles()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), joinEnv+"="+strconv.Itoa(len(tasks)))
	cmd.ExtraFiles = tasks
	return cmd
}

// waitJoined waits until the process pid is in the cgroup want in every
// hierarchy where an app with the controllers ctrls (appControllers) has
// a cgroup of its own (appHierarchy).
func waitJoined(t *testing.T, pid int, want string, ctrls map[string]bool) {
	t.Helper()
	for range 200 {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		in, all := 0, 0
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if appHierarchy(l, ctrls) {
				all++
				if strings.HasSuffix(l, want) {
					in++
				}
			}
		}
		if all > 0 && in == all {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	t.Fatalf("pid %d not in %s on every app hierarchy:\n%s", pid, want, b)
}

// appHierarchy reports whether a line of /proc/PID/cgroup is of a
// hierarchy in which an app with the controllers ctrls (appControllers)
// has a cgroup of its own: one of them on v1, the unified one on a pure
// v2 host.
func appHierarchy(line string, ctrls map[string]bool) bool {
	f := strings.SplitN(line, ":", 3)
	if len(f) != 3 {
		return false
	}
	if f[1] == "" {
		return cgroups.IsCgroup2UnifiedMode()
	}
	for _, c := range strings.Split(f[1], ",") {
		if ctrls[c] {
			return true
		}
	}
	return false
}

// startCmd is a ForkFunc starting cmd.
func startCmd(cmd *exec.Cmd) ForkFunc {
	return func(cgroupFD int) (int, error) {
		if cgroupFD >= 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
		}
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	}
}

// cgroupsOf returns /proc/<pid>/task/<tid>/cgroup for every thread of pid.
func cgroupsOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "cgroup"))
		if err == nil { // a thread may end meanwhile
			out[e.Name()] = string(b)
		}
	}
	return out
}

// The supervisor is created in its cgroup on every hierarchy (each v1
// controller and the v2 one), an app process ends up in the app's in
// the hierarchies the app has its own cgroups in (born in the v2 one of
// a pure v2 host, joining the v1 ones its limits need through
// TasksFiles) and stays where its parent is in the others (all of them
// for an app without limits on a v1 or hybrid host, which gets no
// cgroup there), and the caller, all its threads, stays where it was:
// the thread that joined the stage1 cgroup to fork was thrown away.
func TestStartBornInCgroup(t *testing.T) {
	requireRoot(t)
	before := cgroupsOf(t, os.Getpid())
	self := readFile(t, "/proc/self", "cgroup")
	uuid := fmt.Sprintf("test-start-%d", os.Getpid())
	pod, err := NewPod(uuid)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pod.Destroy() }()
	res, _ := testLimits()
	app, err := pod.App("app", res, nil)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := pod.App("bare", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// check checks the cgroups of cmd, started in leaf (below the pod's
	// cgroup) of the hierarchies where an app with the controllers ctrls
	// has a cgroup of its own; nil ctrls: of every hierarchy.
	check := func(cmd *exec.Cmd, leaf string, ctrls map[string]bool) {
		t.Helper()
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		got := readFile(t, "/proc/"+strconv.Itoa(cmd.Process.Pid), "cgroup")
		want := "/rkt-" + uuid
		if leaf != "" {
			want += "/" + leaf
		}
		lines := strings.Split(got, "\n")
		selfLines := strings.Split(self, "\n")
		if len(lines) != len(selfLines) {
			t.Fatalf("hierarchies differ: %q vs %q", got, self)
		}
		for i, l := range lines {
			if strings.HasPrefix(l, "0::") && !cgroups.IsCgroup2UnifiedMode() && !cgroups.IsCgroup2HybridMode() {
				continue
			}
			if ctrls != nil && !appHierarchy(l, ctrls) {
				// Not one of the app's hierarchies: where its parent (we) is.
				if l != selfLines[i] {
					t.Errorf("%s: %s, want %s", leaf, l, selfLines[i])
				}
				continue
			}
			if !strings.HasSuffix(l, want) {
				t.Errorf("%s: not in %s: %s", leaf, want, l)
			}
		}
	}
	cmd := appCmd(t, app)
	if _, err := startApp(app, startCmd(cmd)); err != nil {
		t.Fatal(err)
	}
	waitJoined(t, cmd.Process.Pid, "/rkt-"+uuid+"/app-app", appControllers(res))
	check(cmd, "app-app", appControllers(res))
	cmd = appCmd(t, bare)
	if _, err := startApp(bare, startCmd(cmd)); err != nil {
		t.Fatal(err)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		waitJoined(t, cmd.Process.Pid, "/rkt-"+uuid+"/app-bare", nil)
	} else {
		// Nothing to join: it has no cgroup of its own.
		if n := len(bare.TasksFiles()); n != 0 {
			t.Errorf("app without limits: %d tasks files, want none", n)
		}
		for _, ctrl := range []string{"memory", "cpu", "cpuacct", "pids", "devices"} {
			if d := pod.Path(ctrl); d != "" {
				if _, err := os.Stat(filepath.Join(d, "app-bare")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("app without limits has a %s cgroup: %v", ctrl, err)
				}
			}
		}
	}
	check(cmd, "app-bare", map[string]bool{})
	cmd = exec.Command("sleep", "100")
	if _, err := pod.StartSupervisor(forkthread.Start(nil), startCmd(cmd)); err != nil {
		t.Fatal(err)
	}
	check(cmd, SupervisorLeaf(), nil)
	// The thread that joined the pod's cgroups to fork is thrown away:
	// it is on its way out when StartSupervisor returns, and gone soon
	// after (on a loaded machine, not always at once; destroy spares the
	// caller meanwhile). No other thread of the caller may move.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for tid, cg := range cgroupsOf(t, os.Getpid()) {
			if strings.Contains(cg, "rkt-"+uuid) {
				left = append(left, "thread "+tid+": "+cg)
			} else if b, ok := before[tid]; ok && b != cg {
				t.Fatalf("thread %s of the caller moved: %s, was %s", tid, cg, b)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads of the caller left in the pod's cgroup:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

// The supervisor opens the pod cgroup at the paths run passes it.
func TestOpenPodAt(t *testing.T) {
	requireRoot(t)
	uuid := fmt.Sprintf("test-openat-%d", os.Getpid())
	pod, err := NewPod(uuid)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pod.Destroy() }()
	paths := pod.Paths()
	if len(paths) == 0 {
		t.Fatal("no cgroup paths")
	}
	opened, err := OpenPodAt(uuid, paths)
	if err != nil {
		t.Fatal(err)
	}
	found, err := OpenPod(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(opened.Paths(), found.Paths()) {
		t.Errorf("OpenPodAt paths %v, OpenPod finds %v", opened.Paths(), found.Paths())
	}
	for _, bad := range []map[string]string{
		{"memory": "/sys/fs/cgroup/memory/other"},
		{"memory": "relative/" + Prefix + uuid},
		{"memory": "/sys/fs/cgroup/memory/../../" + Prefix + uuid},
	} {
		if _, err := OpenPodAt(uuid, bad); err == nil {
			t.Errorf("OpenPodAt accepted %v", bad)
		}
	}
}

// v1Paths finds the hierarchies as the library does, from one read of
// mountinfo.
func TestV1PathsAsTheLibrary(t *testing.T) {
	if cgroups.IsCgroup2UnifiedMode() {
		t.Skip("a v2 host has no v1 hierarchies")
	}
	rel := "/rkt-test-paths"
	mine, err := v1Paths(rel)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := cgroupfs.NewManager(&cgroups.Cgroup{Path: rel, Resources: &cgroups.Resources{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(mine, lib.GetPaths()) {
		t.Errorf("v1Paths %v, the library %v", mine, lib.GetPaths())
	}
}

// startApp starts, through fork, a process that joins the app's cgroups
// itself (appCmd) but does not set its oom_score_adj, as an app process
// does (App.StartSelf): the app's os/linux/oom-score-adj isolator is
// written on it once it is forked.
func startApp(a *App, fork ForkFunc) (int, error) {
	pid, err := a.StartSelf(fork)
	if err != nil || a.OOMScoreAdj() == nil {
		return pid, err
	}
	p := filepath.Join("/proc", strconv.Itoa(pid), "oom_score_adj")
	if err := os.WriteFile(p, []byte(strconv.Itoa(*a.OOMScoreAdj())), 0o644); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return 0, fmt.Errorf("setting oom_score_adj of pid %d: %w", pid, err)
	}
	return pid, nil
}
