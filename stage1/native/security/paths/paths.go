// Package paths hides and write-protects the sensitive parts of /proc and
// /sys inside an app's root filesystem (SEC-PATH-01), as rkt did through
// systemd's InaccessiblePaths= and ReadOnlyPaths=.
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ReadOnly are made read-only with a bind remount.
var ReadOnly = []string{
	"/proc/bus",
	"/proc/sys/kernel/core_pattern",
	"/proc/sys/kernel/modprobe",
	"/proc/sys/vm/panic_on_oom",
	"/proc/sysrq-trigger",
	"/sys/block",
	"/sys/bus",
	"/sys/class",
	"/sys/dev",
	"/sys/devices",
	"/sys/kernel",
}

// InaccessibleDirs are covered by an empty, read-only tmpfs of mode 0000.
var InaccessibleDirs = []string{
	"/sys/firmware",
	"/sys/fs",
	"/sys/hypervisor",
	"/sys/module",
	"/sys/power",
}

// InaccessibleFiles are covered by a bind mount of an empty mode 0000 file.
var InaccessibleFiles = []string{
	"/proc/config.gz",
	"/proc/kallsyms",
	"/proc/sched_debug",
	"/proc/kcore",
	"/proc/kmem",
	"/proc/mem",
}

// Apply masks the paths below rootfs. It must run inside the app's private
// mount namespace, after /proc and /sys are mounted under rootfs. Paths that
// do not exist are skipped. Symlinks are not followed outside rootfs: a
// path whose parent resolves elsewhere is refused.
//
// Inaccessible files are covered with an empty mode 0000 file, not
// /dev/null as a bind of a device node would still be readable.
//
// The paths are resolved with openat2(2) below an open rootfs and the
// mounts made on those descriptors with the mount API (open_tree,
// mount_setattr, move_mount): one lookup per path instead of an lstat per
// component of the long rootfs path, and no window in which a mask is
// writable. On kernels without that API (before 5.12) Apply falls back to
// path-based bind mounts and remounts.
func Apply(rootfs string) error {
	if !noMountAPI.Load() {
		err := applyFD(rootfs)
		if !errors.Is(err, unix.ENOSYS) {
			return err
		}
		noMountAPI.Store(true)
	}
	return applyPaths(rootfs)
}

// noMountAPI is set once the mount API or openat2 turned out to be
// missing (ENOSYS).
var noMountAPI atomic.Bool

// Names in the masks file system (see masks).
const (
	maskDir  = "d"
	maskFile = "f"
)

// masks returns a detached, read-only tmpfs holding an empty directory
// (maskDir) and an empty file (maskFile), both mode 0000: what the masks
// are bind mounts of. Being read-only, the clones need no remount, and
// the tmpfs exists in no mount namespace, so nothing on the host shows it.
// Every syscall Apply needs is tried here, before anything is mounted, so
// that a missing one (ENOSYS) leaves nothing half done.
func masks() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("masks file system: fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "size", "4k"); err != nil {
		return -1, fmt.Errorf("masks file system: size: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("masks file system: create: %w", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("masks file system: fsmount: %w", err)
	}
	err = unix.Mkdirat(mnt, maskDir, 0)
	if err == nil {
		var fd int
		if fd, err = unix.Openat(mnt, maskFile, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
		}
	}
	if err == nil {
		// Mode 0000 for the directory too: mkdirat applies the umask.
		err = unix.Fchmodat(mnt, maskDir, 0, 0)
	}
	if err == nil {
		err = unix.MountSetattr(mnt, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	}
	if err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("masks file system: %w", err)
	}
	return mnt, nil
}

// applyFD is Apply with the mount API.
func applyFD(rootfs string) error {
	mnt, err := masks()
	if err != nil {
		return err
	}
	// Closing the detached masks mount unmounts it, and an unmount
	// waits for an RCU grace period (~0.1 ms here): on another thread,
	// while the app's setup goes on. Its copies stay.
	defer func() { go unix.Close(mnt) }()
	root, err := unix.Openat2(unix.AT_FDCWD, rootfs, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return fmt.Errorf("opening rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	for _, p := range InaccessibleFiles {
		if err := cover(root, rootfs, p, mnt, maskFile); err != nil {
			return err
		}
	}
	for _, p := range InaccessibleDirs {
		if err := cover(root, rootfs, p, mnt, maskDir); err != nil {
			return err
		}
	}
	for _, p := range ReadOnly {
		if err := protect(root, rootfs, p); err != nil {
			return err
		}
	}
	return nil
}

// open opens p below root (a descriptor of rootfs) as an O_PATH
// descriptor for a mount target; ok is false when p does not exist.
// Symlinks may not lead out of root, nor be the last component, since
// mounting over it would follow it.
func open(root int, rootfs, p string) (fd int, ok bool, err error) {
	rel := strings.TrimPrefix(p, "/")
	fd, err = unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(err, unix.ENOENT):
		return -1, false, nil
	case errors.Is(err, unix.EXDEV):
		return -1, false, fmt.Errorf("%s escapes the rootfs %s", filepath.Join(rootfs, p), rootfs)
	case err != nil:
		return -1, false, fmt.Errorf("resolving %s: %w", filepath.Join(rootfs, p), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, false, fmt.Errorf("checking %s: %w", filepath.Join(rootfs, p), err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		return -1, false, fmt.Errorf("refusing to mount over symlink %s", filepath.Join(rootfs, p))
	}
	return fd, true, nil
}

// cover mounts a clone of the mask name (maskFile or maskDir) of the
// masks file system mnt over p.
func cover(root int, rootfs, p string, mnt int, name string) error {
	target, ok, err := open(root, rootfs, p)
	if err != nil || !ok {
		return err
	}
	defer unix.Close(target)
	tree, err := unix.OpenTree(mnt, name, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("masking %s: %w", filepath.Join(rootfs, p), err)
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("masking %s: %w", filepath.Join(rootfs, p), err)
	}
	return nil
}

// protect mounts a read-only clone of p (with its submounts) over p,
// unless p is on a read-only mount already (below the native stage1's
// read-only /sys), where that would only cost mounts.
func protect(root int, rootfs, p string) error {
	target, ok, err := open(root, rootfs, p)
	if err != nil || !ok {
		return err
	}
	defer unix.Close(target)
	var st unix.Statfs_t
	if err := unix.Fstatfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", filepath.Join(rootfs, p), err)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return nil
	}
	tree, err := unix.OpenTree(target, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("bind mounting %s: %w", filepath.Join(rootfs, p), err)
	}
	defer unix.Close(tree)
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("making %s read-only: %w", filepath.Join(rootfs, p), err)
	}
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind mounting %s: %w", filepath.Join(rootfs, p), err)
	}
	return nil
}

