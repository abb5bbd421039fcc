package supervisor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/userns"
	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/security/cgroup"
	"github.com/rkt/rkt/stage1/poddir"
	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/stage1/readiness"
	"github.com/rkt/rkt/stage1/stage2app"
)

// KillGrace is how long the supervisor waits, after an app failed and
// the others got SIGTERM, before it kills everything left.
const KillGrace = 5 * time.Second

// LogsDir is the directory of the pod directory holding <app>.log.
const LogsDir = "logs"

// appProc is an app as the supervisor runs it.
type appProc struct {
	app      *App
	rootfs   string
	execPath string
	wd       string
	env      []string
	creds    *stage2app.Credentials
	status   string // rkt/status/<app>
	cg       *cgroup.App
	// sec is what the app's isolators ask, worked out by `run`.
	sec AppSecurity

	pid    int
	ch     chan unix.WaitStatus
	exited bool
	code   int

	// lw is the app's log (nil when the pod is interactive).
	lw *lockedWriter
	// preStart and postStop are the app's event handlers (nil if none).
	preStart, postStop *hook
	// postCh receives the status of the running post-stop handler.
	postCh chan unix.WaitStatus
	// notify is the app's sd_notify socket, when it reports its own
	// readiness (package readiness).
	notify *readiness.Listener
}

// supervisor is the pod's PID 1.
type supervisor struct {
	pod  *Pod
	log  *logger
	apps []*appProc
	fg   bool

	// mu guards waiters, early and starting. A child is registered in
	// waiters once its start returned its pid, and the reaper hands its
	// status to the registered channel; while starts are under way
	// (starting > 0) the reaper keeps the statuses of children nobody
	// registered yet in early, where the registration finds them, so a
	// child that exits at once is never missed, and starts need not
	// wait for each other.
	mu       sync.Mutex
	waiters  map[int]chan unix.WaitStatus
	early    map[int]unix.WaitStatus
	starting int

	copiers sync.WaitGroup
	logs    []*os.File

	// keepPaths is --insecure-options=paths: /proc and /sys unmasked
	// (`run` applied the capability and seccomp ones to Security).
	keepPaths bool
	security  Security // what the apps' isolators ask, from `run`
	cg        *cgroup.Pod

	// userNS is the pod's user namespace with --private-users (the one
	// `run` made for idmapped mounts): every app process joins it.
	userNS *os.File

	// stopping is set when a stop signal arrived while a pre-start
	// handler ran: the apps not started yet are not started.
	stopping bool
}

// Init is the pod supervisor, PID 1 of the pod's namespaces (internal
// entrypoint, started by `run` with the run arguments).
func Init(args []string) int {
	ra, err := stage1abi.ParseRunArgs(args)
	if err != nil {
		return newLogger(false).Fail(err)
	}
	l := newLogger(ra.Debug)
	code, err := supervise(ra, l)
	if err != nil {
		// Nothing of the pod may outlive us.
		_ = unix.Kill(-1, unix.SIGKILL)
		return l.Fail(err)
	}
	return code
}

