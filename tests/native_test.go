package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/tests/harness"
)

// The native stage1 (stage1/native): the pod gets its own PID, mount,
// UTS, IPC and network namespaces with a supervisor as PID 1.

// nativeFlags select the native stage1.
func nativeFlags(t *testing.T) []string {
	t.Helper()
	s1 := filepath.Join(harness.BinDir(), "..", "stage1-images", "stage1-native.aci")
	if _, err := os.Stat(s1); err != nil {
		t.Skipf("no native stage1 image: %v", err)
	}
	return []string{"--stage1-path=" + s1, "--insecure-options=image"}
}

func nativeRun(t *testing.T, e *harness.Env, args ...string) *harness.Result {
	t.Helper()
	return e.Rkt(append(append([]string{"run"}, nativeFlags(t)...), args...)...)
}

func TestNativeExitCodes(t *testing.T) {
	e, _ := runEnv(t)
	nativeRun(t, e, "example.com/busybox", "--exec=/bin/true").OK(t)
	if r := nativeRun(t, e, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "echo out; exit 42"); r.Code != 42 || !strings.Contains(r.Stdout, "out") {
		t.Errorf("exit 42: %s", r)
	}
	uuidFile := filepath.Join(e.Root, "uuid-3apps")
	r := nativeRun(t, e, "--uuid-file-save="+uuidFile,
		"example.com/busybox", "--name=a", "--exec=/bin/sh", "--", "-c", "exit 0", "---",
		"example.com/busybox", "--name=b", "--exec=/bin/sh", "--", "-c", "sleep 0.5; exit 5", "---",
		"example.com/busybox", "--name=c", "--exec=/bin/sh", "--", "-c", "trap 'exit 0' TERM; sleep 100 & wait")
	if r.Code != 5 {
		t.Fatalf("3-app pod: %s", r)
	}
	st := e.Rkt("status", readFile(t, uuidFile)).OK(t).Stdout
	for _, want := range []string{"app-a=0", "app-b=5", "app-c=0", "state=exited"} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %s:\n%s", want, st)
		}
	}
}

func TestNativeIsolation(t *testing.T) {
	e, _ := runEnv(t)
	script := `ps -o pid,comm | awk 'NR>1' | wc -l; ps -o pid,args | awk '$1==1'; hostname; cat /etc/hostname; cat /etc/hosts; ls /sys/class/net; ip -o link 2>/dev/null | wc -l`
	r := nativeRun(t, e, "--net=none", "--hostname=podhost", "example.com/busybox", "--exec=/bin/sh", "--", "-c", script).OK(t)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) < 6 {
		t.Fatalf("output: %s", r)
	}
	// init, sh, ps (and the awk, wc of the pipeline).
	if lines[0] > "6" || len(lines[0]) != 1 {
		t.Errorf("too many processes visible: %s", r.Stdout)
	}
	if !strings.Contains(lines[1], "init") {
		t.Errorf("PID 1 is not the supervisor: %q", lines[1])
	}
	if lines[2] != "podhost" || lines[3] != "podhost" {
		t.Errorf("hostname: %q", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "127.0.0.1 localhost") || !strings.Contains(r.Stdout, "127.0.0.1 podhost") {
		t.Errorf("/etc/hosts: %q", r.Stdout)
	}
	if strings.TrimSpace(lines[len(lines)-2]) != "lo" {
		t.Errorf("network interfaces: %q", r.Stdout)
	}
	// The default hostname is rkt-<uuid>; --net=host shares the host's network.
	r = nativeRun(t, e, "--net=host", "example.com/busybox", "--exec=/bin/sh", "--", "-c", "hostname; ls /sys/class/net | wc -l").OK(t)
	if !strings.HasPrefix(r.Stdout, "rkt-") || strings.Contains(r.Stderr, "loopback only") {
		t.Errorf("--net=host: %s", r)
	}
}

