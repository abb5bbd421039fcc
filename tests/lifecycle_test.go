package tests

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

// startPod starts `rkt run` in the background and returns its command and
// the pod UUID once the pod is running.
func startPod(t *testing.T, e *harness.Env, args ...string) (*exec.Cmd, string) {
	t.Helper()
	uuidFile := filepath.Join(e.Root, "uuid-"+strings.ReplaceAll(t.Name(), "/", "_"))
	os.Remove(uuidFile)
	full := append([]string{"run", "--uuid-file-save=" + uuidFile}, e.GlobalFlags()...)
	full = append(full, args...)
	cmd := exec.Command(harness.Bin("rkt"), full...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A test that fails half way must not leave the pod running: stop it
	// (the pod's processes outlive a killed `rkt run`) and collect it.
	var uuid string
	t.Cleanup(func() {
		if uuid != "" {
			e.Rkt("stop", "--force", uuid)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if uuid != "" {
			e.Rkt("gc", "--grace-period=0s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(uuidFile); err == nil && len(b) == 36 {
			uuid = string(b)
			if st := e.Rkt("status", uuid); st.Code == 0 && strings.Contains(st.Stdout, "state=running") && strings.Contains(st.Stdout, "pid=") {
				return cmd, uuid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pod did not start")
	return nil, ""
}

func TestLifecycleStopEnterExport(t *testing.T) {
	e, _ := runEnv(t)
	for _, overlay := range []string{"--no-overlay=false", "--no-overlay=true"} {
		t.Run(overlay, func(t *testing.T) {
			cmd, uuid := startPod(t, e, overlay, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "echo written > /hello; sleep 1000")
			waitInPod(t, e, uuid, "/hello")
			r := e.Rkt("enter", uuid, "/bin/sh", "-c", "cat /hello; echo $FIXTURE; exit 7")
			if r.Code != 7 || !strings.Contains(r.Stdout, "written") || !strings.Contains(r.Stdout, "busybox") {
				t.Errorf("enter: %s", r)
			}
			e.Rkt("rm", uuid).Fails(t, 254, "is currently running")
			e.Rkt("export", uuid, filepath.Join(e.Root, "x.aci")).Fails(t, 254)
			e.Rkt("stop", uuid).OK(t)
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Errorf("stopped pod's rkt run exited with %v", err)
			}
			if st := e.Rkt("status", uuid).OK(t).Stdout; !strings.Contains(st, "state=exited") {
				t.Errorf("after stop: %s", st)
			}
			if r := e.Rkt("stop", uuid).OK(t); !strings.Contains(r.Stdout, "is already stopped") {
				t.Errorf("second stop: %s", r)
			}
			out := filepath.Join(e.Root, "export"+overlay+".aci")
			e.Rkt("export", uuid, out).OK(t)
			if !aciHasFile(t, out, "rootfs/hello", "written\n") {
				t.Errorf("exported ACI lacks the file the app wrote")
			}
			e.Rkt("rm", uuid).OK(t)
			e.Rkt("status", uuid).Fails(t, 254, "no matches found")
		})
	}
	// --force kills.
	cmd, uuid := startPod(t, e, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "trap '' TERM; touch /tmp/trapped; sleep 1000")
	waitInPod(t, e, uuid, "/tmp/trapped")
	e.Rkt("stop", "--force", uuid).OK(t)
	cmd.Wait()
	if st := e.Rkt("status", uuid).OK(t).Stdout; !strings.Contains(st, "app-busybox=137") {
		t.Errorf("force-stopped pod status: %s", st)
	}
}

// waitInPod waits until path exists in the (single) app of a running pod:
// the pid file comes before the app runs.
func waitInPod(t *testing.T, e *harness.Env, uuid, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if e.Rkt("enter", uuid, "/bin/test", "-e", path).Code == 0 {
			return
		}
	}
	t.Fatalf("%s never appeared in pod %s", path, uuid)
}

func aciHasFile(t *testing.T, path, name, content string) bool {
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
	for {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			b, _ := io.ReadAll(tr)
			return string(b) == content
		}
	}
}

func TestLifecycleGC(t *testing.T) {
	e, _ := runEnv(t)
	e.Rkt("run", "example.com/busybox", "--exec=/bin/true").OK(t)
	prepared := strings.TrimSpace(e.Rkt("prepare", "--quiet", "example.com/busybox", "--exec=/bin/true").OK(t).Stdout)
	e.Rkt("gc", "--mark-only").OK(t)
	if l := e.Rkt("list", "--no-legend").OK(t).Stdout; !strings.Contains(l, "exited garbage") || !strings.Contains(l, "prepared") {
		t.Errorf("after --mark-only:\n%s", l)
	}
	r := e.Rkt("gc").OK(t)
	if !strings.Contains(r.Stderr, "still within grace period") {
		t.Errorf("gc with the default grace: %s", r)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
	l := e.Rkt("list", "--no-legend").OK(t).Stdout
	if strings.Contains(l, "exited") || !strings.Contains(l, prepared[:8]) {
		t.Errorf("after gc --grace-period=0s:\n%s", l)
	}
	e.Rkt("gc", "--grace-period=0s", "--expire-prepared=0s").OK(t)
	if l := e.Rkt("list", "--no-legend").OK(t).Stdout; strings.TrimSpace(l) != "" {
		t.Errorf("pods left after gc:\n%s", l)
	}
	for _, d := range []string{"run", "exited-garbage", "garbage", "prepared", "prepare"} {
		if ents, _ := os.ReadDir(filepath.Join(e.DataDir, "pods", d)); len(ents) != 0 {
			t.Errorf("pods/%s not empty: %v", d, ents)
		}
	}
	// Trees stay while a pod uses them, and go with image gc after.
	e.Rkt("image", "gc").OK(t)
	if trees, _ := os.ReadDir(filepath.Join(e.DataDir, "cas", "tree")); len(trees) != 0 {
		t.Errorf("trees left after gc and image gc: %d", len(trees))
	}
}

// A `rkt run` killed during prepare leaves a pod that gc removes, and gc
// running in a loop never removes a running or preparing pod.
func TestGCWhilePodsStartAndExit(t *testing.T) {
	e, _ := runEnv(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				e.Rkt("gc", "--grace-period=0s", "--expire-prepared=0s")
			}
		}
	}()
	for i := 0; i < 10; i++ {
		r := e.Rkt("run", "example.com/busybox", "--exec=/bin/sh", "--", "-c", "sleep 0.05; echo ok")
		if r.Code != 0 || !strings.Contains(r.Stdout, "ok") {
			t.Errorf("run %d while gc loops: %s", i, r)
		}
	}
	close(stop)
	wg.Wait()
	cmd := exec.Command(harness.Bin("rkt"), append(append([]string{"run"}, e.GlobalFlags()...), "example.com/busybox", "--exec=/bin/true")...)
	cmd.Start()
	time.Sleep(3 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	e.Rkt("gc", "--grace-period=0s", "--expire-prepared=0s").OK(t)
	if l := e.Rkt("list", "--no-legend").OK(t).Stdout; strings.TrimSpace(l) != "" {
		t.Errorf("pods left:\n%s", l)
	}
}