func supervise(ra *stage1abi.RunArgs, l *logger) (int, error) {
	for _, fd := range []int{LockFD, SocketFD, SyncFD, ReadyFD, SecurityFD} {
		unix.CloseOnExec(fd)
	}
	// os/signal's first Notify waits for a new OS thread: it happens
	// while the pod is set up.
	signals := podproc.NotifyEarly(func() chan os.Signal {
		sigs := make(chan os.Signal, 32)
		signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT)
		return sigs
	})
	dir, err := os.Getwd()
	if err != nil {
		return 0, fmt.Errorf("pod directory: %w", err)
	}
	// The manifests are read and parsed (~0.4 ms) while the namespaces
	// are set up: nothing of that changes them.
	type loaded struct {
		p   *Pod
		err error
	}
	podc := make(chan loaded, 1)
	go func() {
		p, err := LoadPod(dir)
		podc <- loaded{p, err}
	}()
	// Wait until `run` has set up the pod's network and cgroups.
	if sync := os.NewFile(SyncFD, "sync"); sync != nil {
		_, _ = io.ReadAll(sync)
		sync.Close()
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return 0, fmt.Errorf("make all mounts private: %w", err)
	}
	// Our own /proc: pids under /proc (oom_score_adj of the apps) must
	// be the pod's, not the host's.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return 0, fmt.Errorf("mount /proc: %w", err)
	}
	hostname := ra.Hostname
	if hostname == "" {
		hostname = "rkt-" + ra.UUID
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		return 0, fmt.Errorf("set the hostname: %w", err)
	}
	if mode, _ := NetMode(ra.Net); mode != NetHost {
		if err := LoopbackUp(); err != nil {
			return 0, err
		}
	}
	dns, err := stage2app.ParseDNSModes(ra.DNSConfMode)
	if err != nil {
		return 0, err
	}
	r := <-podc
	if r.err != nil {
		return 0, r.err
	}
	p := r.p
	pf, err := writePodFiles(p, hostname, dns)
	if err != nil {
		return 0, err
	}
	s := &supervisor{pod: p, log: l, fg: os.Getenv(ForegroundEnv) == "1", waiters: map[int]chan unix.WaitStatus{}, early: map[int]unix.WaitStatus{}}
	s.keepPaths = ra.DisablePaths
	if s.security, err = readSecurity(); err != nil {
		return 0, err
	}
	var ids *IDMapper
	if ra.PrivateUsers != "" {
		r, err := userns.Parse(ra.PrivateUsers)
		if err != nil {
			return 0, err
		}
		if mode, _ := NetMode(ra.Net); mode != NetHost {
			if err := allowUnprivilegedNet(); err != nil {
				return 0, err
			}
		}
		// `run` made the rootfs idmapped and passes the namespace for
		// the volumes.
		// The apps join it too: it stays open for the pod's life (the
		// File owns the fd; ids only borrows it for the mounts).
		unix.CloseOnExec(UserNSFD)
		s.userNS = os.NewFile(UserNSFD, "pod-userns")
		ids = &IDMapper{ids: r, nsfd: UserNSFD}
	}
	cgroup.Warn = func(msg string) { l.Warnf("%s", msg) }
	if s.cg, err = openPodCgroup(ra.UUID); err != nil {
		return 0, err
	}
	// The apps' mounts, cgroups and files are independent: made in
	// parallel, a pod of many apps is ready sooner.
	// The first app is set up alone: the others bind its /proc, /sys
	// and /dev (see setupAppMounts).
	s.apps = make([]*appProc, len(p.Apps))
	errs := make([]error, len(p.Apps))
	var shared []string
	// Each app's volume mounts, planned once: they also decide whether
	// the apps can share one /dev.
	vols := make([][]stage2app.VolumeMount, len(p.Apps))
	for i, a := range p.Apps {
		vms, warnings, err := stage2app.PlanVolumes(p.Manifest, a.RuntimeApp, a.App)
		if err != nil {
			return 0, fmt.Errorf("app %q: %w", a.Name(), err)
		}
		for _, w := range warnings {
			l.Warnf("app %q: %s", a.Name(), w)
		}
		vols[i] = vms
	}
	sides := make([]*appSide, len(p.Apps))
	for i, a := range p.Apps {
		if s.apps[i], sides[i], err = s.newApp(a); err != nil {
			for _, side := range sides[:i] {
				side.wait()
			}
			return 0, err
		}
	}
	if len(p.Apps) > 0 {
		shared, errs[0] = s.prepareApp(s.apps[0], sides[0], vols[0], pf, ids, nil)
		if errs[0] == nil && !devShared(vols) {
			shared[len(shared)-1] = ""
		}
	}
	var wg sync.WaitGroup
	for i := range p.Apps {
		if i == 0 {
			continue
		}
		if errs[0] != nil {
			sides[i].wait() // nothing of it may be left running
			continue
		}
		wg.Go(func() { _, errs[i] = s.prepareApp(s.apps[i], sides[i], vols[i], pf, ids, shared) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}

	sigs := signals()
	if f := os.NewFile(SocketFD, "enter-socket"); f != nil {
		go s.serveEnter(f)
	}
	failed := -1
	// Each app's process starts as soon as its pre-start handler (if
	// any) succeeded, alongside the next app's: a pod's apps start
	// together.
	spawns := make([]struct {
		st  *appStart
		err error
	}, len(s.apps))
	var spawning sync.WaitGroup
	for i, ap := range s.apps {
		if failed >= 0 || s.stopping {
			// An earlier app failed its pre-start handler, or the pod
			// is being stopped: the rest never starts.
			ap.exited, ap.code = true, 0
			continue
		}
		if err := s.setupOutput(ap, ra.Interactive); err != nil {
			spawning.Wait()
			return 0, err
		}
		ok, err := s.runPreStart(ap, sigs)
		if err != nil {
			spawning.Wait()
			return 0, err
		}
		if !ok {
			if failed < 0 && ap.code != 0 {
				failed = ap.code
			}
			continue
		}
		spawning.Go(func() { spawns[i].st, spawns[i].err = s.spawnApp(ap) })
	}
	spawning.Wait()
	var started []*appStart
	for _, sp := range spawns {
		if sp.err != nil {
			return 0, sp.err
		}
		if sp.st != nil {
			started = append(started, sp.st)
		}
	}
	for _, st := range started {
		if err := s.finishStart(st); err != nil {
			return 0, err
		}
	}
	go s.announceReady(started)
	code := s.loop(sigs, failed)
	// Whatever is left in the pod (daemons of the apps, enter sessions)
	// goes now, so that the log pipes close.
	_ = unix.Kill(-1, unix.SIGKILL)
	waitTimeout(&s.copiers, 2*time.Second)
	for _, f := range s.logs {
		f.Close()
	}
	return code, nil
}

// announceReady marks the pod ready once every started app is: at once
// for most, when it sent READY=1 for one that supports sd_notify. It
// then tells `run` (a byte on ReadyFD), which passes READY=1 on to the
// service manager that started rkt, if any.
func (s *supervisor) announceReady(started []*appStart) {
	for _, st := range started {
		if st.ap.notify != nil {
			<-st.ap.notify.Ready()
			s.log.Debugf("app %q is ready (sd_notify)", st.ap.app.Name())
		}
	}
	if err := readiness.MarkReady(s.pod.Stage1Path()); err != nil {
		s.log.Warnf("%v", err)
	}
	if f := os.NewFile(ReadyFD, "ready"); f != nil {
		_, _ = f.Write([]byte{1})
		f.Close()
	}
}

// appSide is what of an app's set-up does not depend on its mounts:
// its cgroup and its env files, made in the background (each is a few
// tenths of a millisecond, mostly in the kernel) while the mounts of the
// pod's apps are.
type appSide struct {
	wg            sync.WaitGroup
	cgErr, envErr error
	// rootfs is prepareRootfs, whose error is rootfsErr.
	rootfs    sync.WaitGroup
	rootfsErr error
}

// wait waits for everything the side started.
func (side *appSide) wait() {
	side.wg.Wait()
	side.rootfs.Wait()
}

// newApp starts setting up an app: its sd_notify socket, environment and
// what appSide makes.
func (s *supervisor) newApp(a *App) (*appProc, *appSide, error) {
	p := s.pod
	ap := &appProc{app: a, rootfs: p.AppRootfs(a.Name())}
	var err error
	if readiness.Supports(a.RuntimeApp, a.Image) {
		if ap.notify, err = readiness.Listen(p.Stage1Path("rkt", "notify", a.Name()+".sock")); err != nil {
			return nil, nil, fmt.Errorf("app %q: %w", a.Name(), err)
		}
	}
	ap.env = manifest.Env(a.App.Environment)
	if u := metadataURL(p.Dir); u != "" {
		ap.env = append(ap.env, MetadataURLEnv+"="+u)
	}
	if ap.notify != nil {
		ap.env = append(ap.env, readiness.SocketEnv+"="+readiness.AppSocket)
	}
	var ok bool
	if ap.sec, ok = s.security[a.Name()]; !ok {
		return nil, nil, fmt.Errorf("app %q: no security settings from run", a.Name())
	}
	side := &appSide{}
	side.wg.Go(func() { ap.cg, side.cgErr = s.cg.App(a.Name(), ap.sec.Resources, ap.sec.OOMScoreAdj) })
	side.wg.Go(func() { side.envErr = writeEnvFile(p, a.Name(), ap.env, s.log) })
	side.rootfs.Go(func() { side.rootfsErr = prepareRootfs(ap.rootfs) })
	return ap, side, nil
}

// prepareApp makes the mounts of an app newApp started, its volumes vms
// among them, and works out how it is started. ids idmaps the volumes
// of a --private-users pod (nil for other pods); shared and the returned
// paths are the pod's /proc, /sys and /dev (see setupAppMounts).
func (s *supervisor) prepareApp(ap *appProc, side *appSide, vms []stage2app.VolumeMount, pf *podFiles, ids *IDMapper, shared []string) ([]string, error) {
	p, a := s.pod, ap.app
	var notify string
	if ap.notify != nil {
		notify = ap.notify.Path()
	}
	rootfsReady := func() error {
		side.rootfs.Wait()
		if side.rootfsErr != nil {
			return fmt.Errorf("app %q: %w", a.Name(), side.rootfsErr)
		}
		return nil
	}
	shared, err := setupAppMounts(p, a, vms, pf, ids, notify, shared, !s.keepPaths, rootfsReady, s.log)
	side.wait()
	if err != nil {
		return nil, fmt.Errorf("app %q: %w", a.Name(), err)
	}
	if side.cgErr != nil {
		return nil, side.cgErr
	}
	if side.envErr != nil {
		return nil, side.envErr
	}
	ap.creds, err = stage2app.ResolveCredentials(ap.rootfs, a.App.User, a.App.Group, a.App.SupplementaryGIDs)
	if err != nil {
		return nil, err
	}
	ap.wd = a.App.WorkingDirectory
	if ap.wd == "" {
		ap.wd = "/"
	}
	if err := stage2app.CheckWorkDir(ap.rootfs, ap.wd); err != nil {
		return nil, fmt.Errorf("app %q: %w", a.Name(), err)
	}
	ap.execPath, err = stage2app.LookPath(ap.rootfs, a.App.Exec[0], envLookup(ap.env, "PATH"), ap.wd)
	if err != nil {
		return nil, fmt.Errorf("app %q: %w", a.Name(), err)
	}
	if ap.preStart, ap.postStop, err = resolveHooks(ap); err != nil {
		return nil, fmt.Errorf("app %q: %w", a.Name(), err)
	}
	statusDir := p.Stage1Path(filepath.FromSlash(stage1abi.StatusDir))
	if err := os.MkdirAll(statusDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", statusDir, err)
	}
	ap.status = filepath.Join(statusDir, a.Name())
	if err := atomicfile.WriteInPlace(ap.status+"-created", nil, publicFileMode); err != nil {
		return nil, err
	}
	return shared, nil
}

// setupOutput opens the app's log, unless the pod is interactive.
func (s *supervisor) setupOutput(ap *appProc, interactive bool) error {
	if interactive {
		return nil
	}
	logf, err := openLog(s.pod.Dir, ap.app.Name())
	if err != nil {
		return err
	}
	s.logs = append(s.logs, logf)
	ap.lw = &lockedWriter{w: logf}
	return nil
}

// stdio returns the stdin, stdout and stderr of a process of the app
// (the app itself or one of its event handlers): the pod's terminal when
// interactive, else pipes copied to ours and to <pod>/logs/<app>.log.
// The files of closeAfter are to be closed once the process started.
func (s *supervisor) stdio(ap *appProc) (files, closeAfter []*os.File, err error) {
	files = []*os.File{os.Stdin, os.Stdout, os.Stderr}
	if ap.lw == nil {
		return files, nil, nil
	}
	for i, out := range []*os.File{os.Stdout, os.Stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range closeAfter {
				f.Close()
			}
			return nil, nil, fmt.Errorf("app %q: pipe: %w", ap.app.Name(), err)
		}
		files[i+1] = w
		closeAfter = append(closeAfter, w)
		s.copiers.Add(1)
		go func(r *os.File, out io.Writer) {
			defer s.copiers.Done()
			defer r.Close()
			_, _ = io.Copy(io.MultiWriter(out, ap.lw), r)
		}(r, out)
	}
	return files, closeAfter, nil
}