// Every app of a pod gets the pod's hostname, hosts and resolv.conf
// read-only: the first app by a bind and a remount, the others by a bind
// of the first app's mounts (which must carry the read-only flag along).
func TestNativePodFilesReadOnlyInEveryApp(t *testing.T) {
	e, _ := runEnv(t)
	script := func(name string) string {
		return `ro=0; for f in /etc/hostname /etc/hosts /etc/resolv.conf; do (echo x >> $f) 2>/dev/null || ro=$((ro+1)); done; ` +
			`echo "` + name + ` host=$(cat /etc/hostname) ns=$(grep -c 'nameserver 10.1.2.3' /etc/resolv.conf) hosts=$(grep -c one /etc/hosts) ro=$ro"`
	}
	args := []string{"--net=none", "--hostname=podhost", "--dns=10.1.2.3", "--hosts-entry=10.9.9.9=one"}
	for i, name := range []string{"a1", "a2", "a3"} {
		if i > 0 {
			args = append(args, "---")
		}
		args = append(args, "example.com/busybox", "--name="+name, "--exec=/bin/sh", "--", "-c", script(name))
	}
	r := nativeRun(t, e, args...).OK(t)
	for _, name := range []string{"a1", "a2", "a3"} {
		if want := name + " host=podhost ns=1 hosts=1 ro=3"; !strings.Contains(r.Stdout, want) {
			t.Errorf("lacks %q:\n%s", want, r.Stdout)
		}
	}
}

func TestNativeEnterStopGC(t *testing.T) {
	e, _ := runEnv(t)
	args := append(nativeFlags(t), "example.com/busybox", "--user=1000", "--group=1000", "--exec=/bin/sh", "--", "-c", "echo written > /tmp/hello; sleep 1000")
	cmd, uuid := startPod(t, e, args...)
	waitInPod(t, e, uuid, "/tmp/hello")
	r := e.Rkt("enter", uuid, "/bin/sh", "-c", "cat /tmp/hello; id -u; hostname; exit 7")
	if r.Code != 7 || !strings.Contains(r.Stdout, "written") || !strings.Contains(r.Stdout, "1000\nrkt-") {
		t.Errorf("enter: %s", r)
	}
	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	if st := e.Rkt("status", uuid).OK(t).Stdout; !strings.Contains(st, "state=exited") || !strings.Contains(st, "app-busybox=143") {
		t.Errorf("after stop: %s", st)
	}

	// --force kills an app that ignores SIGTERM.
	cmd, uuid2 := startPod(t, e, append(nativeFlags(t), "example.com/busybox", "--exec=/bin/sh", "--", "-c", "trap '' TERM; touch /tmp/trapped; sleep 1000")...)
	waitInPod(t, e, uuid2, "/tmp/trapped")
	e.Rkt("stop", uuid2).OK(t)
	time.Sleep(300 * time.Millisecond)
	if st := e.Rkt("status", uuid2).OK(t).Stdout; !strings.Contains(st, "state=running") {
		t.Errorf("app ignoring SIGTERM stopped: %s", st)
	}
	e.Rkt("stop", "--force", uuid2).OK(t)
	waitCmd(t, cmd)
	if st := e.Rkt("status", uuid2).OK(t).Stdout; !strings.Contains(st, "state=exited") {
		t.Errorf("after stop --force: %s", st)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
	for _, u := range []string{uuid, uuid2} {
		e.Rkt("status", u).Fails(t, 254, "no matches found")
	}
	if data, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(data), e.Root) {
		t.Errorf("mounts left under %s", e.Root)
	}
}

// waitCmd waits for a background rkt run.
func waitCmd(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("rkt run did not exit")
	}
}

// nativeStatus runs script in a native busybox pod and returns its output.
func nativeSh(t *testing.T, e *harness.Env, script string, flags ...string) *harness.Result {
	t.Helper()
	args := []string{}
	app := []string{}
	for _, f := range flags {
		// App flags go after the image, pod flags before.
		if strings.HasPrefix(f, "--caps-") || strings.HasPrefix(f, "--seccomp") || strings.HasPrefix(f, "--user") ||
			strings.HasPrefix(f, "--group") || strings.HasPrefix(f, "--memory") || strings.HasPrefix(f, "--oom-score-adj") {
			app = append(app, f)
		} else {
			args = append(args, f)
		}
	}
	args = append(args, "example.com/busybox")
	args = append(args, app...)
	args = append(args, "--exec=/bin/sh", "--", "-c", script)
	return nativeRun(t, e, args...)
}

