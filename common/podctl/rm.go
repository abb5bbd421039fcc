package podctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/pod"
)

// ErrRemove is the final error of an rm that could not remove every pod.
var ErrRemove = errors.New("failed to remove one or more pods")

// RmCommand is `rkt rm` (reference CLI-RM-01).
func RmCommand() *cli.Command {
	var uuidFile string
	return &cli.Command{
		Name:      "rm",
		Summary:   "Remove all files and resources associated with an exited pod",
		Usage:     "(--uuid-file=FILE | UUID...)",
		NeedsRoot: true,
		Description: `Removes exited pods, pods whose prepare failed and prepared pods at
once, without gc's grace period. Running pods and pods being prepared
or deleted are refused. Each removed pod's UUID is printed, quoted.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&uuidFile, "uuid-file", "", "read the pod UUID from this file instead of arguments")
		},
		Run: func(env *cli.Env, args []string) error {
			ids, err := podArgs(uuidFile, args, cli.ExitFailure)
			if err != nil {
				return err
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			if !removePods(newRemover(env, root), ids) {
				return ErrRemove
			}
			return nil
		},
	}
}

// removePods removes the pods named by args, a few at a time like gc's
// sweep, and reports on each in the order of args. It returns whether
// all were removed.
func removePods(r *remover, args []string) bool {
	type result struct {
		uuid string
		err  error
	}
	results := make([]chan result, len(args))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	jobs := make(chan int)
	go func() {
		for i := range args {
			jobs <- i
		}
		close(jobs)
	}()
	for range min(len(args), sweepWorkers()) {
		go func() {
			for i := range jobs {
				uuid, err := removePod(r, args[i])
				results[i] <- result{uuid, err}
			}
		}()
	}
	ok := true
	for _, c := range results {
		res := <-c
		if res.err != nil {
			r.stderr.Printf("rkt: %v", res.err)
			ok = false
			continue
		}
		r.stdout.Printf("%q", res.uuid)
	}
	return ok
}

// rmLockTries bounds how long rm waits for a pod's lock that a reader
// (rkt list, rkt status) holds for an instant while probing the pod.
const (
	rmLockTries = 20
	rmLockWait  = 50 * time.Millisecond
)

// removePod removes the pod named by arg (a UUID or unique prefix; only
// this pod's directory is looked up, CLI-GEN-05) and returns its UUID.
func removePod(r *remover, arg string) (string, error) {
	p, err := pod.Lookup(r.root, arg)
	if err != nil {
		return "", err
	}
	var to pod.Place
	switch p.State {
	case pod.StateRunning:
		return "", fmt.Errorf("pod %q is currently running", p.UUID)
	case pod.StateEmbryo, pod.StatePreparing:
		return "", fmt.Errorf("pod %q is currently being prepared", p.UUID)
	case pod.StateDeleting, pod.StateExitedDeleting:
		return "", fmt.Errorf("pod %q is currently being deleted", p.UUID)
	case pod.StateAbortedPrepare, pod.StatePrepared, pod.StateGarbage:
		to = pod.Garbage
	case pod.StateExited, pod.StateExitedGarbage:
		to = pod.ExitedGarbage
	default:
		return "", fmt.Errorf("pod %q is in state %s", p.UUID, p.State)
	}
	// Lock first, then move: the lock follows the directory through the
	// rename, so no one else can start deleting it in between.
	defer p.Close()
	if err := lockForRemoval(p); err != nil {
		return "", err
	}
	if p.Place != to {
		if err := p.MoveTo(to); err != nil {
			// A concurrent gc may have marked it meanwhile: follow it.
			moved := filepath.Join(r.root.PodsIn(to.Dir()), p.UUID)
			if _, serr := os.Lstat(moved); !isNotExist(err) || serr != nil {
				return "", err
			}
			p.Place = to
		}
	}
	if err := r.remove(p, to == pod.ExitedGarbage); err != nil {
		return "", err
	}
	return p.UUID, nil
}

// lockForRemoval takes p's exclusive lock without waiting for a holder
// that means it: a running stage1, a preparer, a gc or rm deleting it.
// Readers probe with a shared lock for an instant; those are outwaited.
// A pod that a concurrent gc has just marked is followed to its new place.
func lockForRemoval(p *pod.Pod) error {
	var err error
	for range rmLockTries {
		err = p.Lock(false)
		if isNotExist(err) {
			if rerr := p.Refresh(); rerr != nil {
				break
			}
			continue
		}
		if !errors.Is(err, flock.ErrLocked) {
			break
		}
		time.Sleep(rmLockWait)
	}
	switch {
	case err == nil:
		return nil
	case isNotExist(err):
		return fmt.Errorf("pod %q is gone: removed by another process", p.UUID)
	case errors.Is(err, flock.ErrLocked):
		if p.State == pod.StatePrepared {
			return fmt.Errorf("pod %q is currently being started", p.UUID)
		}
		return fmt.Errorf("pod %q is currently being deleted", p.UUID)
	}
	return err
}