// appStart is an app whose helper is started but whose program may not
// be executing yet.
type appStart struct {
	ap *appProc
	pe *pendingExec
}

// spawnApp starts the process of an app without waiting for its exec
// (finishStart does).
func (s *supervisor) spawnApp(ap *appProc) (*appStart, error) {
	files, closeAfter, err := s.stdio(ap)
	if err != nil {
		return nil, err
	}
	cfg, err := s.execConfig(ap, ap.execPath, ap.app.App.Exec, ap.wd)
	if err != nil {
		return nil, err
	}
	pe, ch, err := s.spawnCfg(ap, cfg, files)
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("can't execute %q in app %q: %w", ap.app.App.Exec[0], ap.app.Name(), err)
	}
	ap.pid, ap.ch = pe.pid, ch
	return &appStart{ap: ap, pe: pe}, nil
}

// finishStart waits until the app's program runs and records it started.
func (s *supervisor) finishStart(st *appStart) error {
	ap := st.ap
	if err := st.pe.wait(); err != nil {
		return fmt.Errorf("can't execute %q in app %q: %w", ap.app.App.Exec[0], ap.app.Name(), err)
	}
	s.log.Debugf("started app %q as pid %d: %q as %d:%d %v, cwd %s", ap.app.Name(), ap.pid, ap.app.App.Exec, ap.creds.UID, ap.creds.GID, ap.creds.Groups, ap.wd)
	return atomicfile.WriteInPlace(ap.status+"-started", nil, publicFileMode)
}