// statusField returns the value of a /proc/<pid>/status line in out.
func statusField(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// capMask is the /proc/<pid>/status mask of the named capabilities.
func capMask(t *testing.T, names ...string) string {
	t.Helper()
	var m uint64
	for _, n := range names {
		c, err := caps.Parse(n)
		if err != nil {
			t.Fatal(err)
		}
		m |= 1 << uint(c)
	}
	return fmt.Sprintf("%016x", m)
}

const nativeSecScript = `grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs):' /proc/self/status
echo "fw=$(ls -A /sys/firmware 2>/dev/null | wc -l)"
echo "fwmount=$(grep -c ' /sys/firmware ' /proc/self/mounts)"
if [ -e /proc/sysrq-trigger ]; then if [ -w /proc/sysrq-trigger ]; then echo sysrq=rw; else echo sysrq=ro; fi; fi
echo "oom=$(cat /proc/self/oom_score_adj)"
(mount -t tmpfs x /tmp) 2>&1; echo "mount=$?"
`

func TestNativeSecurityDefaults(t *testing.T) {
	e, _ := runEnv(t)
	def := capMask(t, caps.DefaultRetained...)
	host, _ := os.ReadFile("/proc/self/status")
	full := statusField(string(host), "CapBnd")

	r := nativeSh(t, e, nativeSecScript).OK(t)
	out := r.Stdout
	if got := statusField(out, "CapBnd"); got != def {
		t.Errorf("default CapBnd %s, want %s", got, def)
	}
	if got := statusField(out, "CapEff"); got != def {
		t.Errorf("default CapEff %s, want %s", got, def)
	}
	for _, want := range []string{"Seccomp:\t2", "NoNewPrivs:\t0", "fw=0\n", "oom=0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("default pod: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "sysrq=rw") || strings.Contains(out, "mount=0") {
		t.Errorf("default pod: writable sysrq-trigger or mount allowed:\n%s", out)
	}

	// Without seccomp, mount still fails: no CAP_SYS_ADMIN (EPERM).
	out = nativeSh(t, e, nativeSecScript, "--insecure-options=seccomp").OK(t).Stdout
	if !strings.Contains(out, "Seccomp:\t0") || strings.Contains(out, "mount=0") ||
		!(strings.Contains(out, "permission denied") || strings.Contains(out, "not permitted")) {
		t.Errorf("--insecure-options=seccomp:\n%s", out)
	}

	out = nativeSh(t, e, nativeSecScript, "--caps-retain=CAP_NET_BIND_SERVICE").OK(t).Stdout
	if want := capMask(t, "CAP_NET_BIND_SERVICE"); statusField(out, "CapBnd") != want || statusField(out, "CapEff") != want {
		t.Errorf("--caps-retain: want %s:\n%s", want, out)
	}
	out = nativeSh(t, e, nativeSecScript, "--caps-remove=CAP_CHOWN").OK(t).Stdout
	var rest []string
	for _, c := range caps.DefaultRetained {
		if c != "CAP_CHOWN" {
			rest = append(rest, c)
		}
	}
	if want := capMask(t, rest...); statusField(out, "CapBnd") != want || statusField(out, "CapEff") != want {
		t.Errorf("--caps-remove: want %s:\n%s", want, out)
	}
	out = nativeSh(t, e, nativeSecScript, "--insecure-options=capabilities").OK(t).Stdout
	if statusField(out, "CapBnd") != full || statusField(out, "CapEff") != full {
		t.Errorf("--insecure-options=capabilities: want %s:\n%s", full, out)
	}

	// Non-root: no capabilities, no_new_privs forced by seccomp.
	out = nativeSh(t, e, nativeSecScript, "--user=1000", "--group=1000").OK(t).Stdout
	if statusField(out, "CapEff") != "0000000000000000" || statusField(out, "CapBnd") != def ||
		!strings.Contains(out, "NoNewPrivs:\t1") || !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("--user=1000:\n%s", out)
	}

	// --insecure-options=paths lifts the masks.
	out = nativeSh(t, e, nativeSecScript, "--insecure-options=paths").OK(t).Stdout
	if !strings.Contains(out, "fwmount=0") || strings.Contains(out, "sysrq=ro") {
		t.Errorf("--insecure-options=paths:\n%s", out)
	}
	out = nativeSh(t, e, nativeSecScript).OK(t).Stdout
	if !strings.Contains(out, "fwmount=1") {
		t.Errorf("/sys/firmware not masked:\n%s", out)
	}
}

