// Package podmount holds the mount operations both stage1 flavors make
// for a pod: binding host paths into an app's rootfs (read-only if
// asked, with their submounts) and detaching what a pod left mounted
// below its stage1 rootfs. It reads the mount table with common/mount.
package podmount

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/stage1abi"
)

// Bind binds src onto target, read-only if asked (the remount keeps the
// flags the source mount has, such as nosuid). A recursive read-only
// bind makes every submount read-only too.
func Bind(src, target string, recursive, readOnly bool) error {
	flags := uintptr(unix.MS_BIND)
	if recursive {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(src, target, "", flags, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	if !readOnly {
		return nil
	}
	targets := []string{target}
	if recursive {
		t, err := mount.Read()
		if err != nil {
			return err
		}
		targets = append(targets, Below(t, target)...)
	}
	for _, t := range targets {
		if err := RemountReadOnly(t); err != nil {
			return err
		}
	}
	return nil
}

// RemountReadOnly makes the bind mount at target read-only, keeping its
// other flags.
func RemountReadOnly(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", target, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// Below returns the mount points of t strictly below dir, deepest first
// (the order to unmount them in), each once.
func Below(t mount.Table, dir string) []string {
	seen := map[string]bool{filepath.Clean(dir): true}
	var out []string
	for _, m := range t.Under(dir) {
		if !seen[m.MountPoint] {
			seen[m.MountPoint] = true
			out = append(out, m.MountPoint)
		}
	}
	return out
}

// UnmountLeftovers lazily detaches, deepest first, every mount strictly
// below the stage1 rootfs of the pod in podDir (the rootfs itself is
// stage0's), in the calling thread's mount namespace. debugf is told
// about each one. All are tried; the errors are joined.
func UnmountLeftovers(podDir string, debugf func(format string, args ...any)) error {
	root := filepath.Join(podDir, stage1abi.Stage1RootfsRel)
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	t, err := mount.Read()
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range Below(t, root) {
		debugf("unmounting leftover %s", mp)
		err := unix.Unmount(mp, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}
