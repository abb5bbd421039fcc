// Package appexec is the native stage1's app-exec helper: every app
// process and every entered command starts as this small program, which
// takes the app's root, credentials, capability sets, no_new_privs and
// seccomp filter on its main thread, all worked out beforehand by the
// supervisor, and execs the app from that thread.
//
// It is a binary of its own (/app-exec in the stage1 image) rather than
// a mode of the supervisor's: it starts once per app and per `rkt
// enter`, and a Go program that links only this package and
// golang.org/x/sys/unix starts in about half the time of one that
// carries the supervisor's libraries (their package initialisation and
// page faults).
package appexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/rkt/rkt/stage1/native/security/caps/capset"
	"github.com/rkt/rkt/stage1/native/security/seccomp/load"

	"golang.org/x/sys/unix"
)

// The helper's file descriptors besides stdio. ConfigFD is the read end
// of the pipe the supervisor writes the Config to (its end of file is
// the go-ahead); ErrorFD the write end (close-on-exec) of the pipe on
// which the helper says why it could not exec the app, whose end of file
// tells the supervisor the app runs; RootFD the app's rootfs, opened by
// the supervisor: the helper chroots through it, since with
// --private-users it may not look the path up (the data directory is not
// searchable by the pod's ids). BinaryFD is the helper's own binary,
// which the supervisor executes as /proc/self/fd/6 for the same reason:
// a path through the data directory would not resolve in a user
// namespace. From TasksFD on come Config.Cgroups `tasks` files of the
// app's cgroup v1 hierarchies, opened for writing by the supervisor.
const (
	ConfigFD = 3
	ErrorFD  = 4
	RootFD   = 5
	BinaryFD = 6
	TasksFD  = 7
)

// ExitError is the helper's exit status when it cannot exec the app.
const ExitError = 254

// Config is what the helper gets from the supervisor.
type Config struct {
	Rootfs string   `json:"rootfs"` // for messages only
	Dir    string   `json:"dir"`
	Path   string   `json:"path"`
	Argv   []string `json:"argv"`
	Env    []string `json:"env"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups"`
	// Caps are the capability sets the app runs with.
	Caps capset.Masks `json:"caps"`
	// NoNewPrivs sets no_new_privs before the filter is loaded.
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// Cgroups is the number of `tasks` files from TasksFD on: the helper
	// joins the app's v1 cgroups itself, writing "0" to each (which moves
	// the calling thread only, without the global lock that moving a
	// process takes), from the thread that then execs the app.
	Cgroups int `json:"cgroups,omitempty"`
	// Seccomp is the assembled filter (load.Encode); none when empty.
	Seccomp []byte `json:"seccomp,omitempty"`
}

// Main is the helper's main function; it only returns on failure, with
// the exit status.
func Main() int {
	// Credentials, capabilities and no_new_privs are per thread: all of
	// it happens on the main thread, which then execs the app.
	runtime.LockOSThread()
	unix.Close(BinaryFD) // not for the app
	unix.CloseOnExec(ErrorFD)
	fail := func(err error) int {
		msg := fmt.Sprintf("app-exec: %v", err)
		_, _ = os.NewFile(ErrorFD, "app-exec-error").WriteString(msg)
		fmt.Fprintf(os.Stderr, "stage1: %s\n", msg)
		return ExitError
	}
	f := os.NewFile(ConfigFD, "app-exec-config")
	if f == nil {
		return fail(errors.New("no configuration"))
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("read the configuration: %w", err))
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return fail(fmt.Errorf("parse the configuration: %w", err))
	}
	return fail(c.exec())
}

// exec applies c on the calling thread and execs the app; it returns
// only on failure. The order is the security README's.
func (c *Config) exec() error {
	for fd := TasksFD; fd < TasksFD+c.Cgroups; fd++ {
		_, err := unix.Write(fd, []byte("0"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("joining the app's cgroup: %w", err)
		}
	}
	err := unix.Fchdir(RootFD)
	unix.Close(RootFD)
	if err != nil {
		return fmt.Errorf("chdir to %s: %w", c.Rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", c.Rootfs, err)
	}
	if err := unix.Chdir(c.Dir); err != nil {
		return fmt.Errorf("chdir %s: %w", c.Dir, err)
	}
	if c.UID != 0 {
		// Keep the permitted set across the switch to the app's uid:
		// dropping the bounding set afterwards needs CAP_SETPCAP.
		if err := capset.KeepCaps(); err != nil {
			return err
		}
	}
	// Raw per-thread syscalls: the Go wrappers change every thread, and
	// only this thread's state survives the execve.
	var gp unsafe.Pointer
	if len(c.Groups) > 0 {
		gp = unsafe.Pointer(&c.Groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(c.Groups)), uintptr(gp), 0); e != 0 {
		return fmt.Errorf("setgroups %v: %w", c.Groups, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(c.GID), uintptr(c.GID), uintptr(c.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", c.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(c.UID), uintptr(c.UID), uintptr(c.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", c.UID, e)
	}
	if err := capset.Apply(c.Caps); err != nil {
		return err
	}
	if c.NoNewPrivs {
		if err := load.NoNewPrivs(); err != nil {
			return err
		}
	}
	prog, err := load.Decode(c.Seccomp)
	if err != nil {
		return err
	}
	if err := load.Filter(prog); err != nil {
		return err
	}
	err = syscall.Exec(c.Path, c.Argv, c.Env)
	return fmt.Errorf("execute %s: %w", c.Path, err)
}
