// Package runpod starts a prepared pod: it moves the pod to run/, gives it
// a private mount namespace with its trees mounted, and execs the stage1
// `run` entrypoint with the pod lock, so that the stage1 holds the lock
// for the pod's life and the pod's exit status is rkt's.
package runpod

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/runplan"
	"github.com/rkt/rkt/common/stage1abi"
)

// Exec starts a pod whose lock the caller holds: from prepare/ (rkt run)
// or prepared/ (rkt run-prepared). files are written into the stage1
// rootfs (paths relative to it) once it is mounted: the DNS files of
// --dns-conf-mode=...stage0. apps are the names of the pod's apps
// (pod.ManifestOutline), whose overlays it mounts. It returns only on
// failure; the pod is then left in run/, unlocked, as an exited pod for
// gc.
func Exec(p *pod.Pod, apps []string, args stage1abi.RunArgs, files map[string][]byte, warn func(string)) error {
	plan, dropped, err := Plan(p, apps, args)
	if err != nil {
		return err
	}
	for _, d := range dropped {
		warn(d.String())
	}
	if p.Overlay() {
		if err := stage2OfEarlierBuilds(p, apps); err != nil {
			return fmt.Errorf("pod %s: %w", p.UUID, err)
		}
	}
	rootfs := filepath.Join(p.Root().PodsIn(pod.Run.Dir()), p.UUID, stage1abi.Stage1RootfsRel)
	return plan.Run(func() error {
		for rel, data := range files {
			target, err := securejoin.SecureJoin(rootfs, rel)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				return fmt.Errorf("writing %s: %w", rel, err)
			}
		}
		return nil
	})
}

