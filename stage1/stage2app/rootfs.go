package stage2app

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// EnsureTmp gives the app a /tmp (mode 1777) when its image has none; an
// image's own /tmp is kept as it is.
func EnsureTmp(rootfs string) error {
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

// CheckWorkDir makes sure the working directory exists in the image, for
// a clear error instead of the app failing to start.
func CheckWorkDir(rootfs, wd string) error {
	h, err := InRoot(rootfs, wd)
	if err != nil {
		return err
	}
	fi, err := os.Stat(h)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("working directory %q does not exist in the app", wd)
	}
	return nil
}
