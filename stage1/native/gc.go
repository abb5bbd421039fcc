package native

import (
	"errors"
	"fmt"
	"os"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/security/cgroup"
	"github.com/rkt/rkt/stage1/podmount"
)

// GC is the `gc` entrypoint: best-effort cleanup of what a pod may have
// left, also after its supervisor was SIGKILLed. The pod's mounts live
// in the supervisor's mount namespace and die with it; to be safe with a
// stage0 that ran the pod without a private namespace, gc detaches
// whatever is still mounted below the stage1 rootfs in its own
// namespace, destroys the pod's cgroups (killing anything left in them)
// and removes the enter socket.
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
	var errs []error
	if err := podmount.UnmountLeftovers(dir, l.Debugf); err != nil {
		errs = append(errs, err)
	}
	if err := cgroup.DestroyByName(ga.UUID); err != nil {
		errs = append(errs, err)
	}
	// The pod's processes are gone, and with them its netns and veths:
	// release the IPAM leases and the masquerading rules.
	if err := teardownNetwork(dir, ga.UUID, ga.LocalConfig, l); err != nil {
		errs = append(errs, fmt.Errorf("network teardown: %w", err))
	}
	if err := os.Remove(socketPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return l.Fail(err)
	}
	return ExitOK
}