// execConfig is how a process of the app starts (see spawn for the
// rest: its root, stdio, cgroups, user namespace): in a process group
// of its own unless the pod owns the terminal.
func (s *supervisor) execConfig(ap *appProc, execPath string, argv []string, wd string) (*appspawn.Spec, error) {
	c := &appspawn.Spec{
		Dir: wd, Path: execPath, Argv: argv, Env: ap.env, Setpgid: !s.fg,
		UID: ap.creds.UID, GID: ap.creds.GID, Groups: ap.creds.Groups,
		TimerSlack: stage1abi.CallerTimerSlack(),
	}
	if err := secure(c, ap.sec); err != nil {
		return nil, fmt.Errorf("app %q: %w", ap.app.Name(), err)
	}
	return c, nil
}

// startCfg starts a process of the app for cfg in the app's cgroup,
// registers it with the reaper and waits until it executed the program.
func (s *supervisor) startCfg(ap *appProc, cfg *appspawn.Spec, files []*os.File) (int, chan unix.WaitStatus, error) {
	pe, ch, err := s.spawnCfg(ap, cfg, files)
	if err != nil {
		return 0, nil, err
	}
	if err := pe.wait(); err != nil {
		return 0, nil, err
	}
	return pe.pid, ch, nil
}

// spawnCfg is startCfg without the wait for the exec.
func (s *supervisor) spawnCfg(ap *appProc, cfg *appspawn.Spec, files []*os.File) (*pendingExec, chan unix.WaitStatus, error) {
	cfg.UserNS = s.userNS
	ch := make(chan unix.WaitStatus, 1)
	s.mu.Lock()
	s.starting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.starting--; s.starting == 0 {
			clear(s.early) // what is left is no start's child
		}
		s.mu.Unlock()
	}()
	pe, err := spawn(cfg, ap.rootfs, files, ap.cg, func(pid int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if ws, ok := s.early[pid]; ok {
			delete(s.early, pid)
			ch <- ws
			return
		}
		s.waiters[pid] = ch
	})
	if err != nil {
		return nil, nil, err
	}
	return pe, ch, nil
}

