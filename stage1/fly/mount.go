package fly

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/podmount"
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
	podmount.Rootfs
	log *logger
}

// hostFS binds a host file system (/dev, /proc, /sys) with its submounts
// onto the same path in the rootfs and forbids creating mount targets
// below it. The copies are private already: every mount of our namespace
// was made private before.
func (m *mounter) hostFS(p string) error {
	target, err := m.BindInto(p, p, true, false)
	if err != nil {
		return err
	}
	m.NoCreate = append(m.NoCreate, target)
	return nil
}
