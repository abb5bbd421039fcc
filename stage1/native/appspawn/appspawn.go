// Package appspawn starts an app's process straight from the pod
// supervisor: a raw clone whose child (sharing the supervisor's memory
// until its exec, like syscall.ForkExec's, on amd64) joins the app's
// cgroups, takes its
// oom_score_adj, root, working directory, credentials, capability sets,
// no_new_privs and seccomp filter with raw system calls, and execs the
// app. Everything the child applies is worked out before the fork; the
// child only makes system calls (it runs //go:nosplit code that neither
// allocates nor grows its stack, like the child half of
// syscall.ForkExec).
//
// It replaced starting every app process as an app-exec helper, a Go
// program of its own whose runtime start-up alone cost ~0.9 ms of CPU
// per app and per pod start.
//
// The order of the steps is the security README's: fds, process group
// or session, oom_score_adj, cgroups, user namespace (--private-users),
// root, working directory, keep-caps, groups, gid, uid, capabilities,
// no_new_privs, seccomp filter, exec. Only execve itself runs under the
// filter, so a filter that allows the app's system calls always lets
// the app start.
package appspawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/caps/capset"
)

// Spec is one process to start.
type Spec struct {
	Path string   // the program, inside the root
	Argv []string // its arguments, argv[0] first
	Env  []string // its whole environment
	Dir  string   // its working directory, inside the root
	// RootFD is the root directory (an open directory fd, O_PATH is
	// enough): the child changes to it and chroots to ".".
	RootFD int
	// Stdio are the child's stdin, stdout and stderr (nil: closed).
	Stdio [3]*os.File
	// Setpgid puts the child in a process group of its own; Setsid in a
	// session of its own.
	Setpgid, Setsid bool
	UID, GID        uint32
	Groups          []uint32
	// Caps are the capability sets the program runs with.
	Caps capset.Masks
	// NoNewPrivs sets no_new_privs before the filter is loaded.
	NoNewPrivs bool
	// Seccomp is the filter program; none when empty.
	Seccomp []unix.SockFilter
	// OOMScoreAdj, when not nil, is written to /proc/self/oom_score_adj.
	OOMScoreAdj *int
	// Tasks are cgroup v1 `tasks` files: the child writes "0" to each,
	// which moves it (and only it) into that cgroup.
	Tasks []*os.File
	// UserNS, when not nil, is a user namespace (--private-users) the
	// child joins after the cgroups and before it changes its root: it
	// then has every capability there, and takes its ids from that
	// namespace's mapping.
	UserNS *os.File
	// TimerSlack, when not 0, is the child's timer slack (ns): the one
	// the stage1's caller had (stage1abi.CallerTimerSlack), not the
	// stage1's own.
	TimerSlack uint64
}

// Pending is a started process that may not have executed its program
// yet.
type Pending struct {
	// Pid is the child's pid.
	Pid  int
	spec *Spec
	errR *os.File
}

// Wait returns once the child executed its program (nil), or with what
// stopped it before that: it then exited with status 254.
func (p *Pending) Wait() error {
	var rec [8]byte
	n, err := io.ReadFull(p.errR, rec[:])
	p.errR.Close()
	if n == 0 && (err == io.EOF || err == nil) {
		return nil
	}
	if n != len(rec) {
		return fmt.Errorf("app start: reading the child's status: %v", err)
	}
	step := *(*uint32)(unsafe.Pointer(&rec[0]))
	errno := syscall.Errno(*(*uint32)(unsafe.Pointer(&rec[4])))
	return fmt.Errorf("app start: %s: %w", p.spec.describe(step), errno)
}

// Start forks the child of s and returns it at once; Pending.Wait tells
// whether its exec succeeded. cgroupFD, when not -1, is a cgroup v2
// directory the child is created in (clone3 CLONE_INTO_CGROUP).
func Start(s *Spec, cgroupFD int) (*Pending, error) {
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.pipe = int(errW.Fd())
	pid, err := p.fork(cgroupFD)
	errW.Close()
	if err != nil {
		errR.Close()
		return nil, err
	}
	return &Pending{Pid: pid, spec: s, errR: errR}, nil
}

// The child's steps, as it reports the one that failed.
const (
	stepStdio uint32 = iota + 1
	stepTimerSlack
	stepSetsid
	stepSetpgid
	stepOOM
	stepCgroup
	stepUserNS
	stepRoot
	stepChroot
	stepChdir
	stepKeepCaps
	stepGroups
	stepGID
	stepUID
	stepCapRaise
	stepBounding
	stepCaps
	stepAmbient
	stepBoundingCheck
	stepNoNewPrivs
	stepSeccomp
	stepExec
)