func TestNativeSeccompRemove(t *testing.T) {
	e, _ := runEnv(t)
	// busybox uname ignores the error: it prints an empty name.
	out := nativeSh(t, e, `uname; echo "uname=$?"`, "--seccomp=mode=remove,errno=ENOTSUP,uname").OK(t).Stdout
	if strings.Contains(out, "Linux") || !strings.Contains(out, "uname=") {
		t.Errorf("uname not blocked:\n%s", out)
	}
	out = nativeSh(t, e, `uname; echo "uname=$?"`).OK(t).Stdout
	if !strings.Contains(out, "Linux") {
		t.Errorf("uname blocked by default:\n%s", out)
	}
}

// nativeCgroupDirs lists the cgroup directories of a pod on the host.
func nativeCgroupDirs(uuid string) []string {
	var dirs []string
	for _, pat := range []string{"/sys/fs/cgroup/*/rkt-" + uuid, "/sys/fs/cgroup/rkt-" + uuid} {
		m, _ := filepath.Glob(pat)
		dirs = append(dirs, m...)
	}
	return dirs
}

// An app has cgroups of its own only where its isolators need them on a
// v1 or hybrid host, as rkt's apps, systemd units, had (APPX-05): with
// --memory in the memory hierarchy, with --cpu in cpu and cpuacct, and
// without limits none, staying in the pod's. On a v2 host every app has
// its own.
func TestNativeAppCgroupsFollowIsolators(t *testing.T) {
	e, _ := runEnv(t)
	uuidFile := filepath.Join(e.Root, "uuid-cgroups")
	show := "sed -n 's/^[0-9]*:\\([a-z,]*\\):/\\1 /p' /proc/self/cgroup | sort"
	r := nativeRun(t, e, "--uuid-file-save="+uuidFile,
		"example.com/busybox", "--name=mem", "--memory=64M", "--exec=/bin/sh", "--", "-c", "echo MEM; "+show, "---",
		"example.com/busybox", "--name=cpu", "--cpu=500m", "--exec=/bin/sh", "--", "-c", "sleep 0.2; echo CPU; "+show, "---",
		"example.com/busybox", "--name=bare", "--exec=/bin/sh", "--", "-c", "sleep 0.4; echo BARE; "+show)
	if r.Code != 0 {
		t.Fatalf("pod: %s", r)
	}
	uuid := readFile(t, uuidFile)
	pod := "/rkt-" + uuid
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		for _, app := range []string{"mem", "cpu", "bare"} {
			if !strings.Contains(r.Stdout, " "+pod+"/app-"+app+"\n") {
				t.Errorf("v2: app %s not in its own cgroup:\n%s", app, r.Stdout)
			}
		}
		return
	}
	// Each app's lines: "<controllers> <cgroup>".
	lines := map[string]map[string]string{}
	var cur string
	for _, l := range strings.Split(r.Stdout, "\n") {
		switch l {
		case "MEM", "CPU", "BARE":
			cur = strings.ToLower(l)
			lines[cur] = map[string]string{}
			continue
		}
		if f := strings.Fields(l); cur != "" && len(f) == 2 {
			lines[cur][f[0]] = f[1]
		}
	}
	want := map[string]map[string]string{
		"mem":  {"memory": pod + "/app-mem", "cpu": pod, "cpuacct": pod, "pids": pod},
		"cpu":  {"memory": pod, "cpu": pod + "/app-cpu", "cpuacct": pod + "/app-cpu", "pids": pod},
		"bare": {"memory": pod, "cpu": pod, "cpuacct": pod, "pids": pod},
	}
	for app, ctrls := range want {
		for ctrl, cg := range ctrls {
			got, ok := lines[app][ctrl]
			if !ok {
				continue // a hierarchy this host lacks, or co-mounted
			}
			if got != cg {
				t.Errorf("app %s: %s cgroup %s, want %s", app, ctrl, got, cg)
			}
		}
	}
	if len(lines["bare"]) == 0 {
		t.Errorf("no cgroups printed:\n%s", r)
	}
	if d := nativeCgroupDirs(uuid); len(d) != 0 {
		t.Errorf("cgroups left after the pod exited: %v", d)
	}
}

