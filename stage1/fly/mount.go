package fly

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/podmount"
	"github.com/rkt/rkt/stage1/stage2app"
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
	target, err := stage2app.PrepareTarget(m.rootfs, p, fi.IsDir(), m.noCreate)
	if err != nil {
		return "", err
	}
	if err := podmount.Bind(src, target, recursive, readOnly); err != nil {
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
