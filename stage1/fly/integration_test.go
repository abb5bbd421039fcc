package fly

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
	"syscall"
	"testing"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/tests/fixtures"
)

// The integration tests run the real binary as root on a fake pod: the
// busybox rootfs of the build fixtures as the app, manifests written
// here, `run` under `unshare -m` the way stage0 execs it.

const (
	testUUID  = "6f4c8a2e-3b1d-4e5f-9a7b-1c2d3e4f5a6b"
	testApp   = "app"
	testImage = "example.com/busybox"
)

var (
	buildOnce sync.Once
	buildDir  string
	flyBin    string
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
func fixtureRootfs() string {
	return filepath.Join(fixtures.Top(), "build", "fixtures", "rootfs")
}

// needIntegration skips unless the test can run pods, and builds the
// binary once.
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
		if buildDir, buildErr = os.MkdirTemp("", "fly-test-bin-"); buildErr != nil {
			return
		}
		flyBin = filepath.Join(buildDir, "fly")
		cmd := exec.Command("go", "build", "-trimpath", "-o", flyBin, "github.com/rkt/rkt/stage1/fly/cmd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(err.Error() + ": " + string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build fly: %v", buildErr)
	}
}

// testPod is a fake pod directory.
type testPod struct {
	t      *testing.T
	dir    string
	rootfs string // the app's rootfs
}

// newPod creates a pod running app with the given mounts and volumes.
func newPod(t *testing.T, app *types.App, mounts []schema.Mount, vols []types.Volume) *testPod {
	t.Helper()
	dir := filepath.Join(t.TempDir(), testUUID)
	s1 := filepath.Join(dir, "stage1", "rootfs")
	p := &testPod{t: t, dir: dir, rootfs: filepath.Join(s1, "opt", "stage2", testApp, "rootfs")}
	for _, d := range []string{filepath.Dir(p.rootfs), filepath.Join(s1, "rkt", "status"), filepath.Join(s1, "rkt", "env"),
		filepath.Join(dir, "appsinfo", testApp)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", fixtureRootfs(), p.rootfs).CombinedOutput(); err != nil {
		t.Fatalf("copy the rootfs: %v: %s", err, out)
	}
	for _, ep := range []string{"run", "enter", "gc", "stop"} {
		if err := os.Symlink(flyBin, filepath.Join(s1, ep)); err != nil {
			t.Fatal(err)
		}
	}
	name := types.MustACIdentifier(testImage)
	im := schema.BlankImageManifest()
	im.Name = *name
	im.App = &types.App{Exec: types.Exec{"/bin/sh"}, User: "0", Group: "0"}
	p.writeJSON(filepath.Join(s1, "opt", "stage2", testApp, "manifest"), im)

	pm := schema.BlankPodManifest()
	hash, err := types.NewHash("sha512-" + strings.Repeat("0", 128))
	if err != nil {
		t.Fatal(err)
	}
	pm.Apps = schema.AppList{{
		Name:   *types.MustACName(testApp),
		Image:  schema.RuntimeImage{Name: name, ID: *hash},
		App:    app,
		Mounts: mounts,
	}}
	pm.Volumes = vols
	p.writeJSON(filepath.Join(dir, "pod"), pm)
	t.Cleanup(func() { checkNoMounts(t, dir) })
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

// editManifest changes the pod manifest.
func (p *testPod) editManifest(f func(pm *schema.PodManifest)) {
	p.t.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, "pod"))
	if err != nil {
		p.t.Fatal(err)
	}
	pm := &schema.PodManifest{}
	if err := json.Unmarshal(data, pm); err != nil {
		p.t.Fatal(err)
	}
	f(pm)
	p.writeJSON(filepath.Join(p.dir, "pod"), pm)
}