func TestNativeCgroupsEnter(t *testing.T) {
	e, _ := runEnv(t)
	cmd, uuid := startPod(t, e, append(nativeFlags(t), "example.com/busybox",
		"--caps-retain=CAP_NET_BIND_SERVICE", "--memory=64M", "--oom-score-adj=42", "--cpu=500m",
		"--exec=/bin/sh", "--", "-c", "sleep 1000")...)
	if len(nativeCgroupDirs(uuid)) == 0 {
		t.Errorf("no cgroup for pod %s", uuid)
	}
	// The pid file is written before the apps start: wait for the app's
	// cgroup rather than race the supervisor.
	// The cgroup appears before its limits are written: wait for them.
	var limit string
	for deadline := time.Now().Add(10 * time.Second); limit != "64000000" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile("/sys/fs/cgroup/memory/rkt-" + uuid + "/app-busybox/memory.limit_in_bytes"); err == nil {
			limit = strings.TrimSpace(string(b))
		} else if b, err := os.ReadFile("/sys/fs/cgroup/rkt-" + uuid + "/app-busybox/memory.max"); err == nil {
			limit = strings.TrimSpace(string(b))
		}
	}
	// appc quantities are decimal: 64M = 64000000 bytes.
	if limit != "64000000" {
		t.Errorf("app memory limit %q, want 64000000", limit)
	}
	r := e.Rkt("enter", uuid, "/bin/sh", "-c", "grep -E '^(CapBnd|CapEff|Seccomp):' /proc/self/status; cat /proc/self/oom_score_adj; cat /proc/self/cgroup")
	want := capMask(t, "CAP_NET_BIND_SERVICE")
	if r.Code != 0 || statusField(r.Stdout, "CapBnd") != want || statusField(r.Stdout, "CapEff") != want ||
		!strings.Contains(r.Stdout, "Seccomp:\t2") || !strings.Contains(r.Stdout, "\n42\n") ||
		!strings.Contains(r.Stdout, "rkt-"+uuid+"/app-busybox") {
		t.Errorf("enter: want CapBnd %s, oom 42, app cgroup: %s", want, r)
	}
	e.Rkt("stop", "--force", uuid).OK(t)
	waitCmd(t, cmd)
	if d := nativeCgroupDirs(uuid); len(d) != 0 {
		t.Errorf("cgroups left after the pod exited: %v", d)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
}

func TestNativeGCDestroysCgroups(t *testing.T) {
	e, _ := runEnv(t)
	cmd, uuid := startPod(t, e, append(nativeFlags(t), "example.com/busybox", "--exec=/bin/sh", "--", "-c", "sleep 1000")...)
	// Kill the outer run, then the supervisor: only gc can clean up.
	cmd.Process.Kill()
	waitCmd(t, cmd)
	st := e.Rkt("status", uuid).OK(t).Stdout
	for _, l := range strings.Split(st, "\n") {
		if pid, ok := strings.CutPrefix(l, "pid="); ok {
			exec.Command("kill", "-9", pid).Run()
		}
	}
	time.Sleep(200 * time.Millisecond)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	if d := nativeCgroupDirs(uuid); len(d) != 0 {
		t.Errorf("cgroups left after gc: %v", d)
	}
}

func TestNativeOOM(t *testing.T) {
	e, _ := runEnv(t)
	uuidFile := filepath.Join(e.Root, "uuid-oom")
	r := nativeRun(t, e, "--uuid-file-save="+uuidFile, "example.com/busybox", "--memory=32M", "--exec=/bin/sh", "--", "-c", "tail /dev/zero")
	if r.Code != 137 {
		t.Errorf("memory hog: %s", r)
	}
	if st := e.Rkt("status", readFile(t, uuidFile)).OK(t).Stdout; !strings.Contains(st, "app-busybox=137") {
		t.Errorf("status: %s", st)
	}
}

