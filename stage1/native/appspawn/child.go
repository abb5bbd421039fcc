package appspawn

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The runtime's fork hooks, which syscall.ForkExec uses: before the
// fork, signals are blocked and the goroutine may not be preempted or
// grow its stack; in the child, the signal handlers and mask go back to
// their defaults; in the parent, back to the runtime's.

//go:linkname runtimeBeforeFork syscall.runtime_BeforeFork
func runtimeBeforeFork()

//go:linkname runtimeAfterFork syscall.runtime_AfterFork
func runtimeAfterFork()

//go:linkname runtimeAfterForkInChild syscall.runtime_AfterForkInChild
func runtimeAfterForkInChild()

// child runs in the forked child: a copy of the supervisor with this
// one thread, whose runtime must not run again. It makes system calls
// only, and ends in execve or exit_group.
//
//go:nosplit
//go:norace
func (p *plan) child() {
	runtimeAfterForkInChild()
	step, errno := p.steps()
	var rec [2]uint32
	rec[0], rec[1] = step, uint32(errno)
	syscall.RawSyscall(syscall.SYS_WRITE, uintptr(p.pipe), uintptr(unsafe.Pointer(&rec[0])), unsafe.Sizeof(rec))
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 254, 0, 0)
	}
}

// steps applies the plan and execs; it returns the failed step.
//
//go:nosplit
//go:norace
func (p *plan) steps() (uint32, syscall.Errno) {
	if e := p.setupStdio(); e != 0 {
		return stepStdio, e
	}
	if p.timerSlack != 0 {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_TIMERSLACK, p.timerSlack, 0, 0, 0, 0); e != 0 {
			return stepTimerSlack, e
		}
	}
	if p.setsid {
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETSID, 0, 0, 0); e != 0 {
			return stepSetsid, e
		}
	}
	if p.setpgid {
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETPGID, 0, 0, 0); e != 0 {
			return stepSetpgid, e
		}
	}
	if p.oom != nil {
		cwd := unix.AT_FDCWD
		fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(p.oomPath)), uintptr(syscall.O_WRONLY|syscall.O_CLOEXEC), 0, 0, 0)
		if e != 0 {
			return stepOOM, e
		}
		_, _, e = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p.oom[0])), uintptr(len(p.oom)))
		syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
		if e != 0 {
			return stepOOM, e
		}
	}
	// "0" moves the writing thread: the whole child.
	for i := 0; i < len(p.tasks); i++ {
		if _, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(p.tasks[i]), uintptr(unsafe.Pointer(&p.zero[0])), 1); e != 0 {
			return stepCgroup, e
		}
	}
	if p.userNS >= 0 {
		// A single-threaded process with its own fs_struct may join a
		// user namespace (setns(2)); so is this child.
		if _, _, e := syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.userNS), unix.CLONE_NEWUSER, 0); e != 0 {
			return stepUserNS, e
		}
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_FCHDIR, uintptr(p.rootFD), 0, 0); e != 0 {
		return stepRoot, e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_CHROOT, uintptr(unsafe.Pointer(p.dot)), 0, 0); e != 0 {
		return stepChroot, e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(p.dir)), 0, 0); e != 0 {
		return stepChdir, e
	}
	if p.keepCaps {
		// Keep the permitted set across the switch to the app's uid:
		// dropping the bounding set afterwards needs CAP_SETPCAP.
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0, 0, 0, 0); e != 0 {
			return stepKeepCaps, e
		}
	}
	var groups uintptr
	if len(p.groups) > 0 {
		groups = uintptr(unsafe.Pointer(&p.groups[0]))
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(p.groups)), groups, 0); e != 0 {
		return stepGroups, e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, p.gid, p.gid, p.gid); e != 0 {
		return stepGID, e
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, p.uid, p.uid, p.uid); e != 0 {
		return stepUID, e
	}
	if step, e := p.applyCaps(); e != 0 {
		return step, e
	}
	if step, e := p.ambientAndCheck(); e != 0 {
		return step, e
	}
	if p.nnp {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
			return stepNoNewPrivs, e
		}
	}
	if p.fprog != nil {
		if _, _, e := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(p.fprog))); e != 0 {
			return stepSeccomp, e
		}
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(p.path)), uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])))
	return stepExec, e
}

// setupStdio puts the stdio files on 0, 1 and 2 (syscall.ForkExec's
// two passes: first move a source that a lower target would overwrite
// out of the way, then dup each onto its place).
//
//go:nosplit
//go:norace
func (p *plan) setupStdio() syscall.Errno {
	for i := 0; i < len(p.stdio); i++ {
		if p.stdio[i] >= 0 && p.stdio[i] < i {
			fd, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.stdio[i]), syscall.F_DUPFD_CLOEXEC, uintptr(len(p.stdio)))
			if e != 0 {
				return e
			}
			p.stdio[i] = int(fd)
		}
	}
	for i := 0; i < len(p.stdio); i++ {
		switch {
		case p.stdio[i] < 0:
			syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(i), 0, 0)
		case p.stdio[i] == i:
			if _, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(i), syscall.F_SETFD, 0); e != 0 {
				return e
			}
		default:
			if _, _, e := syscall.RawSyscall(syscall.SYS_DUP3, uintptr(p.stdio[i]), uintptr(i), 0); e != 0 {
				return e
			}
		}
	}
	return 0
}

// applyCaps raises the effective set to the permitted one (for
// CAP_SETPCAP), drops the bounding set and sets the final sets.
//
//go:nosplit
//go:norace
func (p *plan) applyCaps() (uint32, syscall.Errno) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&p.capHdr)), uintptr(unsafe.Pointer(&p.capRaise[0])), 0); e != 0 {
		return stepCapRaise, e
	}
	for i := 0; i < len(p.drop); i++ {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, p.drop[i], 0, 0, 0, 0); e != 0 {
			return stepBounding, e
		}
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&p.capHdr)), uintptr(unsafe.Pointer(&p.capFinal[0])), 0); e != 0 {
		return stepCaps, e
	}
	return 0, 0
}

// ambientAndCheck sets the ambient set and checks that every dropped
// capability left the bounding set.
//
//go:nosplit
//go:norace
func (p *plan) ambientAndCheck() (uint32, syscall.Errno) {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return stepAmbient, e
	}
	for i := 0; i < len(p.ambient); i++ {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, p.ambient[i], 0, 0, 0); e != 0 {
			return stepAmbient, e
		}
	}
	for i := 0; i < len(p.drop); i++ {
		in, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAPBSET_READ, p.drop[i], 0, 0, 0, 0)
		if e != 0 {
			return stepBoundingCheck, e
		}
		if in != 0 {
			return stepBoundingCheck, syscall.EPERM
		}
	}
	return 0, 0
}
