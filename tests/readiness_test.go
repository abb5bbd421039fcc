package tests

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

// notifySocket listens where a service manager's NOTIFY_SOCKET would be
// and sets the variable for the rkt run started next.
func notifySocket(t *testing.T, e *harness.Env) *net.UnixConn {
	t.Helper()
	path := filepath.Join(e.Root, "notify.sock")
	os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

// notified returns the next message on c, or "" after wait.
func notified(c *net.UnixConn, wait time.Duration) string {
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := c.ReadFromUnix(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// sdnotifyBin builds the test app that sends a state to $NOTIFY_SOCKET
// into a directory of its own, for a host volume.
func sdnotifyBin(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sdnotify"), filepath.Join(harness.Top(), "tests", "testdata", "sdnotify", "main.go"))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sdnotify: %v: %s", err, out)
	}
	return dir
}

// TestReadiness: a pod is ready (rkt status --wait-ready, READY=1 to the
// service manager that started rkt) once its app started, with both
// stage1s.
func TestReadiness(t *testing.T) {
	e, _ := runEnv(t)
	for _, stage1 := range []string{"--stage1-from-dir=stage1-native.aci", "--stage1-from-dir=stage1-fly.aci"} {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(stage1, "--stage1-from-dir=stage1-"), ".aci"), func(t *testing.T) {
			c := notifySocket(t, e)
			cmd, uuid := startPod(t, e, stage1, "example.com/busybox", "--exec=/bin/sleep", "--", "1000")
			if msg := notified(c, 20*time.Second); msg != "READY=1" {
				t.Errorf("service manager got %q, want READY=1", msg)
			}
			r := e.Rkt("status", "--wait-ready=20s", uuid).OK(t)
			if !strings.Contains(r.Stdout, "state=running") {
				t.Errorf("status --wait-ready: %s", r)
			}
			e.Rkt("stop", "--force", uuid).OK(t)
			cmd.Wait()
		})
	}
}

// TestReadinessSdNotifyApp: an app annotated
// appc.io/executor/supports-systemd-notify=true finds NOTIFY_SOCKET, and
// the pod is ready only once it sent READY=1.
func TestReadinessSdNotifyApp(t *testing.T) {
	e, _ := runEnv(t)
	bin := sdnotifyBin(t)
	for _, stage1 := range []string{"--stage1-from-dir=stage1-native.aci", "--stage1-from-dir=stage1-fly.aci"} {
		for _, userns := range []string{"", "--private-users"} {
			if userns != "" && strings.Contains(stage1, "fly") {
				continue // fly shares the host's user namespace
			}
			name := strings.TrimSuffix(strings.TrimPrefix(stage1, "--stage1-from-dir=stage1-"), ".aci") + userns
			t.Run(name, func(t *testing.T) {
				c := notifySocket(t, e)
				trigger := filepath.Join(t.TempDir(), "go")
				if err := os.MkdirAll(trigger, 0o777); err != nil {
					t.Fatal(err)
				}
				args := []string{stage1,
					"--volume=bin,kind=host,source=" + bin + ",readOnly=true",
					"--volume=trigger,kind=host,source=" + trigger,
				}
				if userns != "" {
					args = append(args, userns)
				}
				args = append(args, "example.com/busybox",
					"--annotation=appc.io/executor/supports-systemd-notify=true",
					"--mount=volume=bin,target=/notify", "--mount=volume=trigger,target=/trigger",
					"--exec=/bin/sh", "--", "-c",
					`echo started; test "$NOTIFY_SOCKET" = /run/systemd/notify || exit 3; while ! test -e /trigger/go; do sleep 0.05; done; echo triggered; /notify/sdnotify "STATUS=up
READY=1"; echo sent $?; sleep 1000`)
				cmd, uuid := startPod(t, e, args...)
				// Running but not ready: the app has not said so.
				if msg := notified(c, 500*time.Millisecond); msg != "" {
					t.Fatalf("service manager got %q before the app was ready", msg)
				}
				if r := e.Rkt("status", "--wait-ready=200ms", uuid); r.Code == 0 {
					t.Fatalf("status --wait-ready succeeded before the app was ready: %s", r)
				}
				if err := os.WriteFile(filepath.Join(trigger, "go"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if msg := notified(c, 20*time.Second); msg != "READY=1" {
					logs, _ := os.ReadFile(filepath.Join(e.DataDir, "pods", "run", uuid, "logs", "busybox.log"))
					t.Errorf("service manager got %q, want READY=1; app log:\n%s", msg, logs)
				}
				e.Rkt("status", "--wait-ready=20s", uuid).OK(t)
				e.Rkt("stop", "--force", uuid).OK(t)
				cmd.Wait()
			})
		}
	}
}
