package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/stage1/native/security/cgroup"
	"github.com/rkt/rkt/stage1/native/security/seccomp"
	"github.com/rkt/rkt/stage1/stage1log"
	"github.com/rkt/rkt/stage1/stage2app"
)

// The app-exec helper is the mode every app process and every entered
// command starts as: the supervisor starts /proc/self/exe as
// EntrypointAppExec with the app's stdio, puts it in the app's cgroup,
// then sends it an appExecConfig on fd 3 (the pipe's EOF is the
// go-ahead). The helper chroots, switches credentials, applies the
// capability sets, no_new_privs and the seccomp filter on its main
// thread and execs the app from that thread.

// appExecConfigFD is the helper's read end of the config pipe;
// appExecErrorFD the write end (close-on-exec) of the pipe on which it
// reports why it could not exec the app. Its EOF tells the supervisor the
// app runs (signals no longer hit the helper).
// appExecRootFD is the app's rootfs, opened by the supervisor: the
// helper chroots through it, since with --private-users it may not look
// up the path (the data directory is not searchable by the pod's ids).
const (
	appExecConfigFD = 3
	appExecErrorFD  = 4
	appExecRootFD   = 5
)

func init() {
	if len(os.Args) > 0 && filepath.Base(os.Args[0]) == EntrypointAppExec {
		// Credentials, capabilities and no_new_privs are per-thread and
		// the capability library reads /proc/self/status (the thread
		// group leader): run main on the main thread and exec from it.
		runtime.LockOSThread()
	}
}

// appExecConfig is what the helper gets from the supervisor.
type appExecConfig struct {
	Rootfs string   `json:"rootfs"`
	Dir    string   `json:"dir"`
	Path   string   `json:"path"`
	Argv   []string `json:"argv"`
	Env    []string `json:"env"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups"`

	Isolators       types.Isolators `json:"isolators,omitempty"`
	InsecureCaps    bool            `json:"insecureCaps,omitempty"`
	InsecureSeccomp bool            `json:"insecureSeccomp,omitempty"`
}

// secOpts are the pod-wide --insecure-options switches.
type secOpts struct {
	caps, seccomp, paths bool
}

// checkSecurity reports isolator errors (capabilities, seccomp) before
// anything of the pod runs.
func checkSecurity(a *App, o secOpts) error {
	var isos types.Isolators
	if a.App != nil {
		isos = a.App.Isolators
	}
	if _, err := caps.Compute(isos, o.caps); err != nil {
		return fmt.Errorf("app %q: %w", a.Name(), err)
	}
	if _, err := seccomp.Build(isos, o.seccomp); err != nil {
		return fmt.Errorf("app %q: %w", a.Name(), err)
	}
	if _, _, err := cgroup.OOMScoreAdj(isos); err != nil {
		return fmt.Errorf("app %q: %w", a.Name(), err)
	}
	return nil
}

