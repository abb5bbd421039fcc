package native

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/userns"
	"github.com/rkt/rkt/stage1/native/forkthread"
	"github.com/rkt/rkt/stage1/native/netspec"
	"github.com/rkt/rkt/stage1/native/security/cgroup"
	"github.com/rkt/rkt/stage1/native/supervisor"
	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/stage1/readiness"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Modes of the files native writes.
const (
	publicFileMode  = 0o644
	privateFileMode = 0o640
)

// Run is the `run` entrypoint. It runs in the pod directory, checks the
// pod, creates the enter socket, starts the pod supervisor as PID 1 of
// new PID, mount, UTS, IPC and network namespaces, records its pid in
// <pod>/pid, forwards signals to it, waits for it and returns its status.
func Run(args []string) int {
	ra, err := stage1abi.ParseRunArgs(args)
	if err != nil {
		return newLogger(false).Fail(err)
	}
	l := newLogger(ra.Debug)
	code, err := run(args, ra, l)
	if err != nil {
		return l.Fail(err)
	}
	return code
}

// CloneFlags returns the namespaces the supervisor is created in.
func CloneFlags(ra *stage1abi.RunArgs) (uintptr, error) {
	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS)
	switch ra.IPC {
	case "", "auto", "private":
		flags |= unix.CLONE_NEWIPC
	case "parent":
	default:
		return 0, fmt.Errorf("invalid --ipc=%q: want auto, private or parent", ra.IPC)
	}
	if mode, _ := supervisor.NetMode(ra.Net); mode != supervisor.NetHost {
		flags |= unix.CLONE_NEWNET
	}
	return flags, nil
}