// running is a started `run`.
type running struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// start runs the pod's `run` entrypoint under a private mount namespace
// with the pod's lock, as stage0 does.
func (p *testPod) start(withLock bool, args ...string) *running {
	p.t.Helper()
	r := &running{}
	argv := append([]string{"-m", "--propagation", "private", filepath.Join(p.dir, "stage1", "rootfs", "run"), "--net=host"}, args...)
	r.cmd = exec.Command("unshare", append(argv, testUUID)...)
	r.cmd.Dir = p.dir
	r.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	var lock *os.File
	if withLock {
		var err error
		if lock, err = os.Open(p.dir); err != nil {
			p.t.Fatal(err)
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			p.t.Fatal(err)
		}
		r.cmd.ExtraFiles = []*os.File{lock}
		r.cmd.Env = append(r.cmd.Env, "RKT_LOCK_FD=3")
	}
	if err := r.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	if lock != nil {
		lock.Close() // only the pod holds it now
	}
	return r
}

// wait waits for `run` and returns its exit status.
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

// run runs the pod to completion.
func (p *testPod) run(args ...string) (int, string, string) {
	p.t.Helper()
	r := p.start(true, args...)
	code := r.wait(p.t)
	return code, r.stdout.String(), r.stderr.String()
}

// locked reports whether the pod's lock is held by someone.
func (p *testPod) locked() bool {
	p.t.Helper()
	f, err := os.Open(p.dir)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		return false
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		p.t.Fatal(err)
	}
	return true
}

// waitPID waits for the pid file and returns the pid.
func (p *testPod) waitPID(r *running) int {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if pid, err := podproc.ReadPIDFile(filepath.Join(p.dir, "pid")); err == nil {
			return pid
		}
		if r.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("no pid file; stderr: %s", r.stderr.String())
	return 0
}

// entrypoint runs another entrypoint in the pod directory (in the test's
// own mount namespace, like stage0).
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

// checkNoMounts fails if anything is mounted below dir in our namespace.
func checkNoMounts(t *testing.T, dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), dir) {
		t.Errorf("mounts left on the host under %s:\n%s", dir, data)
	}
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

