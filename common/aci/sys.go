package aci

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2 turned out to be missing (ENOSYS, kernels
// before 5.6, or a seccomp filter that blocks it); from then on paths are
// resolved one component at a time. Tests set it to exercise that walk.
var noOpenat2 atomic.Bool

// resolveFlags make the kernel refuse any symlink (and /proc magic link) on
// the way, and anything that would leave the directory the walk starts from.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens rel (clean, relative, without "..") beneath the directory
// fd root, never following a symlink in any component, the last included.
func openBeneath(root int, rel string, flags int, mode uint32) (int, error) {
	flags |= unix.O_CLOEXEC
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags), Resolve: resolveFlags}
		if flags&unix.O_CREAT != 0 {
			how.Mode = uint64(mode)
		}
		for try := 0; ; try++ {
			fd, err := unix.Openat2(root, rel, &how)
			// EAGAIN: the kernel saw a rename somewhere on the system during
			// the walk and cannot vouch that it stayed beneath root.
			if err == unix.EINTR || (err == unix.EAGAIN && try < 16) {
				continue
			}
			if err != unix.ENOSYS {
				return fd, err
			}
			noOpenat2.Store(true)
			break
		}
	}
	return walkOpen(root, rel, flags, mode)
}

// walkOpen is openBeneath without openat2: each directory component is opened
// with O_PATH|O_NOFOLLOW|O_DIRECTORY from the previous one, so a symlink
// component fails (ENOTDIR or ELOOP) instead of being followed. Names never
// hold "..", so the walk cannot climb out. This is the kernel's
// RESOLVE_NO_SYMLINKS done by hand; securejoin would instead follow symlinks
// scoped to root, which would make old kernels extract differently.
func walkOpen(root int, rel string, flags int, mode uint32) (int, error) {
	dir := root
	defer func() {
		if dir != root {
			unix.Close(dir)
		}
	}()
	for {
		i := strings.IndexByte(rel, '/')
		if i < 0 {
			break
		}
		comp := rel[:i]
		rel = rel[i+1:]
		if comp == "" || comp == "." {
			continue
		}
		next, err := openatRetry(dir, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, symlinkErr(dir, comp, err)
		}
		if dir != root {
			unix.Close(dir)
		}
		dir = next
	}
	if rel == "" || rel == "." {
		return openatRetry(dir, ".", flags|unix.O_CLOEXEC, mode)
	}
	fd, err := openatRetry(dir, rel, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return -1, symlinkErr(dir, rel, err)
	}
	if flags&unix.O_PATH != 0 {
		// O_PATH|O_NOFOLLOW opens a symlink itself instead of failing.
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			return -1, unix.ELOOP
		}
	}
	return fd, nil
}

// symlinkErr turns the ENOTDIR that O_DIRECTORY|O_NOFOLLOW gives for a
// symlink into the ELOOP openat2 gives, so both resolvers report the same.
func symlinkErr(dir int, name string, err error) error {
	if err != unix.ENOTDIR {
		return err
	}
	var st unix.Stat_t
	if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return err
}

func openatRetry(dir int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// resolveErr maps what the resolvers return for a path that would need to
// cross a symlink or leave the root to ErrUnsafePath.
func resolveErr(op, rel string, err error) error {
	if err == unix.ELOOP || err == unix.EXDEV {
		return fmt.Errorf("%s %s: %w: goes through a symlink or out of the tree", op, rel, ErrUnsafePath)
	}
	return fmt.Errorf("%s %s: %w", op, rel, err)
}

// writeAll writes all of b to fd. Short writes happen on signals.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// futimens is utimensat(fd, NULL, ts, 0); x/sys only offers the path form,
// which cannot name the fd itself.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func timespecs(atime, mtime time.Time) [2]unix.Timespec {
	if atime.IsZero() {
		atime = mtime
	}
	// Not UnixNano: it overflows outside 1678-2262, and a header can say
	// anything.
	return [2]unix.Timespec{
		{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())},
		{Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())},
	}
}

// removeAllAt removes name in dir and, if it is a directory, everything
// under it, without following symlinks: every step is relative to an fd
// opened with O_NOFOLLOW.
func removeAllAt(dir int, name string) error {
	err := unix.Unlinkat(dir, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := openatRetry(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	for {
		names, rerr := f.Readdirnames(256)
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil {
				f.Close()
				return err
			}
		}
		if rerr != nil || len(names) == 0 {
			break
		}
	}
	f.Close()
	err = unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// processUmask returns the umask without changing it (umask(2) can only be
// read by setting it, which would race with other goroutines creating
// files). ok is false where /proc does not tell (kernels before 4.7).
func processUmask() (mask uint32, ok bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		v, found := strings.CutPrefix(sc.Text(), "Umask:")
		if !found {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
		if err != nil {
			return 0, false
		}
		return uint32(m), true
	}
	return 0, false
}

// SyncTree flushes the file system holding dir to disk. Extraction writes
// files without fsync, one by one that would cost more than the extraction
// itself; one syncfs(2) once the whole tree is in place makes it durable
// before the store records it.
func SyncTree(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("aci: sync %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("aci: sync %s: %w", dir, err)
	}
	return nil
}