func run(args []string, ra *stage1abi.RunArgs, l *logger) (int, error) {
	flags, err := CloneFlags(ra)
	if err != nil {
		return 0, err
	}
	// The supervisor is forked on a thread of its own (see
	// cgroup.StartSupervisor), which makes the pod's network namespace
	// first, alongside the work below: in the clone itself a new
	// network namespace cost ~0.5 ms of the pod start. The thread is
	// started first, before os/signal's, which waits for a new OS thread
	// too: started after it (and after the lines below), the thread's
	// work began ~0.7 ms after the request (in-process timestamps,
	// median of 60 pods) and the fork waited for the network namespace.
	forkFlags := flags
	var netSetup func() error
	if flags&unix.CLONE_NEWNET != 0 {
		forkFlags &^= unix.CLONE_NEWNET
		netSetup = func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("new network namespace: %w", err)
			}
			return nil
		}
	}
	forker := forkthread.Start(netSetup)
	defer forker.End()
	signals := podproc.NotifyEarly(podproc.NotifySignals)
	dir, err := os.Getwd()
	if err != nil {
		return 0, fmt.Errorf("pod directory: %w", err)
	}
	lock, err := lockFile()
	if err != nil {
		return 0, err
	}
	if _, err := stage2app.ParseDNSModes(ra.DNSConfMode); err != nil {
		return 0, err
	}
	netMode, netReqs, err := netspec.Parse(ra.Net)
	if err != nil {
		return 0, fmt.Errorf("failed to setup network: %w", err)
	}
	// With --private-users the app rootfs overlays stage0 mounted are
	// replaced by idmapped ones here, in stage0's mount namespace, before
	// the supervisor's is copied from it: the old overlays then exist
	// nowhere. The supervisor gets the idmapping user namespace (fd) for
	// the volumes.
	var ids *supervisor.IDMapper
	var pod *supervisor.Pod
	if ra.PrivateUsers != "" {
		if pod, err = supervisor.LoadPod(dir); err != nil {
			return 0, err
		}
		r, err := userns.Parse(ra.PrivateUsers)
		if err != nil {
			return 0, err
		}
		if ids, err = supervisor.NewIDMapper(r); err != nil {
			return 0, err
		}
		defer ids.Close()
		for _, a := range pod.Apps {
			if err := ids.RemountRootfs(pod.AppRootfs(a.Name())); err != nil {
				return 0, fmt.Errorf("app %q: %w", a.Name(), err)
			}
		}
	}
	if ra.Mutable {
		l.Warnf("the native flavor does not support mutable pods yet: --mutable ignored")
	}
	sock, err := listenEnter(dir)
	if err != nil {
		return 0, err
	}
	defer os.Remove(filepath.Join(dir, supervisor.EnterSocket))

	// The pod's cgroup exists before the supervisor starts (it is born
	// in it).
	cgroup.Warn = func(msg string) { l.Warnf("%s", msg) }
	cg, err := cgroup.NewPod(ra.UUID)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := cg.Destroy(); err != nil {
			l.Warnf("%v", err)
		}
	}()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer syncW.Close()

	fg := podproc.OwnsTerminal()
	sup, err := supervisorPath()
	if err != nil {
		return 0, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer readyR.Close()
	security, err := securityFile()
	if err != nil {
		return 0, err
	}
	defer security.Close()
	// stdio, then LockFD, SocketFD, SyncFD, ReadyFD, SecurityFD and
	// UserNSFD.
	files := []uintptr{0, 1, 2, lock.Fd(), sock.Fd(), syncR.Fd(), readyW.Fd(), security.Fd()}
	if ids != nil {
		files = append(files, uintptr(ids.NSFD()))
	}
	env := append(os.Environ(),
		stage1abi.LockFDEnv+"="+strconv.Itoa(supervisor.LockFD),
		supervisor.SocketFDEnv+"="+strconv.Itoa(supervisor.SocketFD))
	if fg {
		env = append(env, supervisor.ForegroundEnv+"=1")
	}
	if paths, err := json.Marshal(cg.Paths()); err == nil {
		env = append(env, supervisor.CgroupPathsEnv+"="+string(paths))
	}
	sigs := signals()
	defer podproc.StopLate(sigs)
	// Born in the pod's cgroup rather than moved there (cgroup.Start).
	// syscall.ForkExec, not os/exec: os.StartProcess first probes pidfd
	// support with a throw-away child, a fork on every pod start.
	pid, err := cg.StartSupervisor(forker, func(cgroupFD int) (int, error) {
		sys := &syscall.SysProcAttr{Cloneflags: forkFlags}
		if cgroupFD >= 0 {
			sys.UseCgroupFD, sys.CgroupFD = true, cgroupFD
		}
		return syscall.ForkExec(sup, append([]string{supervisor.EntrypointInit}, args...),
			&syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: sys})
	})
	runtime.KeepAlive(lock)
	if err != nil {
		return 0, fmt.Errorf("start the pod supervisor: %w", err)
	}
	proc := podproc.Track(pid)
	defer proc.Close()
	sock.Close()
	syncR.Close()
	readyW.Close()
	ids.Close()
	go passReady(readyR, l)
	// What the supervisor needs only once it has the go-ahead is done
	// while its Go runtime starts.
	pod, ports, err := configurePod(dir, cg, pod, netMode, ra, security)
	if err != nil {
		proc.Kill()
		return 0, err
	}
	netns, err := setupNetwork(dir, ra, netMode, netReqs, ports, pid, l)
	if err != nil {
		proc.Kill()
		return 0, err
	}
	if netns != nil {
		defer netns.teardown()
	}
	if ra.MDSToken != "" {
		if err := registerMDS(pod, ra, netns, l); err != nil {
			proc.Kill()
			return 0, err
		}
		defer unregisterMDS(pod, ra.UUID, l)
	}
	syncW.Close() // go ahead
	l.Debugf("pod supervisor started: pid %d, namespaces %#x", pid, flags)
	if err := atomicfile.Publish(filepath.Join(dir, stage1abi.PIDFile), []byte(strconv.Itoa(pid)), publicFileMode); err != nil {
		proc.Kill()
		return 0, fmt.Errorf("write the pid file: %w", err)
	}
	defer registerMachine(pod, ra.UUID, pid, l)()
	done := make(chan struct{})
	go proc.Forward(sigs, fg, done)
	ws, err := proc.Wait()
	close(done)
	if err != nil {
		return 0, fmt.Errorf("wait for the pod supervisor: %w", err)
	}
	return podproc.WaitExitStatus(ws), nil
}

