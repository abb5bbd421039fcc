package fly

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
)

// enterPrivateMountNamespace moves the calling thread into a mount
// namespace of its own, with every mount private, so that nothing fly
// mounts reaches the host even when stage0 did not unshare one. It locks
// the calling goroutine to its thread for the rest of the process: the
// namespace belongs to that thread, and so must every later mount and
// the fork of the app.
func enterPrivateMountNamespace() error {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make all mounts private: %w", err)
	}
	return nil
}

// mounter makes the mounts of an app rootfs.
type mounter struct {
	rootfs string
	// noCreate are host paths under rootfs (binds of host file systems)
	// below which no missing mount target may be created.
	noCreate []string
	log      *logger
}

// bindInto binds the host path src onto p inside the rootfs, creating
// the target to match src's type. It returns the target's host path.
func (m *mounter) bindInto(src, p string, recursive, readOnly bool) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", src, err)
	}
	target, err := PrepareTarget(m.rootfs, p, fi.IsDir(), m.noCreate)
	if err != nil {
		return "", err
	}
	if err := bindMount(src, target, recursive, readOnly); err != nil {
		return "", err
	}
	m.log.Debugf("bound %s on %s (recursive=%v, read-only=%v)", src, p, recursive, readOnly)
	return target, nil
}

// hostFS binds a host file system (/dev, /proc, /sys) with its submounts
// onto the same path in the rootfs, marks the copies private, and
// forbids creating mount targets below it.
func (m *mounter) hostFS(p string) error {
	target, err := m.bindInto(p, p, true, false)
	if err != nil {
		return err
	}
	if err := unix.Mount("", target, "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", target, err)
	}
	m.noCreate = append(m.noCreate, target)
	return nil
}

// bindMount binds src onto target, read-only if asked (the remount keeps
// the flags the source mount has, such as nosuid).
func bindMount(src, target string, recursive, readOnly bool) error {
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
		mps, err := readMountPoints()
		if err != nil {
			return err
		}
		targets = append(targets, mountsUnder(mps, target)...)
	}
	for _, t := range targets {
		if err := remountReadOnly(t); err != nil {
			return err
		}
	}
	return nil
}

// remountReadOnly makes the bind mount at target read-only, keeping its
// other flags.
func remountReadOnly(target string) error {
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

// ensureTmp gives the app a /tmp (mode 1777) when its image has none; an
// image's own /tmp is kept as it is.
func ensureTmp(rootfs string) error {
	t, err := InRoot(rootfs, "/tmp")
	if err != nil {
		return err
	}
	if _, err := os.Lstat(t); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(t, 0o755); err != nil {
		return fmt.Errorf("create /tmp in the app: %w", err)
	}
	if err := unix.Chmod(t, 0o1777); err != nil {
		return fmt.Errorf("chmod /tmp in the app: %w", err)
	}
	return nil
}

// prepareEmptyVolume creates (or re-owns) an empty volume's directory
// <pod>/sharedVolumes/<name> and returns its path.
func prepareEmptyVolume(podDir, name string, mode uint32, uid, gid int) (string, error) {
	parent := filepath.Join(podDir, stage1abi.SharedVolumesDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	if err := unix.Chmod(parent, 0o755); err != nil {
		return "", fmt.Errorf("chmod %s: %w", parent, err)
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("create empty volume %q: %w", name, err)
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return "", fmt.Errorf("chown empty volume %q: %w", name, err)
	}
	if err := unix.Chmod(dir, mode); err != nil {
		return "", fmt.Errorf("chmod empty volume %q: %w", name, err)
	}
	return dir, nil
}
