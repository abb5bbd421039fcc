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
func Apply(rootfs string) error {
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
