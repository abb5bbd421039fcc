package native

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/netspec"
	"github.com/rkt/rkt/stage1/native/supervisor"
	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/tests/fixtures"
)

// The integration tests run the real binary as root on a fake pod (the
// busybox rootfs of the build fixtures for every app), `run` under
// `unshare -m` the way stage0 execs it.

const (
	testUUID  = "7e5d9b3f-4c2e-4f60-8b8c-2d3e4f5a6b7c"
	testImage = "example.com/busybox"
)

var (
	buildOnce sync.Once
	buildDir  string
	nativeBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// fixtureRootfs is the busybox rootfs of the build fixtures, built by
// needIntegration when missing.
func fixtureRootfs() string { return filepath.Join(fixtures.Top(), "build", "fixtures", "rootfs") }

func needIntegration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("integration test needs root")
	}
	fixtures.Require(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "native-test-bin-"); buildErr != nil {
			return
		}
		// The supervisor and the network helper lie beside the
		// entrypoints binary, as in the stage1 image.
		nativeBin = filepath.Join(buildDir, "native")
		for bin, pkg := range map[string]string{
			nativeBin: "github.com/rkt/rkt/stage1/native/cmd",
			filepath.Join(buildDir, supervisor.BinaryName): "github.com/rkt/rkt/stage1/native/supervisor/cmd",
			filepath.Join(buildDir, netspec.HelperName):    "github.com/rkt/rkt/stage1/native/network/cmd",
		} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = errors.New(err.Error() + ": " + string(out))
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build native: %v", buildErr)
	}
}

type testPod struct {
	t   *testing.T
	dir string
}

// newPod creates a pod with one app per entry of apps (named by key order
// of names).
func newPod(t *testing.T, names []string, apps []*types.App) *testPod {
	t.Helper()
	dir := filepath.Join(t.TempDir(), testUUID)
	s1 := filepath.Join(dir, "stage1", "rootfs")
	p := &testPod{t: t, dir: dir}
	for _, d := range []string{filepath.Join(s1, "opt", "stage2"), filepath.Join(s1, "rkt", "status"), filepath.Join(s1, "rkt", "env")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, ep := range []string{"run", "enter", "gc", "stop"} {
		if err := os.Symlink(nativeBin, filepath.Join(s1, ep)); err != nil {
			t.Fatal(err)
		}
	}
	name := types.MustACIdentifier(testImage)
	hash, err := types.NewHash("sha512-" + strings.Repeat("0", 128))
	if err != nil {
		t.Fatal(err)
	}
	pm := schema.BlankPodManifest()
	for i, n := range names {
		appDir := filepath.Join(s1, "opt", "stage2", n)
		if err := os.MkdirAll(appDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-a", fixtureRootfs(), filepath.Join(appDir, "rootfs")).CombinedOutput(); err != nil {
			t.Fatalf("copy the rootfs: %v: %s", err, out)
		}
		im := schema.BlankImageManifest()
		im.Name = *name
		im.App = &types.App{Exec: types.Exec{"/bin/sh"}, User: "0", Group: "0"}
		p.writeJSON(filepath.Join(appDir, "manifest"), im)
		pm.Apps = append(pm.Apps, schema.RuntimeApp{Name: *types.MustACName(n), Image: schema.RuntimeImage{Name: name, ID: *hash}, App: apps[i]})
	}
	p.writeJSON(filepath.Join(dir, "pod"), pm)
	t.Cleanup(func() {
		data, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(data), dir) {
			t.Errorf("mounts left on the host under %s:\n%s", dir, data)
		}
	})
	return p
}

func (p *testPod) writeJSON(path string, v any) {
	p.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o640); err != nil {
		p.t.Fatal(err)
	}
}

type running struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// start runs `run` under a private mount namespace with the pod's lock.
func (p *testPod) start(args ...string) *running {
	p.t.Helper()
	r := &running{}
	argv := append([]string{"-m", "--propagation", "private", filepath.Join(p.dir, "stage1", "rootfs", "run")}, args...)
	r.cmd = exec.Command("unshare", append(argv, testUUID)...)
	r.cmd.Dir = p.dir
	r.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "RKT_LOCK_FD=3"}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	lock, err := os.Open(p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		p.t.Fatal(err)
	}
	r.cmd.ExtraFiles = []*os.File{lock}
	if err := r.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	lock.Close()
	p.t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *running) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
		t.Fatalf("run did not exit; stderr: %s", r.stderr.String())
	}
	return r.cmd.ProcessState.ExitCode()
}

func (p *testPod) run(args ...string) (int, string, string) {
	p.t.Helper()
	r := p.start(args...)
	code := r.wait(p.t)
	return code, r.stdout.String(), r.stderr.String()
}

