package podctl

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// StopCommand is `rkt stop` (reference CLI-STOP-01/02).
func StopCommand() *cli.Command {
	var uuidFile string
	var force bool
	return &cli.Command{
		Name:      "stop",
		Summary:   "Stop a pod",
		Usage:     "[--force] (--uuid-file=FILE | UUID...)",
		NeedsRoot: true,
		Description: `Asks each pod's stage1 to stop it (SIGTERM to the pod, which stops its
apps), or with --force to kill it. Returns once the stage1 has been
told, not when the pod has exited: use 'rkt status --wait' for that.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&force, "force", false, "forced stopping")
			fs.StringVar(&uuidFile, "uuid-file", "", "read the pod UUID from this file instead of arguments")
		},
		Run: func(env *cli.Env, args []string) error {
			ids, err := podArgs(uuidFile, args, 1)
			if err != nil {
				return err
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			failed := 0
			for _, id := range ids {
				if err := stopPod(env, root, id, force); err != nil {
					fmt.Fprintf(env.Stderr, "rkt: %v\n", err)
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("failed to stop %d pod(s)", failed)
			}
			return nil
		},
	}
}

// afterRun reports whether a pod in state s has run and stopped (rkt's
// AfterRun): stopping it again is no error.
func afterRun(s pod.State) bool {
	switch s {
	case pod.StateExited, pod.StateExitedGarbage, pod.StateExitedDeleting, pod.StateDeleting:
		return true
	}
	return false
}

// stopPod runs the stage1 stop entrypoint of one running pod, with the
// pod directory as working directory and our stdout and stderr.
func stopPod(env *cli.Env, root dirs.Root, arg string, force bool) error {
	p, err := pod.Lookup(root, arg)
	if err != nil {
		return err
	}
	if afterRun(p.State) {
		fmt.Fprintf(env.Stdout, "pod %q is already stopped\n", p.UUID)
		return nil
	}
	if p.State != pod.StateRunning {
		return fmt.Errorf("pod %q is not running (state %s)", p.UUID, p.State)
	}
	ep, err := p.Stage1Entrypoint(stage1abi.AnnotationStop)
	if errors.Is(err, stage1abi.ErrNoEntrypoint) {
		return fmt.Errorf("pod %q: rkt stop not implemented for pod's stage1", p.UUID)
	}
	if err != nil {
		return err
	}
	cmd := entrypointCmd(p, ep, (&stage1abi.StopArgs{Force: force, UUID: p.UUID}).Args())
	cmd.Stdout, cmd.Stderr = childWriter(env.Stdout), childWriter(env.Stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("error stopping %q: %w", p.UUID, err)
	}
	fmt.Fprintf(env.Stdout, "%q\n", p.UUID)
	return nil
}
