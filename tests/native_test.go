package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	r := nativeRun(t, e, "--hostname=podhost", "example.com/busybox", "--exec=/bin/sh", "--", "-c", script).OK(t)
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
	if !strings.Contains(r.Stderr, "networking is not implemented yet: pod has loopback only") {
		t.Errorf("no loopback-only warning: %q", r.Stderr)
	}
	// The default hostname is rkt-<uuid>; --net=host shares the host's network.
	r = nativeRun(t, e, "--net=host", "example.com/busybox", "--exec=/bin/sh", "--", "-c", "hostname; ls /sys/class/net | wc -l").OK(t)
	if !strings.HasPrefix(r.Stdout, "rkt-") || strings.Contains(r.Stderr, "loopback only") {
		t.Errorf("--net=host: %s", r)
	}
}

func TestNativeEnterStopGC(t *testing.T) {
	e, _ := runEnv(t)
	args := append(nativeFlags(t), "example.com/busybox", "--user=1000", "--group=1000", "--exec=/bin/sh", "--", "-c", "echo written > /tmp/hello; sleep 1000")
	cmd, uuid := startPod(t, e, args...)
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
	cmd, uuid2 := startPod(t, e, append(nativeFlags(t), "example.com/busybox", "--exec=/bin/sh", "--", "-c", "trap '' TERM; sleep 1000")...)
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
