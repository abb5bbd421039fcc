package fly

import (
	"fmt"
	"os"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/podmount"
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
		return newLogger(false).Fail(err)
	}
	l := newLogger(ga.Debug)
	dir, err := os.Getwd()
	if err != nil {
		return l.Fail(fmt.Errorf("pod directory: %w", err))
	}
	if err := podmount.UnmountLeftovers(dir, l.Debugf); err != nil {
		return l.Fail(err)
	}
	return ExitOK
}
