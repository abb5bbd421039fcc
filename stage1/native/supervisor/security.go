package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/appexec"
	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/stage1/native/security/cgroup"
	"github.com/rkt/rkt/stage1/native/security/seccomp/load"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Every app process and every entered command starts as the app-exec
// helper (package appexec, /app-exec beside the supervisor in the stage1
// image) with the app's stdio, born in the app's cgroup; the supervisor
// then sends it an appexec.Config on appexec.ConfigFD (the pipe's EOF is
// the go-ahead), in which everything the helper applies is worked out
// already: the capability sets, no_new_privs and the assembled seccomp
// filter.

// appExecBinary is the helper binary (beside the supervisor's), opened
// once: it is executed through /proc/self/fd (appexec.BinaryFD), which
// resolves in the apps' user namespaces too.
var appExecBinary = sync.OnceValues(func() (*os.File, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the app-exec helper: %w", err)
	}
	path := filepath.Join(filepath.Dir(self), AppExecBinary)
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the app-exec helper %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
})

// secure fills c's capability sets (for c.UID), no_new_privs and seccomp
// filter (filter, from Filters; nil for none) from the isolators.
func secure(c *appexec.Config, isos types.Isolators, insecureCaps bool, filter []byte) error {
	set, err := caps.Compute(isos, insecureCaps)
	if err != nil {
		return err
	}
	c.Caps = set.ForUID(int(c.UID)).Masks()
	c.NoNewPrivs = caps.NoNewPrivs(isos, int(c.UID), len(filter) > 0)
	c.Seccomp = filter
	return nil
}

// readFilters reads the Filters `run` wrote into FiltersFD.
func readFilters() (Filters, error) {
	f := os.NewFile(FiltersFD, "seccomp-filters")
	if f == nil {
		return nil, errors.New("no seccomp filters from run")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seccomp filters: %w", err)
	}
	// Read from the start: the file offset is shared with `run`.
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("seccomp filters: %w", err)
	}
	var fs Filters
	if err := json.Unmarshal(data, &fs); err != nil {
		return nil, fmt.Errorf("seccomp filters: %w", err)
	}
	return fs, nil
}

// secOpts are the pod-wide --insecure-options switches.
type secOpts struct {
	caps, seccomp, paths bool
}

// checkSecurity reports isolator errors (capabilities; `run` checked the
// seccomp ones) before anything of the pod runs.
func checkSecurity(a *App, o secOpts) error {
	var isos types.Isolators
	if a.App != nil {
		isos = a.App.Isolators
	}
	if _, err := caps.Compute(isos, o.caps); err != nil {
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

// pendingExec is a started app process that may not have executed its
// program yet.
type pendingExec struct {
	pid int
	// done returns once the program runs, or with what stopped it.
	done func() error
}

// wait returns once the process executed its program, or with the
// error that stopped it.
func (p *pendingExec) wait() error { return p.done() }

// spawn starts a process of an app for cfg: directly (package appspawn)
// unless it needs what only the app-exec helper does (a new user
// namespace: --private-users); see spawnDirect and spawnAppExec.
func spawn(cfg *appexec.Config, files []*os.File, sys *syscall.SysProcAttr, cg *cgroup.App, register func(pid int)) (*pendingExec, error) {
	if sys == nil || (sys.Cloneflags == 0 && sys.Credential == nil && !sys.Setctty && !sys.Foreground && len(files) <= 3) {
		return spawnDirect(cfg, files, sys, cg, register)
	}
	return spawnAppExec(cfg, files, sys, cg, register)
}

// spawnDirect forks the process from the supervisor: its child applies
// cfg with raw system calls and execs the program, with no helper
// program in between (appspawn). It joins the app's v1 cgroups and sets
// its oom_score_adj itself; the v2 cgroup is given to clone3.
func spawnDirect(cfg *appexec.Config, files []*os.File, sys *syscall.SysProcAttr, cg *cgroup.App, register func(pid int)) (*pendingExec, error) {
	prog, err := load.Decode(cfg.Seccomp)
	if err != nil {
		return nil, err
	}
	rootFD, err := unix.Open(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the app's rootfs %s: %w", cfg.Rootfs, err)
	}
	defer unix.Close(rootFD)
	spec := &appspawn.Spec{
		Path: cfg.Path, Argv: cfg.Argv, Env: cfg.Env, Dir: cfg.Dir, RootFD: rootFD,
		UID: cfg.UID, GID: cfg.GID, Groups: cfg.Groups,
		Caps: cfg.Caps, NoNewPrivs: cfg.NoNewPrivs, Seccomp: prog,
	}
	copy(spec.Stdio[:], files)
	if sys != nil {
		spec.Setpgid, spec.Setsid = sys.Setpgid, sys.Setsid
	}
	var pe *appspawn.Pending
	fork := func(cgroupFD int) (int, error) {
		p, err := appspawn.Start(spec, cgroupFD)
		if err != nil {
			return 0, err
		}
		pe = p
		return p.Pid, nil
	}
	var pid int
	if cg != nil {
		spec.Tasks, spec.OOMScoreAdj = cg.TasksFiles(), cg.OOMScoreAdj()
		pid, err = cg.StartSelf(fork)
	} else {
		pid, err = fork(-1)
	}
	if err != nil {
		return nil, err
	}
	register(pid)
	return &pendingExec{pid: pid, done: pe.Wait}, nil
}

// spawnAppExec starts the helper for cfg with the given stdio and
// process attributes, in cg (when not nil), and hands it its
// configuration; register is called with the pid right after the start.
// It does not wait for the helper's exec (pendingExec.wait does): the
// supervisor starts every app's helper first and then waits for them
// all, so that the helpers' start-up (a Go runtime, the seccomp filter,
// the exec) runs in parallel instead of one app after the other.
func spawnAppExec(cfg *appexec.Config, files []*os.File, sys *syscall.SysProcAttr, cg *cgroup.App, register func(pid int)) (*pendingExec, error) {
	helper, err := appExecBinary()
	if err != nil {
		return nil, err
	}
	var tasks []*os.File
	if cg != nil {
		tasks = cg.TasksFiles()
	}
	cfg.Cgroups = len(tasks)
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
	all := append(append(append([]*os.File{}, files...), r, ew, root, helper), tasks...)
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
		return syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(appexec.BinaryFD), []string{AppExecBinary}, &syscall.ProcAttr{
			Dir: "/", Env: helperEnv, Files: fds, Sys: &attr,
		})
	}
	var pid int
	if cg != nil {
		// The helper joins the app's cgroup itself (see cgroup.Start).
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
		return nil, fmt.Errorf("starting the app-exec helper: %w", err)
	}
	register(pid)
	if _, err := w.Write(data); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		er.Close()
		return nil, fmt.Errorf("send the app's configuration: %w", err)
	}
	return &pendingExec{pid: pid, done: func() error { return helperError(er) }}, nil
}

// helperEnv is the app-exec helper's own environment (the app gets
// Config.Env). One P: the helper's work is one thread's, and a Go
// runtime with one P starts fewer threads: 0.86 ms of CPU instead of
// 1.11 here, which counts when a pod's apps start together.
var helperEnv = []string{"GOMAXPROCS=1"}

// helperError returns once the helper executed the program (its error
// pipe, close-on-exec, reached end of file), or with the error it
// reported.
func helperError(pipe *os.File) error {
	msg, _ := io.ReadAll(pipe)
	pipe.Close()
	if len(msg) > 0 {
		return errors.New(string(msg))
	}
	return nil
}
