package fly

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/poddir"
	"github.com/rkt/rkt/stage1/podmount"
	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/stage1/readiness"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Modes of the files fly writes. Status and pid files are read by
// unprivileged `rkt status` and `rkt list`; env files may hold secrets.
const (
	publicFileMode  = 0o644
	privateFileMode = 0o640
)

// Run is the `run` entrypoint (reference S1-RUN-01, FLV-05). It runs in
// the pod directory, sets up the app's mounts, starts the app chrooted
// in its rootfs with its credentials, records the app's pid, waits for
// it, records its exit status and returns it.
func Run(args []string) int {
	ra, err := stage1abi.ParseRunArgs(args)
	if err != nil {
		return newLogger(false).Fail(err)
	}
	l := newLogger(ra.Debug)
	if ra.MDSToken != "" {
		return l.Fail(fmt.Errorf("--mds-register needs a pod network, and fly pods share the host's"))
	}
	code, err := run(ra, l)
	if err != nil {
		return l.Fail(err)
	}
	return code
}

// run is Run after argument parsing: it returns the app's exit status,
// or an error for a stage1 failure.
func run(ra *stage1abi.RunArgs, l *logger) (int, error) {
	signals := podproc.NotifyEarly(podproc.NotifySignals)
	dir, err := os.Getwd()
	if err != nil {
		return 0, fmt.Errorf("pod directory: %w", err)
	}
	p, err := LoadPod(dir)
	if err != nil {
		return 0, err
	}
	if len(p.Manifest.Ports) > 0 {
		// Forwarding needs a pod network; a fly app listens on the host's
		// own interfaces already.
		return 0, fmt.Errorf("--port needs a pod network, and fly pods share the host's: the app's ports are the host's ports")
	}
	lockFD, err := podproc.LockFD()
	if err != nil {
		return 0, err
	}
	dns, err := stage2app.ParseDNSModes(ra.DNSConfMode)
	if err != nil {
		return 0, err
	}
	noteIgnored(ra, p, l)

	rootfs := p.AppRootfs()
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return 0, fmt.Errorf("app %q has no rootfs at %s", p.AppName(), rootfs)
	}
	if err := enterPrivateMountNamespace(); err != nil {
		return 0, err
	}
	var notify *readiness.Listener
	if readiness.Supports(p.RuntimeApp, p.Image) {
		if notify, err = readiness.Listen(p.Stage1Path("rkt", "notify", p.AppName()+".sock")); err != nil {
			return 0, err
		}
		defer notify.Close()
	}
	if err := setupMounts(p, dns, notify, l); err != nil {
		return 0, err
	}

	app := p.App
	creds, err := stage2app.ResolveCredentials(rootfs, app.User, app.Group, app.SupplementaryGIDs)
	if err != nil {
		return 0, err
	}
	env := manifest.Env(app.Environment)
	if notify != nil {
		env = append(env, readiness.SocketEnv+"="+readiness.AppSocket)
	}
	wd := app.WorkingDirectory
	if wd == "" {
		wd = "/"
	}
	if err := stage2app.CheckWorkDir(rootfs, wd); err != nil {
		return 0, err
	}
	pathEnv, _ := stage2app.LookupEnv(env, "PATH")
	execPath, err := stage2app.LookPath(rootfs, app.Exec[0], pathEnv, wd)
	if err != nil {
		return 0, fmt.Errorf("app %q: %w", p.AppName(), err)
	}
	if err := writeEnvFile(p, env, l); err != nil {
		return 0, err
	}
	statusDir := p.Stage1Path(filepath.FromSlash(stage1abi.StatusDir))
	if err := os.MkdirAll(statusDir, 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", statusDir, err)
	}
	statusFile := filepath.Join(statusDir, p.AppName())
	if err := atomicfile.WriteInPlace(statusFile+"-created", nil, publicFileMode); err != nil {
		return 0, err
	}

	// The app gets its own process group, except when we own the
	// terminal: then it stays in ours so that it can read the terminal,
	// and the terminal's signals reach it directly.
	fg := podproc.OwnsTerminal()
	sigs := signals()
	defer podproc.StopLate(sigs)
	l.Debugf("starting %q (%s) as %d:%d %v in %s, cwd %s", app.Exec, execPath, creds.UID, creds.GID, creds.Groups, rootfs, wd)
	pid, err := startApp(rootfs, execPath, app.Exec, wd, env, creds, lockFD, fg)
	if err != nil {
		return 0, fmt.Errorf("can't execute %q in app %q: %w", app.Exec[0], p.AppName(), err)
	}
	proc := podproc.Track(pid)
	defer proc.Close()
	done := make(chan struct{})
	go proc.Forward(sigs, fg, done)
	defer close(done)

	if err := writeStarted(p, statusFile, pid, fg); err != nil {
		proc.Kill()
		return 0, err
	}
	go announceReady(p, notify, l)
	state, err := proc.Wait()
	if err != nil {
		return 0, fmt.Errorf("wait for app %q: %w", p.AppName(), err)
	}
	code := podproc.WaitExitStatus(state)
	l.Debugf("app %q exited: %v (status %d)", p.AppName(), state, code)
	if err := atomicfile.Publish(statusFile, []byte(strconv.Itoa(code)), publicFileMode); err != nil {
		l.Warnf("can't record the exit status of app %q: %v", p.AppName(), err)
	}
	return code, nil
}