// waitRunning waits for the pid file and the enter socket.
func (p *testPod) waitRunning(r *running) int {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pid, err := podproc.ReadPIDFile(filepath.Join(p.dir, "pid"))
		if _, serr := os.Stat(filepath.Join(p.dir, "stage1", "rootfs", "rkt", "status", "app-started")); err == nil && serr == nil {
			return pid
		}
		if r.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("pod did not start; stderr: %s", r.stderr.String())
	return 0
}

func (p *testPod) entrypoint(name string, args ...string) (int, string, string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.dir, "stage1", "rootfs", name), args...)
	cmd.Dir = p.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func (p *testPod) readFile(rel string) string {
	p.t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, rel))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(data)
}

func shApp(script string, env ...string) *types.App {
	a := &types.App{Exec: types.Exec{"/bin/sh", "-c", script}, User: "0", Group: "0"}
	a.Environment.Set("PATH", "/bin")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		a.Environment.Set(k, v)
	}
	return a
}

func TestIntegrationExitStatusAndLogs(t *testing.T) {
	needIntegration(t)
	p := newPod(t, []string{"app"}, []*types.App{shApp("echo out; echo err >&2; exit 42", "FOO=bar")})
	code, stdout, stderr := p.run("--net=none")
	if code != 42 || stdout != "out\n" || stderr != "err\n" {
		t.Fatalf("run = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if s := p.readFile("stage1/rootfs/rkt/status/app"); s != "42" {
		t.Errorf("status file %q", s)
	}
	if s := p.readFile("logs/app.log"); s != "out\nerr\n" && s != "err\nout\n" {
		t.Errorf("log file %q", s)
	}
	if s := p.readFile("stage1/rootfs/rkt/env/app"); s != "PATH=/bin\nFOO=bar\n" {
		t.Errorf("env file = %q", s)
	}
	if _, err := os.Stat(filepath.Join(p.dir, supervisor.EnterSocket)); err == nil {
		t.Error("enter socket left after the pod exited")
	}
}

func TestIntegrationMultiApp(t *testing.T) {
	needIntegration(t)
	p := newPod(t, []string{"a", "b", "c"}, []*types.App{
		shApp("exit 0"),
		// The delay lets app c set its trap before it is sent SIGTERM.
		shApp("sleep 1; exit 5"),
		shApp("trap 'echo c-term; exit 0' TERM; sleep 100 & wait"),
	})
	code, stdout, stderr := p.run("--net=host")
	if code != 5 || !strings.Contains(stdout, "c-term") {
		t.Fatalf("run = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for app, want := range map[string]string{"a": "0", "b": "5", "c": "0"} {
		if s := p.readFile("stage1/rootfs/rkt/status/" + app); s != want {
			t.Errorf("status of %s = %q, want %s", app, s, want)
		}
	}
	// An app ignoring SIGTERM is killed after the grace period.
	p = newPod(t, []string{"a", "b"}, []*types.App{shApp("sleep 1; exit 3"), shApp("trap '' TERM; sleep 100")})
	start := time.Now()
	if code, _, stderr := p.run("--net=host"); code != 3 || time.Since(start) > supervisor.KillGrace+10*time.Second {
		t.Errorf("run = %d after %v: %s", code, time.Since(start), stderr)
	}
	if s := p.readFile("stage1/rootfs/rkt/status/b"); s != "137" {
		t.Errorf("status of the killed app %q", s)
	}
}

func TestIntegrationNamespaces(t *testing.T) {
	needIntegration(t)
	script := `echo pid1=$(cat /proc/1/cmdline | tr '\0' ' ' | cut -d' ' -f1)
n=$(ls -d /proc/[0-9]* | wc -l); if [ "$n" -le 6 ]; then echo few-procs; else echo "procs=$n"; fi
hostname; cat /etc/hostname
grep -c podname /etc/hosts
ls /sys/class/net
test -c /dev/null && test -c /dev/urandom && test -d /dev/pts && test -L /dev/ptmx && echo dev-ok
readlink /etc/mtab
if touch /sys/x 2>/dev/null; then echo sys-rw; else echo sys-ro; fi`
	p := newPod(t, []string{"app"}, []*types.App{shApp(script)})
	code, stdout, stderr := p.run("--net=none", "--hostname=podname")
	want := "pid1=init\nfew-procs\npodname\npodname\n1\nlo\ndev-ok\n../proc/self/mounts\nsys-ro\n"
	if code != 0 || stdout != want {
		t.Errorf("run = %d\n got %q\nwant %q\nstderr %s", code, stdout, want, stderr)
	}
}

func TestIntegrationEnterStop(t *testing.T) {
	needIntegration(t)
	app := &types.App{Exec: types.Exec{"/bin/sleep", "1000"}, User: "1000", Group: "1000", WorkingDirectory: "/home/fixture"}
	app.Environment.Set("PATH", "/bin")
	app.Environment.Set("FOO", "entered")
	p := newPod(t, []string{"app"}, []*types.App{app})
	r := p.start("--net=host")
	pid := p.waitRunning(r)
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); !strings.HasPrefix(string(comm), "init\x00") {
		t.Errorf("pid %d is %q, not the supervisor", pid, comm)
	}
	code, stdout, stderr := p.entrypoint("enter", "--pid="+strconv.Itoa(pid), "--appname=app", "--",
		"sh", "-c", `echo $FOO; id -u; id -g; pwd; hostname`)
	if want := "entered\n1000\n1000\n/home/fixture\nrkt-" + testUUID + "\n"; code != 0 || stdout != want {
		t.Errorf("enter: %d\n got %q\nwant %q\nstderr %s", code, stdout, want, stderr)
	}
	if code, _, _ := p.entrypoint("enter", "--pid="+strconv.Itoa(pid), "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("enter exit status %d, want 7", code)
	}
	if code, _, stderr := p.entrypoint("enter", "--pid="+strconv.Itoa(pid), "--appname=nosuch", "--", "true"); code != 254 || !strings.Contains(stderr, `no app "nosuch"`) {
		t.Errorf("enter into a missing app: %d %s", code, stderr)
	}
	if code, _, stderr := p.entrypoint("stop", testUUID); code != 0 {
		t.Fatalf("stop: %d %s", code, stderr)
	}
	if code := r.wait(t); code != 143 {
		t.Errorf("stopped pod exited %d; stderr %s", code, r.stderr.String())
	}
	if s := p.readFile("stage1/rootfs/rkt/status/app"); s != "143" {
		t.Errorf("status %q", s)
	}
	if code, _, stderr := p.entrypoint("enter", "--pid="+strconv.Itoa(pid), "--", "true"); code != 254 || !strings.Contains(stderr, "not running") {
		t.Errorf("enter into a stopped pod: %d %s", code, stderr)
	}
	if code, _, stderr := p.entrypoint("stop", "--force", testUUID); code != 0 {
		t.Errorf("second stop: %d %s", code, stderr)
	}
	if code, _, stderr := p.entrypoint("gc", testUUID); code != 0 {
		t.Errorf("gc: %d %s", code, stderr)
	}
}

func TestIntegrationStopForce(t *testing.T) {
	needIntegration(t)
	p := newPod(t, []string{"app"}, []*types.App{shApp(`trap "" TERM; sleep 1000`)})
	r := p.start("--net=host")
	pid := p.waitRunning(r)
	if code, _, stderr := p.entrypoint("stop", testUUID); code != 0 {
		t.Fatalf("stop: %d %s", code, stderr)
	}
	time.Sleep(300 * time.Millisecond)
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("pod with an app ignoring SIGTERM is gone after stop: %v", err)
	}
	if code, _, stderr := p.entrypoint("stop", "--force", testUUID); code != 0 {
		t.Fatalf("stop --force: %d %s", code, stderr)
	}
	if code := r.wait(t); code != 137 {
		t.Errorf("force-stopped pod exited %d", code)
	}
	if code, _, stderr := p.entrypoint("gc", testUUID); code != 0 {
		t.Errorf("gc: %d %s", code, stderr)
	}
}

func TestIntegrationErrors(t *testing.T) {
	needIntegration(t)
	p := newPod(t, []string{"app"}, []*types.App{{User: "0", Group: "0"}})
	if code, _, stderr := p.run("--net=none"); code != 254 || !strings.Contains(stderr, `has an empty "exec"`) {
		t.Errorf("empty exec: %d %q", code, stderr)
	}
	app := shApp("true")
	app.User = "nosuch"
	p = newPod(t, []string{"app"}, []*types.App{app})
	if code, _, stderr := p.run("--net=none"); code != 254 || !strings.Contains(stderr, `invalid user "nosuch"`) {
		t.Errorf("unknown user: %d %q", code, stderr)
	}
	p = newPod(t, []string{"app"}, []*types.App{{Exec: types.Exec{"nosuchbinary"}, User: "0", Group: "0"}})
	if code, _, stderr := p.run("--net=none"); code != 254 || !strings.Contains(stderr, `"nosuchbinary" not found`) {
		t.Errorf("missing binary: %d %q", code, stderr)
	}
}
