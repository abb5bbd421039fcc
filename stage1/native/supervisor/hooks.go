package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Names of the appc event handlers (APPX-06).
const (
	hookPreStart = "pre-start"
	hookPostStop = "post-stop"
)

// hook is an app's event handler: what it executes.
type hook struct {
	name string
	path string   // the executable, resolved in the app's rootfs
	argv []string // the handler's exec
}

// resolveHooks finds the executables of an app's event handlers in its
// rootfs (with the app's PATH and working directory).
func resolveHooks(ap *appProc) (pre, post *hook, err error) {
	for _, eh := range ap.app.App.EventHandlers {
		if len(eh.Exec) == 0 || eh.Exec[0] == "" {
			return nil, nil, fmt.Errorf("%s event handler: empty exec", eh.Name)
		}
		path, err := stage2app.LookPath(ap.rootfs, eh.Exec[0], envLookup(ap.env, "PATH"), ap.wd)
		if err != nil {
			return nil, nil, fmt.Errorf("%s event handler: %w", eh.Name, err)
		}
		h := &hook{name: eh.Name, path: path, argv: append([]string{}, eh.Exec...)}
		var slot **hook
		switch eh.Name {
		case hookPreStart:
			slot = &pre
		case hookPostStop:
			slot = &post
		default:
			return nil, nil, fmt.Errorf("unknown event handler %q", eh.Name)
		}
		if *slot != nil {
			return nil, nil, fmt.Errorf("more than one %s event handler", eh.Name)
		}
		*slot = h
	}
	return pre, post, nil
}

// hookConfig is how an event handler runs: in the app's rootfs, with its
// environment and working directory, but as root with every capability
// and without seccomp filter or no_new_privs (rkt ran them as privileged
// ExecStartPre/ExecStopPost commands). Its cgroup is the app's.
func (s *supervisor) hookConfig(ap *appProc, h *hook) (*appspawn.Spec, error) {
	c := &appspawn.Spec{
		Dir: ap.wd, Path: h.path, Argv: h.argv, Env: ap.env, Setpgid: !s.fg,
		UID: 0, GID: 0, Groups: []uint32{}, TimerSlack: stage1abi.CallerTimerSlack(),
	}
	all, err := caps.Supported()
	if err != nil {
		return nil, err
	}
	if err := secure(c, AppSecurity{Caps: caps.Bounded(all)}); err != nil {
		return nil, err
	}
	return c, nil
}

// startHook starts an event handler of the app with the app's output.
func (s *supervisor) startHook(ap *appProc, h *hook) (int, chan unix.WaitStatus, error) {
	files, closeAfter, err := s.stdio(ap)
	if err != nil {
		return 0, nil, err
	}
	cfg, err := s.hookConfig(ap, h)
	if err != nil {
		for _, f := range closeAfter {
			f.Close()
		}
		return 0, nil, err
	}
	pid, ch, err := s.startCfg(ap, cfg, files)
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("can't execute the %s event handler %q of app %q: %w", h.name, h.argv[0], ap.app.Name(), err)
	}
	s.log.Debugf("started the %s handler of app %q as pid %d: %q", h.name, ap.app.Name(), pid, h.argv)
	return pid, ch, nil
}

// runPreStart runs the app's pre-start handler, if any, and waits for
// it, reaping and handling signals meanwhile (a stop signal is passed to
// the handler and the pod starts no more apps). It reports whether the
// app may start: when the handler fails, the app counts as exited with
// the handler's status, and its post-stop handler is started.
func (s *supervisor) runPreStart(ap *appProc, sigs chan os.Signal) (bool, error) {
	if ap.preStart == nil {
		return true, nil
	}
	pid, ch, err := s.startHook(ap, ap.preStart)
	if err != nil {
		return false, err
	}
	var ws unix.WaitStatus
wait:
	for {
		select {
		case ws = <-ch:
			break wait
		case sig := <-sigs:
			if sig == unix.SIGCHLD {
				s.reap()
				continue
			}
			if s.fg && sig != unix.SIGTERM {
				continue
			}
			s.stopping = true
			_ = unix.Kill(pid, sig.(syscall.Signal))
		}
	}
	code := podproc.WaitExitStatus(ws)
	if code == 0 && !s.stopping {
		return true, nil
	}
	if code != 0 {
		s.log.Warnf("app %q: pre-start event handler failed: status %d", ap.app.Name(), code)
	}
	ap.exited, ap.code = true, code
	if err := atomicfile.Publish(ap.status, []byte(strconv.Itoa(code)), publicFileMode); err != nil {
		s.log.Warnf("can't record the exit status of app %q: %v", ap.app.Name(), err)
	}
	s.startPostStop(ap)
	return false, nil
}

// startPostStop starts the app's post-stop handler, if any; the loop
// waits for it (its failure is only logged). It reports whether one
// was started.
func (s *supervisor) startPostStop(ap *appProc) bool {
	if ap.postStop == nil {
		return false
	}
	_, ch, err := s.startHook(ap, ap.postStop)
	if err != nil {
		s.log.Warnf("%v", err)
		return false
	}
	ap.postCh = ch
	return true
}