// configurePod reads the pod (unless pod was read already) and checks
// its port forwards, works out what the apps' isolators ask into
// security (see supervisor.Security), puts the device rules on the pod's cgroup,
// before any cgroup below it exists (on v1 those copy the rules when
// they are made), and names the cgroup in <pod>/subcgroup, before
// <pod>/pid appears. It returns the pod and its port forwards.
func configurePod(dir string, cg *cgroup.Pod, pod *supervisor.Pod, netMode netspec.Mode, ra *stage1abi.RunArgs, security *os.File) (*supervisor.Pod, []netspec.PortMapping, error) {
	if pod == nil {
		var err error
		if pod, err = supervisor.LoadPod(dir); err != nil {
			return nil, nil, err
		}
	}
	ports, err := podPortMappings(pod)
	if err != nil {
		return nil, nil, err
	}
	if len(ports) > 0 && netMode != netspec.ModeCNI {
		return nil, nil, fmt.Errorf("--port cannot be used with --net=%s: forwarding needs a pod network", ra.Net)
	}
	sec, err := buildSecurity(pod, ra)
	if err != nil {
		return nil, nil, err
	}
	if err := writeSecurity(security, sec); err != nil {
		return nil, nil, err
	}
	devs, err := supervisor.PodDeviceRules(pod)
	if err != nil {
		return nil, nil, err
	}
	if err := cg.AllowDevices(devs); err != nil {
		return nil, nil, err
	}
	if err := atomicfile.WriteInPlace(filepath.Join(dir, stage1abi.SubcgroupFile), []byte(cg.Subcgroup()), publicFileMode); err != nil {
		return nil, nil, fmt.Errorf("write the subcgroup file: %w", err)
	}
	return pod, ports, nil
}

// listenEnter creates the enter socket in the pod directory dir (bound by
// a relative name, so a long pod path does not matter), readable by root
// only.
func listenEnter(dir string) (*os.File, error) {
	path := filepath.Join(dir, supervisor.EnterSocket)
	_ = os.Remove(path)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("enter socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "enter-socket")
	old := unix.Umask(0o077)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: relSocket(dir)})
	unix.Umask(old)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bind the enter socket %s: %w", path, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		f.Close()
		return nil, fmt.Errorf("listen on the enter socket: %w", err)
	}
	return f, nil
}

// relSocket is the enter socket's address from the process's working
// directory when that is the pod directory, else its absolute path.
func relSocket(dir string) string {
	if wd, err := os.Getwd(); err == nil && wd == dir {
		return supervisor.EnterSocket
	}
	return filepath.Join(dir, supervisor.EnterSocket)
}

// passReady tells the service manager that started rkt, if any
// ($NOTIFY_SOCKET), that the pod is ready once the supervisor says so
// on r. This process is the unit's main process (rkt execs its way down
// to here), the only one the default NotifyAccess=main listens to.
func passReady(r *os.File, l *logger) {
	var b [1]byte
	if n, _ := r.Read(b[:]); n == 0 {
		return // the supervisor exited before the pod was ready
	}
	if err := readiness.Notify("READY=1"); err != nil {
		l.Warnf("%v", err)
	}
}

// supervisorPath is the pod supervisor binary: beside ours in the
// stage1 rootfs (os.Executable resolves the entrypoint symlink).
func supervisorPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating the pod supervisor: %w", err)
	}
	return filepath.Join(filepath.Dir(self), supervisor.BinaryName), nil
}

// lockFile returns the pod lock fd from the environment.
func lockFile() (*os.File, error) {
	fd, err := podproc.LockFD()
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "pod-lock"), nil
}
