// Package readiness tells when a pod is ready: it marks the pod ready for
// `rkt status --wait-ready` (the rkt/supervisor-status symlink of the
// stage1 rootfs, reference PODF-19) and passes systemd's readiness
// protocol (sd_notify) through the pod. An app whose image or pod
// manifest entry has the annotation appc.io/executor/supports-systemd-notify
// gets a socket at /run/systemd/notify (NOTIFY_SOCKET) and the pod is
// ready only once it sent READY=1; any other app counts as ready once it
// started (reference SYS-SD-02). The stage1 then sends READY=1 to the
// service manager that started rkt, from rkt's own process: the unit's
// main process, so that the default NotifyAccess=main accepts it.
package readiness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/rkt/rkt/stage1/manifest"

	"github.com/rkt/rkt/common/stage1abi"
)

// Annotation marks an app that reports its own readiness with sd_notify.
const Annotation = "appc.io/executor/supports-systemd-notify"

// SocketEnv names the notification socket, in the environment of the
// service manager's children and of the apps that support it.
const SocketEnv = "NOTIFY_SOCKET"

// AppSocket is where an app that supports sd_notify finds its socket.
const AppSocket = "/run/systemd/notify"

// StatusReady is the target of the supervisor-status symlink of a ready
// pod.
const StatusReady = "ready"

// Supports reports whether the app reports its own readiness: the
// annotation is "true" on its pod manifest entry or, failing that, on
// its image.
func Supports(ra *manifest.RuntimeApp, im *manifest.ImageManifest) bool {
	if v, ok := ra.Annotations.Get(Annotation); ok {
		return v == "true"
	}
	if im != nil {
		if v, ok := im.Annotations.Get(Annotation); ok {
			return v == "true"
		}
	}
	return false
}

// MarkReady marks the pod whose stage1 rootfs is stage1Rootfs ready.
func MarkReady(stage1Rootfs string) error {
	p := filepath.Join(stage1Rootfs, filepath.FromSlash(stage1abi.SupervisorStatusRel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("mark the pod ready: %w", err)
	}
	tmp := p + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(StatusReady, tmp); err != nil {
		return fmt.Errorf("mark the pod ready: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("mark the pod ready: %w", err)
	}
	return nil
}

// Notify sends state (e.g. "READY=1") to the service manager named by
// $NOTIFY_SOCKET; without one it does nothing.
func Notify(state string) error {
	name := os.Getenv(SocketEnv)
	if name == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", name, err)
	}
	return nil
}

// maxSocketPath bounds a unix socket's name (sun_path, with its NUL).
const maxSocketPath = 108

// Listener is an app's notification socket.
type Listener struct {
	conn  *net.UnixConn
	path  string
	ready chan struct{}
}

// Listen creates the notification socket at path. Any process that can
// reach the file may send to it: apps of a pod with --private-users run
// as other users of another user namespace.
func Listen(path string) (*Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("notification socket: %w", err)
	}
	_ = os.Remove(path)
	addr := path
	if len(addr) >= maxSocketPath {
		// Pod directories are deep: bind through a directory fd.
		dir, err := os.Open(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("notification socket: %w", err)
		}
		defer dir.Close()
		addr = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
		if len(addr) >= maxSocketPath {
			return nil, fmt.Errorf("notification socket %s: name too long", path)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notification socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		conn.Close()
		return nil, fmt.Errorf("notification socket: %w", err)
	}
	l := &Listener{conn: conn, path: path, ready: make(chan struct{})}
	go l.read()
	return l, nil
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Ready is closed once the app sent READY=1.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Close stops listening and removes the socket.
func (l *Listener) Close() error {
	err := l.conn.Close()
	_ = os.Remove(l.path)
	return err
}

// read takes the app's messages (newline-separated VAR=VALUE lines, as
// sd_notify(3) sends them) until the socket is closed.
func (l *Listener) read() {
	buf := make([]byte, 4096)
	ready := false
	for {
		n, _, err := l.conn.ReadFromUnix(buf)
		if err != nil {
			return // closed
		}
		if !ready && hasReady(string(buf[:n])) {
			ready = true
			close(l.ready)
		}
	}
}

func hasReady(msg string) bool {
	for _, line := range strings.Split(msg, "\n") {
		if line == "READY=1" {
			return true
		}
	}
	return false
}