// reap collects every exited child and hands each status to its waiter.
func (s *supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		s.mu.Lock()
		ch := s.waiters[pid]
		delete(s.waiters, pid)
		if ch == nil && s.starting > 0 {
			s.early[pid] = ws
		}
		s.mu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
}

// loop runs until every app exited and every post-stop handler ended:
// it reaps, records exit statuses, starts the post-stop handlers,
// forwards signals, and stops the pod when an app fails. failed is the
// status of an app that already failed (its pre-start handler), or -1.
// It returns the first failed app's status, or 0.
func (s *supervisor) loop(sigs chan os.Signal, failed int) int {
	var killTimer <-chan time.Time
	stopOthers := func() {
		s.signalApps(unix.SIGTERM)
		killTimer = time.After(KillGrace)
	}
	if failed >= 0 {
		stopOthers()
	}
	// The reaper runs here, on SIGCHLD, and feeds the apps' channels.
	for {
		running, hooks := 0, 0
		for _, ap := range s.apps {
			if ap.postCh != nil {
				select {
				case ws := <-ap.postCh:
					ap.postCh = nil
					if c := podproc.WaitExitStatus(ws); c != 0 {
						s.log.Warnf("app %q: post-stop event handler failed: status %d", ap.app.Name(), c)
					}
				default:
					hooks++
				}
			}
			if ap.exited {
				continue
			}
			select {
			case ws := <-ap.ch:
				ap.exited, ap.code = true, podproc.WaitExitStatus(ws)
				s.log.Debugf("app %q exited: status %d", ap.app.Name(), ap.code)
				if err := atomicfile.Publish(ap.status, []byte(strconv.Itoa(ap.code)), publicFileMode); err != nil {
					s.log.Warnf("can't record the exit status of app %q: %v", ap.app.Name(), err)
				}
				if ap.code != 0 && failed < 0 {
					failed = ap.code
					stopOthers()
				}
				if s.startPostStop(ap) {
					hooks++
				}
			default:
				running++
			}
		}
		if running == 0 && hooks == 0 {
			break
		}
		select {
		case sig := <-sigs:
			if sig == unix.SIGCHLD {
				s.reap()
				break
			}
			if s.fg && sig != unix.SIGTERM {
				continue
			}
			s.log.Debugf("forwarding %v to the apps", sig)
			s.signalApps(sig.(syscall.Signal))
		case <-killTimer:
			s.log.Debugf("apps still running %v after a failure: killing them", KillGrace)
			s.signalApps(unix.SIGKILL)
			killTimer = nil
		}
	}
	if failed < 0 {
		return 0
	}
	return failed
}