// describe names a failed step, with what it applied.
func (s *Spec) describe(step uint32) string {
	switch step {
	case stepStdio:
		return "setting up stdio"
	case stepTimerSlack:
		return fmt.Sprintf("setting the timer slack to %d ns", s.TimerSlack)
	case stepSetsid:
		return "setsid"
	case stepSetpgid:
		return "setpgid"
	case stepOOM:
		return "setting oom_score_adj to " + strconv.Itoa(*s.OOMScoreAdj)
	case stepCgroup:
		return "joining the app's cgroup"
	case stepUserNS:
		return "joining the pod's user namespace"
	case stepRoot, stepChroot:
		return "changing root"
	case stepChdir:
		return "chdir " + s.Dir
	case stepKeepCaps:
		return "setting PR_SET_KEEPCAPS"
	case stepGroups:
		return fmt.Sprintf("setgroups %v", s.Groups)
	case stepGID:
		return fmt.Sprintf("setgid %d", s.GID)
	case stepUID:
		return fmt.Sprintf("setuid %d", s.UID)
	case stepCapRaise:
		return "raising effective capabilities"
	case stepBounding:
		return "dropping capabilities from the bounding set"
	case stepCaps:
		return "setting capabilities"
	case stepAmbient:
		return "setting ambient capabilities"
	case stepBoundingCheck:
		return "checking the bounding set"
	case stepNoNewPrivs:
		return "setting no_new_privs"
	case stepSeccomp:
		return "loading seccomp filter"
	case stepExec:
		return "execute " + s.Path
	}
	return "step " + strconv.Itoa(int(step))
}

// plan is everything the child uses, in the form its system calls take.
type plan struct {
	path, dir, dot *byte
	argv, envv     []*byte // nil-terminated
	rootFD         int
	stdio          [3]int // -1: closed
	pipe           int
	setpgid        bool
	timerSlack     uintptr // 0: leave it
	setsid         bool
	oomPath        *byte
	oom            []byte // nil: not set
	tasks          []int
	userNS         int // -1: none
	zero           [1]byte
	keepCaps       bool
	groups         []uint32
	uid, gid       uintptr
	capHdr         unix.CapUserHeader
	capRaise       [2]unix.CapUserData
	capFinal       [2]unix.CapUserData
	drop           []uintptr // capabilities out of the bounding set
	ambient        []uintptr
	nnp            bool
	fprog          *unix.SockFprog
}

// ownCaps are the supervisor's permitted and inheritable sets, which a
// child keeps across its switch to the app's uid (keep-caps), and the
// highest capability the kernel knows.
var ownCaps = sync.OnceValues(func() (ownCapSets, error) {
	last, err := capset.LastCap()
	if err != nil {
		return ownCapSets{}, err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return ownCapSets{}, fmt.Errorf("reading capabilities: %w", err)
	}
	return ownCapSets{
		perm: uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32,
		inh:  uint64(data[0].Inheritable) | uint64(data[1].Inheritable)<<32,
		last: last,
	}, nil
})

type ownCapSets struct {
	perm, inh uint64
	last      int
}

