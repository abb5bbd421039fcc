// Package flock provides advisory flock(2) locks on files and directories.
//
// rkt shares all of its state through the data directory, and the only
// coordination between its processes is flock(2): a pod is "running" exactly
// while its stage1 holds an exclusive lock on the pod directory, the image
// store guards each image with a key lock, and so on. flock(2) suits this
// because the kernel drops the lock when the last descriptor of the open file
// description is closed, so a crashed process never leaves a stale lock
// behind, and because the descriptor can be handed to a child across exec(2).
//
// Locks belong to an open file description, not to a process: two Locks
// opened separately on the same path conflict even inside one process, while
// duplicated descriptors (dup(2), fork, exec) share one lock. Taking a lock of
// the other kind on a Lock that already holds one converts it; flock(2) does
// not make that conversion atomic, so another process may get the lock in
// between.
package flock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by the Try* methods (and by non-blocking KeyLock)
// when another open file description holds a conflicting lock.
var ErrLocked = errors.New("locked by another process")

// Lock is an open file or directory that can be flock(2)ed. The zero value is
// not usable; get one from OpenDir, OpenFile or FromFD. Closing it releases
// the lock, unless a duplicate of the descriptor lives on in another process.
type Lock struct {
	f    *os.File
	path string
}

// OpenDir opens the directory at path for locking. The descriptor is
// read-only, which is all flock(2) needs, and close-on-exec, so a lock only
// crosses exec(2) when Inheritable asks for it.
func OpenDir(path string) (*Lock, error) {
	// os.OpenFile always adds O_CLOEXEC and retries EINTR.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("flock: open dir: %w", err)
	}
	return &Lock{f: f, path: path}, nil
}

// OpenFile opens the file at path for locking, creating it with perm (rkt
// uses 0660, before the umask) when it is missing. The descriptor is
// read-only, so a lock file created by another member of the data
// directory's group can be locked with read permission alone, and it is
// close-on-exec.
func OpenFile(path string, perm os.FileMode) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("flock: open file: %w", err)
	}
	return &Lock{f: f, path: path}, nil
}

// FromFD adopts a descriptor inherited from the parent, as stage1 does with
// RKT_LOCK_FD, so that it can be probed, converted or closed like any Lock.
// name is used in errors and returned by Path. The descriptor's close-on-exec
// flag is left as it is: a stage1 that execs further must keep holding the
// pod lock. An fd that is not open is an error, so a wrong RKT_LOCK_FD is
// caught here rather than as a mysterious EBADF later.
func FromFD(fd int, name string) (*Lock, error) {
	if fd < 0 {
		return nil, fmt.Errorf("flock: adopt fd %d (%s): %w", fd, name, unix.EBADF)
	}
	if err := retryEINTR(func() error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		return err
	}); err != nil {
		return nil, fmt.Errorf("flock: adopt fd %d (%s): %w", fd, name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, fmt.Errorf("flock: adopt fd %d (%s): %w", fd, name, unix.EBADF)
	}
	return &Lock{f: f, path: name}, nil
}

// Exclusive takes an exclusive lock, waiting for other holders to let go.
func (l *Lock) Exclusive() error {
	return l.flock(unix.LOCK_EX, "exclusive lock")
}

// TryExclusive takes an exclusive lock or, if another holder is in the way,
// returns an error wrapping ErrLocked at once.
func (l *Lock) TryExclusive() error {
	return l.flock(unix.LOCK_EX|unix.LOCK_NB, "try exclusive lock")
}

// Shared takes a shared lock, waiting for an exclusive holder to let go.
func (l *Lock) Shared() error {
	return l.flock(unix.LOCK_SH, "shared lock")
}

// TryShared takes a shared lock or, if an exclusive holder is in the way,
// returns an error wrapping ErrLocked at once.
func (l *Lock) TryShared() error {
	return l.flock(unix.LOCK_SH|unix.LOCK_NB, "try shared lock")
}

// Unlock releases the lock but keeps the descriptor open. Note that a
// duplicate of the descriptor in another process (after Inheritable and exec)
// shares the lock, so Unlock releases it for that process too.
func (l *Lock) Unlock() error {
	return l.flock(unix.LOCK_UN, "unlock")
}

// Close closes the descriptor, which releases the lock unless a duplicate of
// it is still open elsewhere.
func (l *Lock) Close() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("flock: close %s: %w", l.path, err)
	}
	return nil
}

// Fd returns the descriptor number, or -1 once the Lock is closed.
func (l *Lock) Fd() int {
	// os.File.Fd returns ^uintptr(0) after Close, which converts to -1.
	return int(l.f.Fd())
}

// File returns the underlying file, for handing the lock to a child through
// exec.Cmd.ExtraFiles. The Lock still owns it: do not close it directly.
func (l *Lock) File() *os.File {
	return l.f
}

// Path returns the path the Lock was opened with (the name, for FromFD).
func (l *Lock) Path() string {
	return l.path
}

// Inheritable clears FD_CLOEXEC so the lock survives exec(2) into the
// stage1, and returns the descriptor number to pass on as RKT_LOCK_FD. From
// then on the lock is held until every process holding a copy has closed it
// or exited, which is how a pod stays "running" exactly as long as its
// stage1 lives.
func (l *Lock) Inheritable() (int, error) {
	fd := -1
	var opErr error
	err := l.control(func(raw uintptr) {
		fd = int(raw)
		opErr = retryEINTR(func() error {
			flags, err := unix.FcntlInt(raw, unix.F_GETFD, 0)
			if err != nil {
				return err
			}
			_, err = unix.FcntlInt(raw, unix.F_SETFD, flags&^unix.FD_CLOEXEC)
			return err
		})
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return -1, fmt.Errorf("flock: make %s inheritable: %w", l.path, err)
	}
	return fd, nil
}

// flock runs flock(2) with how on the descriptor, retrying EINTR, and maps
// EWOULDBLOCK to ErrLocked.
func (l *Lock) flock(how int, what string) error {
	var opErr error
	err := l.control(func(fd uintptr) {
		opErr = retryEINTR(func() error { return unix.Flock(int(fd), how) })
	})
	if err == nil {
		err = opErr
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		err = ErrLocked
	}
	if err != nil {
		return fmt.Errorf("flock: %s %s: %w", what, l.path, err)
	}
	return nil
}

// control runs fn on the raw descriptor while holding a reference to it, so
// a concurrent Close cannot let the number be reused for another file in the
// middle of a (possibly long, blocking) flock(2).
func (l *Lock) control(fn func(fd uintptr)) error {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(fn)
}

// Probe reports whether someone else holds an exclusive lock on path. It
// takes a non-blocking shared lock on a fresh descriptor and drops it at
// once, which is how rkt tells a running pod from an exited one without
// disturbing either. A path that does not exist is an error wrapping
// fs.ErrNotExist.
func Probe(path string) (locked bool, err error) {
	// O_RDONLY without O_DIRECTORY opens files and directories alike.
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("flock: probe: %w", err)
	}
	l := &Lock{f: f, path: path}
	defer l.Close()
	switch err := l.TryShared(); {
	case errors.Is(err, ErrLocked):
		return true, nil
	case err != nil:
		return false, err
	}
	// Closing would release the shared lock too; unlocking first only makes
	// the window in which it could bother an exclusive locker shorter.
	return false, l.Unlock()
}

// retryEINTR calls fn until it returns something other than EINTR. A
// blocking flock(2) is interrupted whenever a signal arrives (the Go runtime
// sends SIGURG for preemption), so EINTR is routine, not a failure.
func retryEINTR(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