// signalApps sends sig to every running app.
func (s *supervisor) signalApps(sig syscall.Signal) {
	for _, ap := range s.apps {
		if !ap.exited && ap.pid > 0 {
			_ = unix.Kill(ap.pid, sig)
		}
	}
}

// lockedWriter serializes writes of two streams into one log file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// openLog opens (appending) <pod>/logs/<app>.log.
func openLog(podDir, app string) (*os.File, error) {
	dir := filepath.Join(podDir, LogsDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, app+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, privateFileMode)
	if err != nil {
		return nil, fmt.Errorf("open the log of app %q: %w", app, err)
	}
	return f, nil
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// envLookup returns the value of name in a NAME=VALUE list, "" when
// unset.
func envLookup(env []string, name string) string {
	v, _ := stage2app.LookupEnv(env, name)
	return v
}

// writeEnvFile writes the app's env file at rkt/env/<app> in the stage1
// rootfs.
func writeEnvFile(p *Pod, app string, env []string, l *logger) error {
	data, skipped := stage2app.FormatEnvFile(env)
	for _, name := range skipped {
		l.Warnf("environment variable %q holds a newline: left out of the env file", name)
	}
	return poddir.WriteEnvFile(p.Dir, app, data)
}

// openPodCgroup opens the pod's cgroup at the paths `run` passed, or
// finds it.
func openPodCgroup(uuid string) (*cgroup.Pod, error) {
	var paths map[string]string
	if env := os.Getenv(CgroupPathsEnv); env != "" {
		if err := json.Unmarshal([]byte(env), &paths); err != nil {
			return nil, fmt.Errorf("%s: %w", CgroupPathsEnv, err)
		}
	}
	return cgroup.OpenPodAt(uuid, paths)
}