// applyPaths is Apply without the mount API: each path is resolved and
// mounted on by name.
func applyPaths(rootfs string) error {
	root, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return fmt.Errorf("resolving rootfs %s: %w", rootfs, err)
	}
	empty, cleanup, err := emptyFile()
	if err != nil {
		return err
	}
	defer cleanup()

	for _, p := range InaccessibleFiles {
		target, ok, err := resolve(root, p)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		if err := unix.Mount(empty, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("masking %s: %w", target, err)
		}
		if err := remountRO(target); err != nil {
			return err
		}
	}
	for _, p := range InaccessibleDirs {
		target, ok, err := resolve(root, p)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := unix.Mount("tmpfs", target, "tmpfs", flags, "mode=000,size=0"); err != nil {
			return fmt.Errorf("masking %s: %w", target, err)
		}
	}
	for _, p := range ReadOnly {
		target, ok, err := resolve(root, p)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		var st unix.Statfs_t
		if err := unix.Statfs(target, &st); err != nil {
			return fmt.Errorf("statfs %s: %w", target, err)
		}
		// Already read-only (below the native stage1's read-only /sys):
		// nothing to do, the bind and remount would only cost mounts.
		if st.Flags&unix.ST_RDONLY != 0 {
			continue
		}
		if err := unix.Mount(target, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mounting %s: %w", target, err)
		}
		// The bind has the flags of the mount it was made from.
		if err := remountROFlags(target, st.Flags); err != nil {
			return err
		}
	}
	return nil
}

// remountRO makes the bind mount at target read-only, keeping the flags the
// kernel insists on (a bind remount may not clear nosuid/nodev/noexec of
// the underlying mount in an unprivileged namespace).
func remountRO(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", target, err)
	}
	return remountROFlags(target, st.Flags)
}

// remountROFlags is remountRO for a mount whose statfs flags are known.
func remountROFlags(target string, flags int64) error {
	keep := uintptr(flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|keep, ""); err != nil {
		return fmt.Errorf("remounting %s read-only: %w", target, err)
	}
	return nil
}

// resolve returns rootfs+p if it exists, refusing parents that escape
// rootfs through symlinks. The last component must not be a symlink either,
// since mounting over it would follow it.
func resolve(root, p string) (string, bool, error) {
	target := filepath.Join(root, p)
	parent, err := filepath.EvalSymlinks(filepath.Dir(target))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("resolving %s: %w", target, err)
	}
	if parent != root && !strings.HasPrefix(parent, root+"/") {
		return "", false, fmt.Errorf("%s escapes the rootfs %s", target, root)
	}
	target = filepath.Join(parent, filepath.Base(target))
	fi, err := os.Lstat(target)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("checking %s: %w", target, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return "", false, fmt.Errorf("refusing to mount over symlink %s", target)
	}
	return target, true, nil
}

// emptyFile creates the empty mode 0000 file bind mounted over inaccessible
// files. The bind mounts keep the inode alive after the file is removed.
func emptyFile() (string, func(), error) {
	// On /dev/shm (a tmpfs) when there is one: a file made and removed
	// on every pod start costs a disk inode otherwise.
	f, err := os.CreateTemp("/dev/shm", "rkt-masked-")
	if err != nil {
		f, err = os.CreateTemp("", "rkt-masked-")
	}
	if err != nil {
		return "", nil, fmt.Errorf("creating mask file: %w", err)
	}
	name := f.Name()
	cleanup := func() { _ = os.Remove(name) }
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("creating mask file: %w", err)
	}
	if err := os.Chmod(name, 0); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("creating mask file: %w", err)
	}
	return name, cleanup, nil
}