// PodDeviceRules are the devices the pod's processes may use: those of
// the minimal /dev, and the host devices the pod's host volumes pass
// (read-only volumes: reading only).
func PodDeviceRules(p *Pod) ([]cgroup.DeviceRule, error) {
	rules := append([]cgroup.DeviceRule{}, cgroup.DefaultDevices...)
	for _, v := range p.Manifest.Volumes {
		if v.Kind != stage2app.VolumeHost {
			continue
		}
		r, err := cgroup.HostDeviceRules(v.Source, v.ReadOnly != nil && *v.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		rules = append(rules, r...)
	}
	return rules, nil
}

// pendingExec is a started app-exec helper that has its configuration
// but may not have executed the program yet.
type pendingExec struct {
	pid    int
	errors *os.File // read end of the helper's error pipe
}

// spawnAppExec starts the helper for cfg with the given stdio and
// process attributes, in cg (when not nil), and hands it its
// configuration; register is called with the pid right after the start.
// It does not wait for the helper's exec (pendingExec.wait does): the
// supervisor starts every app's helper first and then waits for them
// all, so that the helpers' start-up (a Go runtime, the seccomp filter,
// the exec) runs in parallel instead of one app after the other.
func spawnAppExec(cfg *appExecConfig, files []*os.File, sys *syscall.SysProcAttr, cg *cgroup.App, register func(pid int)) (*pendingExec, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	er, ew, err := os.Pipe()
	if err != nil {
		r.Close()
		return nil, err
	}
	rootFD, err := unix.Open(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		r.Close()
		ew.Close()
		er.Close()
		return nil, fmt.Errorf("open the app's rootfs %s: %w", cfg.Rootfs, err)
	}
	root := os.NewFile(uintptr(rootFD), "app-rootfs")
	defer root.Close()
	all := append(append([]*os.File{}, files...), r, ew, root)
	fds := make([]uintptr, len(all))
	for i, f := range all {
		fds[i] = ^uintptr(0) // a nil file is closed in the helper
		if f != nil {
			fds[i] = f.Fd()
		}
	}
	// syscall.ForkExec, not os.StartProcess: the latter probes pidfd
	// support with a throw-away child first, a fork in the pod's hot path.
	fork := func(cgroupFD int) (int, error) {
		var attr syscall.SysProcAttr
		if sys != nil {
			attr = *sys
		}
		if cgroupFD >= 0 {
			attr.UseCgroupFD, attr.CgroupFD = true, cgroupFD
		}
		return syscall.ForkExec("/proc/self/exe", []string{EntrypointAppExec}, &syscall.ProcAttr{
			Dir: "/", Env: []string{}, Files: fds, Sys: &attr,
		})
	}
	var pid int
	if cg != nil {
		// Born in the app's cgroup: no move, no grace period (see cgroup.Start).
		pid, err = cg.Start(fork)
	} else {
		pid, err = fork(-1)
	}
	runtime.KeepAlive(all)
	r.Close()
	ew.Close()
	root.Close()
	if err != nil {
		er.Close()
		return nil, err
	}
	register(pid)
	fail := func(err error) (*pendingExec, error) {
		_ = unix.Kill(pid, unix.SIGKILL)
		er.Close()
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return fail(fmt.Errorf("send the app's configuration: %w", err))
	}
	return &pendingExec{pid: pid, errors: er}, nil
}

// wait returns once the helper executed the program (its error pipe,
// close-on-exec, reached end of file), or with the error it reported.
func (p *pendingExec) wait() error {
	msg, _ := io.ReadAll(p.errors)
	p.errors.Close()
	if len(msg) > 0 {
		return errors.New(string(msg))
	}
	return nil
}

// AppExec is the helper mode (internal entrypoint): it never returns on
// success.
func AppExec(args []string) int {
	unix.CloseOnExec(appExecErrorFD)
	ef := os.NewFile(appExecErrorFD, "app-exec-error")
	l := newLogger(false)
	l.Out = io.MultiWriter(os.Stderr, ef)
	f := os.NewFile(appExecConfigFD, "app-exec-config")
	if f == nil {
		return l.Fail(errors.New("app-exec: no configuration"))
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return l.Fail(fmt.Errorf("app-exec: read the configuration: %w", err))
	}
	cfg := &appExecConfig{}
	if err := json.Unmarshal(data, cfg); err != nil {
		return l.Fail(fmt.Errorf("app-exec: parse the configuration: %w", err))
	}
	if err := cfg.exec(); err != nil {
		return l.Fail(fmt.Errorf("app-exec: %w", err))
	}
	return stage1log.ExitStage1Error // not reached
}

// exec applies the security settings on the calling (main, locked)
// thread and execs the app. The order is the security README's.
func (c *appExecConfig) exec() error {
	set, err := caps.Compute(c.Isolators, c.InsecureCaps)
	if err != nil {
		return err
	}
	filter, err := seccomp.Build(c.Isolators, c.InsecureSeccomp)
	if err != nil {
		return err
	}
	err = unix.Fchdir(appExecRootFD)
	unix.Close(appExecRootFD)
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
		if err := caps.KeepCaps(); err != nil {
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
	if err := caps.Apply(set.ForUID(int(c.UID))); err != nil {
		return err
	}
	if seccomp.NoNewPrivs(c.Isolators, int(c.UID), filter.Active()) {
		if err := seccomp.SetNoNewPrivs(); err != nil {
			return err
		}
	}
	if err := filter.Load(); err != nil {
		return err
	}
	err = syscall.Exec(c.Path, c.Argv, c.Env)
	return fmt.Errorf("execute %s: %w", c.Path, err)
}
