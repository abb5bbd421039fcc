package readiness

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/stage1/manifest"
)

func send(t *testing.T, path, msg string) {
	t.Helper()
	// Through the directory, as an app reaches its socket at a short path.
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	name := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestListenerReady(t *testing.T) {
	// Longer than a socket name may be, as pod directories are.
	path := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60), "app.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket %v %v", fi, err)
	}
	send(t, path, "STATUS=starting\nREADY=0")
	select {
	case <-l.Ready():
		t.Fatal("ready before READY=1")
	case <-time.After(100 * time.Millisecond):
	}
	send(t, path, "STATUS=up\nREADY=1\n")
	select {
	case <-l.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("READY=1 not seen")
	}
	send(t, path, "READY=1") // again: no double close
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestNotify(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@rkt-readiness-test"} {
		srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(SocketEnv, name)
		if err := Notify("READY=1"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := srv.ReadFromUnix(buf)
		if err != nil || string(buf[:n]) != "READY=1" {
			t.Errorf("%s: got %q %v", name, buf[:n], err)
		}
		srv.Close()
	}
	t.Setenv(SocketEnv, "")
	if err := Notify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}

func TestSupportsAndMarkReady(t *testing.T) {
	ra := &manifest.RuntimeApp{}
	im := &manifest.ImageManifest{}
	if Supports(ra, im) || Supports(ra, nil) {
		t.Error("no annotation: supported")
	}
	im.Annotations = manifest.Annotations{{Name: Annotation, Value: "true"}}
	if !Supports(ra, im) {
		t.Error("image annotation ignored")
	}
	ra.Annotations = manifest.Annotations{{Name: Annotation, Value: "false"}}
	if Supports(ra, im) {
		t.Error("the pod manifest's annotation must win over the image's")
	}
	dir := t.TempDir()
	for range 2 { // again: replaces the link
		if err := MarkReady(dir); err != nil {
			t.Fatal(err)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "rkt", "supervisor-status")); err != nil || target != StatusReady {
		t.Errorf("supervisor-status -> %q %v", target, err)
	}
}