// startApp starts the app chrooted in rootfs, in wd, with exactly env,
// the credentials, our stdio, and the pod lock (RKT_LOCK_FD) at the same
// fd number, so that the pod counts as running exactly as long as the app
// (or this process) lives. It gets its own process group unless it
// shares our terminal (fg). syscall.ForkExec rather than os.StartProcess: the latter first probes
// pidfd support by forking a throw-away child, a cost on every pod start
// for a feature a single wait does not need.
func startApp(rootfs, execPath string, argv []string, wd string, env []string, creds *stage2app.Credentials, lockFD int, fg bool) (int, error) {
	files := make([]uintptr, max(3, lockFD+1))
	for i := range files {
		files[i] = ^uintptr(0) // closed in the app
	}
	files[0], files[1], files[2] = 0, 1, 2
	files[lockFD] = uintptr(lockFD)
	// The app is forked from this thread and takes its timer slack: the
	// one of fly's caller, not fly's own (stage1abi.CallerTimerSlack).
	if slack := stage1abi.CallerTimerSlack(); slack != 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0); err != nil {
			return 0, fmt.Errorf("setting the timer slack: %w", err)
		}
	}
	return syscall.ForkExec(execPath, argv, &syscall.ProcAttr{
		Dir:   wd,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Chroot:     rootfs,
			Credential: &syscall.Credential{Uid: creds.UID, Gid: creds.GID, Groups: creds.Groups},
			Setpgid:    !fg,
		},
	})
}

// announceReady marks the pod ready once its app is: at once, or when
// it sent READY=1 if it supports sd_notify (notify not nil), and tells
// the service manager that started rkt, if any. This process is the
// unit's main process (rkt execs its way down to here), the only one
// the default NotifyAccess=main listens to.
func announceReady(p *Pod, notify *readiness.Listener, l *logger) {
	if notify != nil {
		<-notify.Ready()
	}
	if err := readiness.MarkReady(p.Stage1Path()); err != nil {
		l.Warnf("%v", err)
	}
	if err := readiness.Notify("READY=1"); err != nil {
		l.Warnf("%v", err)
	}
}

// setupMounts makes every mount of the app (in our private namespace):
// the host's /dev, /proc and /sys, /tmp, DNS files, volumes, the app's
// sd_notify socket, and a read-only root when the pod manifest asks for
// one.
func setupMounts(p *Pod, dns stage2app.DNSModes, notify *readiness.Listener, l *logger) error {
	rootfs := p.AppRootfs()
	m := &mounter{Rootfs: podmount.Rootfs{Path: rootfs, Debugf: l.Debugf}, log: l}
	ro := p.RuntimeApp.ReadOnlyRootFS
	if ro {
		// A bind of the rootfs on itself, so that it can be made
		// read-only without touching the mounts made on it.
		if err := podmount.Bind(rootfs, rootfs, true, false); err != nil {
			return err
		}
	}
	for _, fs := range []string{"/dev", "/proc", "/sys"} {
		if err := m.hostFS(fs); err != nil {
			return err
		}
	}
	if err := stage2app.EnsureTmp(rootfs); err != nil {
		return err
	}
	if err := setupDNS(m, p, dns); err != nil {
		return err
	}
	vms, warnings, err := stage2app.PlanVolumes(p.Manifest, p.RuntimeApp, p.App)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		l.Warnf("%s", w)
	}
	for _, vm := range vms {
		if err := m.MountVolume(p.Dir, vm); err != nil {
			return err
		}
	}
	if notify != nil {
		if _, err := m.BindInto(notify.Path(), readiness.AppSocket, false, false); err != nil {
			return fmt.Errorf("the sd_notify socket: %w", err)
		}
	}
	if ro {
		if err := podmount.RemountReadOnly(rootfs); err != nil {
			return err
		}
	}
	return nil
}

// writeEnvFile writes the app's env file at rkt/env/<app> in the stage1
// rootfs.
func writeEnvFile(p *Pod, env []string, l *logger) error {
	data, skipped := stage2app.FormatEnvFile(env)
	for _, name := range skipped {
		l.Warnf("environment variable %q holds a newline: left out of the env file", name)
	}
	return poddir.WriteEnvFile(p.Dir, p.AppName(), data)
}

// writeStarted records a started app: rkt/status/<app>-started, then
// pgid, then pid last (readers poll for pid, so it must come last and
// appear whole).
func writeStarted(p *Pod, statusFile string, pid int, fg bool) error {
	if err := atomicfile.WriteInPlace(statusFile+"-started", nil, publicFileMode); err != nil {
		return err
	}
	pgid := pid
	if fg {
		pgid = unix.Getpgrp()
	}
	if err := atomicfile.WriteInPlace(filepath.Join(p.Dir, stage1abi.PGIDFile), []byte(strconv.Itoa(pgid)), publicFileMode); err != nil {
		return fmt.Errorf("write the pgid file: %w", err)
	}
	if err := atomicfile.Publish(filepath.Join(p.Dir, stage1abi.PIDFile), []byte(strconv.Itoa(pid)), publicFileMode); err != nil {
		return fmt.Errorf("write the pid file: %w", err)
	}
	return nil
}

// noteIgnored tells about the run arguments fly has no use for.
func noteIgnored(ra *stage1abi.RunArgs, p *Pod, l *logger) {
	if ra.PrivateUsers != "" {
		l.Warnf("--private-users is not supported by the fly flavor: ignored")
	}
	if ra.Net != "" && ra.Net != "default" && ra.Net != "host" {
		l.Warnf("the fly flavor always uses the host's network: --net=%s ignored", ra.Net)
	}
	if ra.Mutable {
		l.Warnf("the fly flavor does not support mutable pods: --mutable ignored")
	}
	l.Debugf("ignoring hostname %q, ipc %q, mds token, isolation flags: fly shares the host's namespaces", ra.Hostname, ra.IPC)
	if p.App != nil && len(p.App.Isolators) > 0 {
		l.Debugf("ignoring %d isolators: fly has no cgroups, capabilities or seccomp", len(p.App.Isolators))
	}
}