func TestIntegrationExitStatus(t *testing.T) {
	needIntegration(t)
	p := newPod(t, shApp("echo out; echo err >&2; exit 42", "FOO=bar"), nil, nil)
	code, stdout, stderr := p.run()
	if code != 42 || stdout != "out\n" || stderr != "err\n" {
		t.Fatalf("run = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if s := p.readFile("stage1/rootfs/rkt/status/app"); s != "42" {
		t.Errorf("status file %q", s)
	}
	for _, f := range []string{"stage1/rootfs/rkt/status/app-created", "stage1/rootfs/rkt/status/app-started"} {
		if _, err := os.Stat(filepath.Join(p.dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := podproc.ReadPIDFile(filepath.Join(p.dir, "pid")); err != nil {
		t.Errorf("pid file: %v", err)
	}
	if _, err := podproc.ReadPIDFile(filepath.Join(p.dir, "pgid")); err != nil {
		t.Errorf("pgid file: %v", err)
	}
	if s := p.readFile("stage1/rootfs/rkt/env/app"); s != "PATH=/bin\nFOO=bar\n" {
		t.Errorf("env file = %q", s)
	}
	if p.locked() {
		t.Error("pod lock still held after the app exited")
	}

	// Death by signal is 128+N.
	p = newPod(t, shApp("kill -9 $$"), nil, nil)
	if code, _, stderr := p.run(); code != 137 || p.readFile("stage1/rootfs/rkt/status/app") != "137" {
		t.Errorf("killed app: %d %s", code, stderr)
	}
}

func TestIntegrationAppSettings(t *testing.T) {
	needIntegration(t)
	script := `tr '\0' '\n' </proc/$$/environ; pwd; id -u; id -g; id -G`
	app := shApp(script, "FOO=hello world")
	app.Exec[0] = "sh" // resolved through the app's PATH
	app.User, app.Group = "1000", "1000"
	app.SupplementaryGIDs = []int{10, 20}
	app.WorkingDirectory = "/home/fixture"
	p := newPod(t, app, nil, nil)
	code, stdout, stderr := p.run()
	want := "PATH=/bin\nFOO=hello world\n/home/fixture\n1000\n1000\n1000 10 20\n"
	if code != 0 || stdout != want {
		t.Errorf("numeric user: %d\n got %q\nwant %q\nstderr %s", code, stdout, want, stderr)
	}

	// By name, from the image's /etc/passwd and /etc/group.
	app = shApp("id -u; id -g; id -G")
	app.User, app.Group = "fixture", "nogroup"
	p = newPod(t, app, nil, nil)
	if code, stdout, stderr := p.run(); code != 0 || stdout != "1000\n65534\n65534\n" {
		t.Errorf("named user: %d %q %s", code, stdout, stderr)
	}

	// By path: the owner of a file in the image.
	app = shApp("id -u; id -g")
	app.User, app.Group = "/home/fixture", "/home/fixture"
	p = newPod(t, app, nil, nil)
	if err := os.Chown(filepath.Join(p.rootfs, "home", "fixture"), 1234, 1235); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := p.run(); code != 0 || stdout != "1234\n1235\n" {
		t.Errorf("path user: %d %q %s", code, stdout, stderr)
	}

	// An unknown user is a stage1 error.
	app = shApp("true")
	app.User = "nosuch"
	p = newPod(t, app, nil, nil)
	if code, _, stderr := p.run(); code != 254 || !strings.Contains(stderr, `stage1: invalid user "nosuch"`) {
		t.Errorf("unknown user: %d %s", code, stderr)
	}

	// The app sees the host's /proc, /dev and DNS files, and a /tmp.
	app = shApp(`test -r /proc/self/stat && echo ok >/dev/null && test -d /tmp && cat /etc/resolv.conf /etc/hosts`)
	p = newPod(t, app, nil, nil)
	hostDNS := ""
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		data, _ := os.ReadFile(f)
		hostDNS += string(data)
	}
	if code, stdout, stderr := p.run(); code != 0 || stdout != hostDNS {
		t.Errorf("api file systems and DNS: %d %q (want %q) %s", code, stdout, hostDNS, stderr)
	}
}

func TestIntegrationVolumes(t *testing.T) {
	needIntegration(t)
	hostRO, hostRW, escape := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(hostRO, "in"), []byte("ro content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(t.TempDir(), "conf.txt")
	if err := os.WriteFile(hostFile, []byte("conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	mode, uid, gid := "0770", 1000, 1000
	vols := []types.Volume{
		{Name: "ro", Kind: "host", Source: hostRO, ReadOnly: &yes},
		{Name: "rw", Kind: "host", Source: hostRW, ReadOnly: &no},
		{Name: "file", Kind: "host", Source: hostFile},
		{Name: "scratch", Kind: "empty", Mode: &mode, UID: &uid, GID: &gid},
		{Name: "esc", Kind: "host", Source: hostRW},
		{Name: "devs", Kind: "host", Source: "/dev", ReadOnly: &yes, Recursive: &yes},
	}
	mounts := []schema.Mount{
		{Volume: "ro", Path: "/ro"},
		{Volume: "rw", Path: "/rw"},
		{Volume: "file", Path: "/etc/conf.txt"},
		{Volume: "scratch", Path: "/scratch"},
		{Volume: "esc", Path: "/link/target"},
		{Volume: "devs", Path: "/hostdev"},
	}
	script := `
if touch /ro/x 2>/dev/null; then echo ro-writable; else echo ro-ok; fi
cat /ro/in
echo hi >/rw/out && echo rw-ok
cat /etc/conf.txt
stat -c %a:%u:%g /scratch
echo s >/scratch/f
stat -c %a /var/cache
echo c >/var/cache/f && echo cache-ok
ls /link/target
stat -f -c %T /hostdev/pts
if touch /hostdev/shm/fly-test-x 2>/dev/null; then echo sub-writable; else echo sub-ro; fi
`
	t.Cleanup(func() { os.Remove("/dev/shm/fly-test-x") }) // written only if the test fails
	app := shApp(script)
	app.MountPoints = []types.MountPoint{{Name: "cache", Path: "/var/cache"}}
	p := newPod(t, app, mounts, vols)
	// A symlink in the image that points out of it: the target must be
	// created inside the rootfs, never in the host's directory.
	if err := os.Symlink("/../../../../../../../.."+escape, filepath.Join(p.rootfs, "link")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := p.run()
	want := "ro-ok\nro content\nrw-ok\nconf\n770:1000:1000\n755\ncache-ok\nout\ndevpts\nsub-ro\n"
	if code != 0 || stdout != want {
		t.Errorf("volumes: %d\n got %q\nwant %q\nstderr %s", code, stdout, want, stderr)
	}
	if !strings.Contains(stderr, `no volume for mount point "cache"`) {
		t.Errorf("no warning for the implicit volume: %q", stderr)
	}
	if data, err := os.ReadFile(filepath.Join(hostRW, "out")); err != nil || string(data) != "hi\n" {
		t.Errorf("rw volume on the host: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(hostRO, "x")); err == nil {
		t.Error("wrote into the read-only volume")
	}
	if data, err := os.ReadFile(filepath.Join(p.dir, "sharedVolumes", "scratch", "f")); err != nil || string(data) != "s\n" {
		t.Errorf("empty volume on the host: %q %v", data, err)
	}
	if ents, _ := os.ReadDir(escape); len(ents) != 0 {
		t.Errorf("mount target created outside the rootfs: %v", ents)
	}
	if fi, err := os.Stat(filepath.Join(p.rootfs, escape, "target")); err != nil || !fi.IsDir() {
		t.Errorf("mount target not created inside the rootfs: %v", err)
	}

	// A read-only root file system.
	p = newPod(t, shApp("if touch /new 2>/dev/null; then echo rw; else echo ro; fi; echo x >/rw/y && echo vol-ok"),
		[]schema.Mount{{Volume: "rw", Path: "/rw"}}, vols[1:2])
	p.editManifest(func(pm *schema.PodManifest) { pm.Apps[0].ReadOnlyRootFS = true })
	if code, stdout, stderr := p.run(); code != 0 || stdout != "ro\nvol-ok\n" {
		t.Errorf("read-only rootfs: %d %q %s", code, stdout, stderr)
	}
}

func TestIntegrationEnterStop(t *testing.T) {
	needIntegration(t)
	hostRW := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostRW, "hostfile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	app := &types.App{Exec: types.Exec{"/bin/sleep", "1000"}, User: "1000", Group: "1000"}
	app.Environment.Set("PATH", "/bin")
	app.Environment.Set("FOO", "entered")
	p := newPod(t, app, []schema.Mount{{Volume: "rw", Path: "/rw"}},
		[]types.Volume{{Name: "rw", Kind: "host", Source: hostRW}})
	r := p.start(true)
	pid := p.waitPID(r)
	if !p.locked() {
		t.Error("pod lock not held while the app runs")
	}
	if pgid, err := podproc.ReadPIDFile(filepath.Join(p.dir, "pgid")); err != nil || pgid != pid {
		t.Errorf("pgid %d %v, want the app's own group %d", pgid, err, pid)
	}
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(comm) != "sleep\n" {
		t.Errorf("pid %d is %q, not the app", pid, comm)
	}

	code, stdout, stderr := p.entrypoint("enter", "--pid="+strconv.Itoa(pid), "--appname="+testApp, "--",
		"sh", "-c", `echo $FOO; head -n1 /etc/fixture-release | cut -c1-7; ls /rw; id -u; pwd; test -r /proc/1/stat && echo proc`)
	if want := "entered\nbusybox\nhostfile\n0\n/\nproc\n"; code != 0 || stdout != want {
		t.Errorf("enter: %d\n got %q\nwant %q\nstderr %s", code, stdout, want, stderr)
	}
	code, _, _ = p.entrypoint("enter", "--pid="+strconv.Itoa(pid), "--appname="+testApp, "--", "sh", "-c", "exit 7")
	if code != 7 {
		t.Errorf("enter exit status %d, want 7", code)
	}

	if code, _, stderr := p.entrypoint("stop", testUUID); code != 0 {
		t.Fatalf("stop: %d %s", code, stderr)
	}
	if code := r.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("stopped pod exited %d; stderr %s", code, r.stderr.String())
	}
	if s := p.readFile("stage1/rootfs/rkt/status/app"); s != "143" {
		t.Errorf("status %q", s)
	}
	if p.locked() {
		t.Error("pod lock held after stop")
	}
	// Stopping a stopped pod succeeds.
	if code, _, stderr := p.entrypoint("stop", "--force", testUUID); code != 0 {
		t.Errorf("second stop: %d %s", code, stderr)
	}
	if code, _, stderr := p.entrypoint("gc", testUUID); code != 0 {
		t.Errorf("gc: %d %s", code, stderr)
	}
}

func TestIntegrationStopForce(t *testing.T) {
	needIntegration(t)
	p := newPod(t, shApp(`trap "" TERM; exec sleep 1000`), nil, nil)
	r := p.start(true)
	pid := p.waitPID(r)
	if code, _, stderr := p.entrypoint("stop", testUUID); code != 0 {
		t.Fatalf("stop: %d %s", code, stderr)
	}
	time.Sleep(300 * time.Millisecond)
	if err := unix.Kill(pid, 0); err != nil || !p.locked() {
		t.Fatalf("app ignoring SIGTERM is gone after stop: %v", err)
	}
	if code, _, stderr := p.entrypoint("stop", "--force", testUUID); code != 0 {
		t.Fatalf("stop --force: %d %s", code, stderr)
	}
	if code := r.wait(t); code != 137 {
		t.Errorf("force-stopped pod exited %d", code)
	}
	if p.locked() {
		t.Error("pod lock held after stop --force")
	}
}

func TestIntegrationErrors(t *testing.T) {
	needIntegration(t)
	p := newPod(t, &types.App{User: "0", Group: "0"}, nil, nil)
	code, _, stderr := p.run()
	if want := `stage1: image "example.com/busybox" has an empty "exec" (try --exec=BINARY)`; code != 254 || !strings.Contains(stderr, want) {
		t.Errorf("empty exec: %d %q", code, stderr)
	}

	p = newPod(t, shApp("true"), nil, nil)
	p.editManifest(func(pm *schema.PodManifest) {
		second := pm.Apps[0]
		second.Name = *types.MustACName("second")
		pm.Apps = append(pm.Apps, second)
	})
	if code, _, stderr := p.run(); code != 254 || !strings.Contains(stderr, "only supports 1 application") {
		t.Errorf("two apps: %d %q", code, stderr)
	}

	p = newPod(t, &types.App{Exec: types.Exec{"nosuchbinary"}, User: "0", Group: "0"}, nil, nil)
	if code, _, stderr := p.run(); code != 254 || !strings.Contains(stderr, `"nosuchbinary" not found`) {
		t.Errorf("missing binary: %d %q", code, stderr)
	}

	p = newPod(t, shApp("true"), nil, nil)
	r := p.start(false)
	if code := r.wait(t); code != 254 || !strings.Contains(r.stderr.String(), "RKT_LOCK_FD") {
		t.Errorf("no lock: %d %q", code, r.stderr.String())
	}

	p = newPod(t, shApp("true"), []schema.Mount{{Volume: "missing", Path: "/m"}}, nil)
	if code, _, stderr := p.run(); code != 254 || !strings.Contains(stderr, `no volume "missing"`) {
		t.Errorf("missing volume: %d %q", code, stderr)
	}
}

// TestIntegrationGC checks that gc clears mounts a stage0 without a
// private namespace would have left below the stage1 rootfs (in a
// throwaway namespace of its own), and keeps the rootfs mount itself.
func TestIntegrationGC(t *testing.T) {
	needIntegration(t)
	p := newPod(t, shApp("true"), nil, nil)
	s1 := filepath.Join(p.dir, "stage1", "rootfs")
	script := `set -e
mount --bind "$R" "$R"
mount -t tmpfs none "$R/rkt"
mkdir "$R/rkt/deeper"
mount -t tmpfs none "$R/rkt/deeper"
mount --bind /tmp "$R/opt/stage2/app/rootfs/tmp"
"$R/gc" --debug "$U"
if grep -F " $R/" /proc/self/mountinfo; then echo left; exit 1; fi
grep -qF " $R " /proc/self/mountinfo
`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "R=" + s1, "U=" + testUUID}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("gc: %v\n%s", err, out)
	}
}