// plan works out the child's steps (for a process that
// starts as root with the supervisor's capabilities).
func (s *Spec) plan() (*plan, error) {
	if s.Path == "" || len(s.Argv) == 0 {
		return nil, errors.New("app start: no program to execute")
	}
	p := &plan{rootFD: s.RootFD, setpgid: s.Setpgid, setsid: s.Setsid, nnp: s.NoNewPrivs, timerSlack: uintptr(s.TimerSlack),
		uid: uintptr(s.UID), gid: uintptr(s.GID), groups: s.Groups, keepCaps: s.UID != 0}
	p.zero[0] = '0'
	var err error
	if p.path, err = syscall.BytePtrFromString(s.Path); err != nil {
		return nil, fmt.Errorf("app start: %w", err)
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if p.dir, err = syscall.BytePtrFromString(dir); err != nil {
		return nil, fmt.Errorf("app start: %w", err)
	}
	p.dot, _ = syscall.BytePtrFromString(".")
	if p.argv, err = syscall.SlicePtrFromStrings(s.Argv); err != nil {
		return nil, fmt.Errorf("app start: %w", err)
	}
	if p.envv, err = syscall.SlicePtrFromStrings(s.Env); err != nil {
		return nil, fmt.Errorf("app start: %w", err)
	}
	for i, f := range s.Stdio {
		p.stdio[i] = -1
		if f != nil {
			p.stdio[i] = int(f.Fd())
		}
	}
	for _, f := range s.Tasks {
		p.tasks = append(p.tasks, int(f.Fd()))
	}
	p.userNS = -1
	if s.UserNS != nil {
		p.userNS = int(s.UserNS.Fd())
	}
	if s.OOMScoreAdj != nil {
		p.oomPath, _ = syscall.BytePtrFromString("/proc/self/oom_score_adj")
		p.oom = []byte(strconv.Itoa(*s.OOMScoreAdj))
	}

	own, err := ownCaps()
	if err != nil {
		return nil, fmt.Errorf("app start: %w", err)
	}
	if own.perm&(1<<unix.CAP_SETPCAP) == 0 {
		return nil, errors.New("app start: applying capabilities: CAP_SETPCAP is not permitted")
	}
	m := s.Caps
	p.capHdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	setCaps(&p.capRaise, own.perm, own.perm, own.inh)
	eff, perm := own.perm, own.perm
	if s.UID != 0 {
		eff, perm = m.Effective|m.Ambient, m.Permitted|m.Ambient
	}
	setCaps(&p.capFinal, eff, perm, m.Inheritable|m.Ambient)
	for c := 0; c <= own.last; c++ {
		if m.Bounding&(1<<c) == 0 {
			p.drop = append(p.drop, uintptr(c))
		}
		if m.Ambient&(1<<c) != 0 {
			p.ambient = append(p.ambient, uintptr(c))
		}
	}
	if len(s.Seccomp) > 0 {
		p.fprog = &unix.SockFprog{Len: uint16(len(s.Seccomp)), Filter: &s.Seccomp[0]}
	}
	return p, nil
}

func setCaps(data *[2]unix.CapUserData, eff, perm, inh uint64) {
	for i := range data {
		data[i].Effective = uint32(eff >> (32 * i))
		data[i].Permitted = uint32(perm >> (32 * i))
		data[i].Inheritable = uint32(inh >> (32 * i))
	}
}

// cloneArgs is struct clone_args of clone3(2), up to its cgroup field
// (Linux 5.7).
type cloneArgs struct {
	flags      uint64
	pidFD      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64
}

// fork creates the child, which runs p.child and never returns here.
func (p *plan) fork(cgroupFD int) (int, error) {
	var args *cloneArgs
	if cgroupFD >= 0 {
		args = &cloneArgs{flags: vforkFlags | unix.CLONE_INTO_CGROUP, exitSignal: uint64(unix.SIGCHLD), cgroup: uint64(cgroupFD)}
	}
	var pid uintptr
	var errno syscall.Errno
	// No descriptor without close-on-exec may appear while the child
	// is created (syscall.ForkExec's rule; ours are all O_CLOEXEC).
	lockForks()
	runtimeBeforeFork()
	// From here to the child's exec, as in syscall.forkAndExecInChild1:
	// the child runs in this frame first and never returns from it, and
	// we return from it only once the child executed or exited.
	if args != nil {
		pid, errno = rawVforkSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0)
	} else {
		pid, errno = rawVforkSyscall(syscall.SYS_CLONE, uintptr(vforkFlags|syscall.SIGCHLD), 0, 0)
	}
	if errno == 0 && pid == 0 {
		p.child()
	}
	runtimeAfterFork()
	unlockForks()
	if errno != 0 {
		return 0, fmt.Errorf("app start: fork: %w", errno)
	}
	return int(pid), nil
}

// forks counts the children being created now. The first one takes
// syscall.ForkLock for writing and the last one gives it back, so that,
// as with syscall.ForkExec since Go 1.21, children are created side by
// side while no descriptor is made without close-on-exec (its makers
// hold the lock for reading). A pod's apps start together: one at a
// time, the fifth of five waited ~0.3 ms longer (a clone blocks its
// thread until the child's exec).
var forks struct {
	sync.Mutex
	n int
}

func lockForks() {
	forks.Lock()
	defer forks.Unlock()
	if forks.n == 0 {
		syscall.ForkLock.Lock()
	}
	forks.n++
}

func unlockForks() {
	forks.Lock()
	defer forks.Unlock()
	forks.n--
	if forks.n == 0 {
		syscall.ForkLock.Unlock()
	}
}