// eventHandlerPod writes a pod manifest running busybox (image id) as
// uid 1000 with the given app exec and event handlers.
func eventHandlerPod(t *testing.T, e *harness.Env, id, file, exec, pre, post string) string {
	t.Helper()
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	pm := `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"hooked","image":{"id":"` + id + `"},
	  "app":{"exec":["/bin/sh","-c",` + q(exec) + `],"user":"1000","group":"1000","workingDirectory":"/tmp",
	  "environment":[{"name":"HOOKVAR","value":"hv"}],
	  "eventHandlers":[{"name":"pre-start","exec":["/bin/sh","-c",` + q(pre) + `]},{"name":"post-stop","exec":["/bin/sh","-c",` + q(post) + `]}]}}],
	  "volumes":[],"isolators":[],"annotations":[],"ports":[]}`
	p := filepath.Join(e.Root, file)
	if err := os.WriteFile(p, []byte(pm), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNativeEventHandlers(t *testing.T) {
	e, id := runEnv(t)
	// pre-start runs as root with full capabilities, in the app's rootfs,
	// cwd and environment, before the app; post-stop runs after it.
	pre := `echo pre $(id -u) $(pwd) $HOOKVAR $(grep CapEff /proc/self/status | cut -f2) > /tmp/pre; echo prestart-ran`
	post := `echo post $(id -u) $(cat /tmp/app) > /tmp/post; echo poststop-ran; cat /tmp/pre /tmp/post`
	app := `cat /tmp/pre; echo app $(id -u) > /tmp/app; echo app-ran`
	p := eventHandlerPod(t, e, id, "hooks.json", app, pre, post)
	r := nativeRun(t, e, "--pod-manifest="+p).OK(t)
	hostCaps := statusField(readFile(t, "/proc/self/status"), "CapEff")
	for _, want := range []string{"prestart-ran", "pre 0 /tmp hv " + hostCaps, "app-ran", "poststop-ran", "post 0 app 1000"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("event handlers: no %q in %s", want, r)
		}
	}
	if i, j, k := strings.Index(r.Stdout, "prestart-ran"), strings.Index(r.Stdout, "app-ran"), strings.Index(r.Stdout, "poststop-ran"); !(i >= 0 && i < j && j < k) {
		t.Errorf("event handlers out of order: %s", r)
	}

	// A failing pre-start fails the app with its status; the app does
	// not run; post-stop still runs.
	p = eventHandlerPod(t, e, id, "hooks-fail.json", "echo app-ran", "echo pre-failing; exit 7", "echo poststop-ran")
	r = nativeRun(t, e, "--pod-manifest="+p)
	if r.Code != 7 || strings.Contains(r.Stdout, "app-ran") || !strings.Contains(r.Stdout, "pre-failing") || !strings.Contains(r.Stdout, "poststop-ran") {
		t.Errorf("failing pre-start: %s", r)
	}

	// A failing post-stop is only logged.
	p = eventHandlerPod(t, e, id, "hooks-postfail.json", "echo app-ran", "true", "exit 3")
	r = nativeRun(t, e, "--pod-manifest="+p).OK(t)
	if !strings.Contains(r.Stdout, "app-ran") || !strings.Contains(r.Stderr, "post-stop event handler failed") {
		t.Errorf("failing post-stop: %s", r)
	}
}

// TestNativeDevices: the apps may only use the devices of their minimal
// /dev and those host volumes pass, even as root with CAP_MKNOD: no
// block device can be created, and one made outside the pod cannot be
// opened (device cgroup rules, SEC-DEV-01).
func TestNativeDevices(t *testing.T) {
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("the host device this test passes, /dev/loop-control, is missing")
	}
	e, _ := runEnv(t)
	devdir := filepath.Join(e.Root, "devdir")
	if err := os.MkdirAll(devdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(devdir, "sdlike"), unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0))); err != nil {
		t.Fatal(err)
	}
	script := `
mknod /tmp/sda b 8 0 && echo mknod-sda=ok
mknod /tmp/lc c 10 237 && (exec 3</tmp/lc) && echo own-loop-control=ok
(exec 3</devdir/sdlike) && echo open-sdlike=ok
mknod /tmp/null2 c 1 3 && (exec 3</tmp/null2) && echo null2=ok
(exec 3</dev/zero 4</dev/urandom 5>/dev/full 6</dev/ptmx) && echo minimal=ok
(exec 3</dev/loop-control) && echo volume-loop-control=ok
true`
	r := nativeRun(t, e, "--net=none",
		"--volume=devdir,kind=host,source="+devdir, "--mount=volume=devdir,target=/devdir",
		"--volume=lc,kind=host,source=/dev/loop-control", "--mount=volume=lc,target=/dev/loop-control",
		"example.com/busybox", "--caps-retain=CAP_MKNOD", "--exec=/bin/sh", "--", "-c", script).OK(t)
	for _, denied := range []string{"mknod-sda=ok", "own-loop-control=ok", "open-sdlike=ok"} {
		if strings.Contains(r.Stdout, denied) {
			t.Errorf("device rules let this through: %s\n%s", denied, r)
		}
	}
	for _, allowed := range []string{"null2=ok", "minimal=ok", "volume-loop-control=ok"} {
		if !strings.Contains(r.Stdout, allowed) {
			t.Errorf("device rules deny what they must allow: %s\n%s", allowed, r)
		}
	}
}