// Plan works out the system calls that start the pod p, whose lock the
// caller holds: move it to run/, make its mount namespace private with
// its mounts slaves of the host's, mount its overlays (when it has
// them), enter its directory and exec the stage1's run entrypoint with
// args and the lock's fd in RKT_LOCK_FD. Exec carries it out from Go;
// rkt run writes it into the pod directory for rkt-run-prepared's fast
// path (runplan). It also returns the flags args has that the stage1's
// interface version cannot take.
func Plan(p *pod.Pod, apps []string, args stage1abi.RunArgs) (*runplan.Plan, []stage1abi.Dropped, error) {
	ep, err := p.Stage1Entrypoint(stage1abi.AnnotationRun)
	if err != nil {
		return nil, nil, err
	}
	args.UUID = p.UUID
	argv, dropped := args.Args(ep.Version)
	fd, err := p.LockFD()
	if err != nil {
		return nil, nil, err
	}
	runDir := filepath.Join(p.Root().PodsIn(pod.Run.Dir()), p.UUID)
	rootfs := filepath.Join(runDir, stage1abi.Stage1RootfsRel)
	// The entrypoint was resolved where the stage1 rootfs is outside a
	// mount namespace: in the tree the overlay shows, or the copy.
	s1, err := p.Stage1Rootfs()
	if err != nil {
		return nil, nil, err
	}
	rel, err := filepath.Rel(s1, ep.Path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, nil, fmt.Errorf("pod %s: stage1 run entrypoint %s outside the stage1 rootfs", p.UUID, ep.Path)
	}
	argv0, err := filepath.Rel(s1, ep.Argv0)
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: stage1 run entrypoint: %w", p.UUID, err)
	}
	plan := &runplan.Plan{Pod: p.UUID, Steps: []runplan.Step{
		{Op: runplan.OpRename, Strs: []string{p.Dir(), runDir}},
		{Op: runplan.OpUnshare, Flags: unix.CLONE_NEWNS},
		{Op: runplan.OpMount, Strs: []string{"", "/", "", "", ""}, Flags: unix.MS_REC | unix.MS_SLAVE},
	}}
	if p.Overlay() {
		// Each tree is the lower layer under the pod's own upper and work
		// directories. The overlay is volatile (Linux 5.10; plain, after
		// EINVAL, before that): it skips every sync of the upper file
		// system, the one overlayfs does when it is unmounted included.
		// That one commits the journal of the file system the data
		// directory is on, and the exit of the pod's last process waited
		// for it: ~2 ms of every `rkt run` here. Writes to an app's root
		// filesystem are written back like any others, but an fsync in
		// the app does not make them durable: data that must survive a
		// crash of the host goes to a volume (podman does the same for
		// --rm containers, CRI-O for all). rkt mounts each upper
		// directory as an upper layer once, so overlayfs's refusal to
		// mount a volatile one again (its work/work/incompat/volatile
		// marker) never applies; the stage1 that replaces the mount under
		// --private-users clears it first.
		overlay := func(lower, layers, target string) {
			opts := mount.OverlayOptions([]string{lower}, filepath.Join(layers, "upper"), filepath.Join(layers, "work"))
			plan.Steps = append(plan.Steps, runplan.Step{Op: runplan.OpMount,
				Strs: []string{"overlay", target, "overlay", opts + ",volatile", opts}})
		}
		trees := p.Root().Trees()
		overlay(s1, filepath.Join(runDir, stage1abi.OverlayDir, "stage1"), rootfs)
		for _, app := range apps {
			tree, err := os.ReadFile(p.Path(filepath.Join(stage1abi.AppsInfoDir, app, stage1abi.AppTreeIDFile)))
			if err != nil {
				return nil, nil, fmt.Errorf("pod %s: app %s: tree: %w", p.UUID, app, err)
			}
			overlay(filepath.Join(trees, strings.TrimSpace(string(tree)), "rootfs"),
				filepath.Join(runDir, stage1abi.OverlayDir, app), filepath.Join(runDir, stage1abi.AppRootfsRel(app)))
		}
	}
	plan.Steps = append(plan.Steps, runplan.Step{Op: runplan.OpChdir, Strs: []string{runDir}})
	// A stage1 that gives its pod's processes the timer slack of rkt's
	// caller runs with a large one itself (stage1abi.AnnotationTimerSlack);
	// another gets the caller's, which `rkt run` may not have had since
	// the dispatcher.
	slackEnv := ""
	if caller, own, err := timerSlacks(); err == nil {
		if ep.Manifest.Annotations[stage1abi.AnnotationTimerSlack] == "true" {
			plan.Steps = append(plan.Steps, runplan.Step{Op: runplan.OpTimerSlack, Flags: stage1abi.TimerSlack})
			slackEnv = stage1abi.TimerSlackEnv + "=" + strconv.Itoa(caller)
		} else if caller != own {
			plan.Steps = append(plan.Steps, runplan.Step{Op: runplan.OpTimerSlack, Flags: uint64(caller)})
		}
	}
	// argv[0] is the entrypoint as the stage1 named it: a multi-call
	// stage1 binary tells its entrypoints apart by it.
	plan.Steps = append(plan.Steps,
		runplan.Step{Op: runplan.OpExec, Strs: []string{filepath.Join(rootfs, rel), stage1abi.LockFDEnv + "=" + strconv.Itoa(fd), slackEnv},
			Argv: append([]string{filepath.Join(rootfs, argv0)}, argv...)})
	return plan, dropped, nil
}

// timerSlacks returns the timer slack of whoever started rkt (the one
// the dispatcher passed in RKT_TIMER_SLACK when it set ours, for `rkt
// run`; else ours) and ours.
func timerSlacks() (caller, own int, err error) {
	if own, err = unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err != nil {
		return 0, 0, err
	}
	caller = own
	if v := stage1abi.CallerTimerSlack(); v > 0 && v <= math.MaxInt {
		caller = int(v)
	}
	return caller, own, nil
}

// stage2OfEarlierBuilds writes the stage2 files (pod.WriteStage2) of a
// pod that an earlier build prepared: rkt-prepare writes them now, and
// earlier builds had rkt-run-prepared write them after the mounts.
func stage2OfEarlierBuilds(p *pod.Pod, apps []string) error {
	for _, app := range apps {
		if _, err := os.Stat(filepath.Join(p.Stage1UpperDir(), filepath.FromSlash(stage1abi.Stage2Dir), app, "manifest")); err == nil {
			continue
		}
		if err := p.WriteStage2(app); err != nil {
			return err
		}
	}
	return nil
}
