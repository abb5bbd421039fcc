package fly

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
)

// GC is the `gc` entrypoint (reference S1-GC). fly has no network,
// cgroup or journal to tear down, and its mounts die with the pod's
// private mount namespace; stage0 deletes the pod directory. To be safe
// with a stage0 that ran the pod without a private namespace, it lazily
// unmounts, deepest first, whatever is still mounted below the pod's
// stage1 rootfs in the namespace it runs in.
func GC(args []string) int {
	ga, err := stage1abi.ParseGCArgs(args)
	if err != nil {
		return newLogger(false).fail(err)
	}
	l := newLogger(ga.Debug)
	dir, err := os.Getwd()
	if err != nil {
		return l.fail(fmt.Errorf("pod directory: %w", err))
	}
	if err := unmountLeftovers(dir, l); err != nil {
		return l.fail(err)
	}
	return ExitOK
}

// unmountLeftovers detaches every mount strictly below the stage1 rootfs
// of the pod in dir (the rootfs itself is stage0's).
func unmountLeftovers(dir string, l *logger) error {
	root := filepath.Join(dir, stage1abi.Stage1RootfsRel)
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	mps, err := readMountPoints()
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mountsUnder(mps, root) {
		l.Debugf("unmounting leftover %s", mp)
		err := unix.Unmount(mp, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}