// Every app of a pod gets the same /proc, /sys and /dev, masks and
// read-only parts included (the first app's, bound into the others); a
// pod where an app mounts a volume below /dev gives each app its own
// /dev, so that the others do not even see the mount point.
func TestNativeSharedKernelMounts(t *testing.T) {
	e, _ := runEnv(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "marker"), []byte("vol"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `ls /dev | tr '\n' ' '; echo; ls /sys/firmware | wc -l; cat /proc/kallsyms 2>/dev/null | wc -c;
touch /sys/kernel/rkt-test 2>/dev/null && echo sys-writable || echo sys-ro;
echo 1 > /proc/sys/vm/panic_on_oom 2>/dev/null && echo panic-writable || echo panic-ro;
cat /dev/xvol/marker 2>/dev/null && echo || echo no-volume`
	split := func(r *harness.Result) (a1, a2 []string) {
		t.Helper()
		out := map[string][]string{}
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if app, rest, ok := strings.Cut(l, ":"); ok {
				out[app] = append(out[app], rest)
			}
		}
		if len(out["a1"]) != 6 || len(out["a2"]) != 6 {
			t.Fatalf("output: %s", r)
		}
		return out["a1"], out["a2"]
	}
	checkMasks := func(r *harness.Result, o []string) {
		t.Helper()
		if o[1] != "0" || o[2] != "0" || o[3] != "sys-ro" || o[4] != "panic-ro" {
			t.Errorf("masks or read-only paths missing: %q\n%s", o, r)
		}
	}
	pod := func(extra []string, mount ...string) []string {
		args := append([]string{"--net=none"}, extra...)
		args = append(args, "example.com/busybox", "--name=a1")
		args = append(args, mount...)
		return append(args, "--exec=/bin/sh", "--", "-c", "("+script+") | sed s/^/a1:/", "---",
			"example.com/busybox", "--name=a2", "--exec=/bin/sh", "--", "-c", "("+script+") | sed s/^/a2:/")
	}

	// Shared: the same /dev, masks in both.
	r := nativeRun(t, e, pod(nil)...).OK(t)
	a1, a2 := split(r)
	if a1[0] != a2[0] || !strings.Contains(a1[0], "null") || !strings.Contains(a1[0], "pts") {
		t.Errorf("/dev: %q vs %q", a1[0], a2[0])
	}
	checkMasks(r, a1)
	checkMasks(r, a2)

	// A volume below /dev in a1: a2 has its own /dev without the mount point.
	r = nativeRun(t, e, pod([]string{"--volume=xv,kind=host,source=" + vol}, "--mount=volume=xv,target=/dev/xvol")...).OK(t)
	a1, a2 = split(r)
	if a1[0] != strings.Replace(a2[0], "urandom ", "urandom xvol ", 1) || strings.Contains(a2[0], "xvol") {
		t.Errorf("/dev of a1 (with the volume) and a2: %q vs %q", a1[0], a2[0])
	}
	if a1[5] != "vol" || a2[5] != "no-volume" {
		t.Errorf("the volume below /dev: a1 %q, a2 %q", a1[5], a2[5])
	}
	checkMasks(r, a1)
	checkMasks(r, a2)
}
