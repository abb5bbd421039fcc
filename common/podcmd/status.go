package podcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/ui"
)

// pollInterval is how often --wait and --wait-ready look at the pod
// (reference CLI-STAT-04).
const pollInterval = 100 * time.Millisecond

// Status returns the `rkt status` command.
func Status() *cli.Command {
	var (
		wait      string
		waitReady string
		format    string
		uuidFile  string
	)
	return &cli.Command{
		Name:    "status",
		Summary: "Check the status of a rkt pod",
		Usage:   "[--wait[=bool|timeout]] [--wait-ready[=bool|timeout]] [--format=json|json-pretty] (--uuid-file=FILE | UUID)",
		Description: `Prints assorted information about the pod such as its state, pid and
exit statuses, as key=value lines.

The --wait and --wait-ready flags accept boolean or timeout values. If set
to true, wait indefinitely. If set to false, don't wait at all. They can
also be set to a duration: a negative one waits indefinitely, zero not at
all. --wait-ready waits until the pod's supervisor reports it ready, then
--wait until the pod has finished; the output then tells the final state.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&wait, "wait", "false", "wait for the pod to finish (true, false or a timeout)")
			fs.StringVar(&waitReady, "wait-ready", "false", "wait until the pod is ready (true, false or a timeout)")
			fs.StringVar(&format, "format", "", "output format: json or json-pretty (default: key=value lines)")
			fs.StringVar(&uuidFile, "uuid-file", "", "read the pod UUID from this file instead of an argument")
			fs.Lookup("wait").NoOptDefVal = "true"
			fs.Lookup("wait-ready").NoOptDefVal = "true"
		},
		Run: func(env *cli.Env, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			dWait, err := parseWait(wait)
			if err != nil {
				return cli.Usagef("--wait: %v", err)
			}
			dReady, err := parseWait(waitReady)
			if err != nil {
				return cli.Usagef("--wait-ready: %v", err)
			}
			p, err := podArg(env, uuidFile, args, 1)
			if err != nil {
				return err
			}
			if dReady != 0 {
				if err := poll(dReady, func() bool { return ready(p) }); err != nil {
					return fmt.Errorf("waiting for pod readiness: %w", err)
				}
			}
			if dWait != 0 {
				if err := poll(dWait, func() bool { return finished(p) }); err != nil {
					return fmt.Errorf("waiting for pod to finish: %w", err)
				}
				if err := p.Refresh(); errors.Is(err, pod.ErrNotFound) {
					return fmt.Errorf("pod %s was removed while waiting", p.UUID)
				} else if err != nil {
					return err
				}
			}
			if format != formatTable {
				o, err := podObject(p)
				if err != nil {
					return err
				}
				return writeJSON(env.Stdout, o, format == formatJSONPretty)
			}
			return writeStatus(env.Stdout, p)
		},
	}
}

// parseWait reads a --wait or --wait-ready value: a boolean (true, or no
// value, waits forever; false not at all) or a duration (negative waits
// forever, zero not at all). Forever is returned as -1.
func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return -1, nil
	}
	if b, err := strconv.ParseBool(s); err == nil {
		if b {
			return -1, nil
		}
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a boolean nor a duration", s)
	}
	if d < 0 {
		return -1, nil
	}
	return d, nil
}

// poll calls done every pollInterval until it says yes or the timeout d
// (negative: none) runs out, which is context.DeadlineExceeded.
func poll(d time.Duration, done func() bool) error {
	ctx := context.Background()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if done() {
		return nil
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if done() {
				return nil
			}
		}
	}
}

// ready reports whether the pod's supervisor has said it is ready: the
// symlink rkt/supervisor-status in the stage1 rootfs points to "ready"
// (reference PODF-19).
func ready(p *pod.Pod) bool {
	if p.Refresh() != nil {
		return false
	}
	target, err := os.Readlink(p.Stage1Path(stage1abi.SupervisorStatusRel))
	return err == nil && target == "ready"
}

// finished reports whether the pod will not run (again): it exited, its
// prepare died, it is garbage, or it is gone. Refresh probes the lock
// with a non-blocking shared flock, so a pod still locked by its stage1,
// its preparer or a deleter keeps the wait going. Any other error ends the
// wait too: the status printed next will tell.
func finished(p *pod.Pod) bool {
	if err := p.Refresh(); err != nil {
		return true
	}
	switch p.State {
	case pod.StateAbortedPrepare, pod.StateExited, pod.StateExitedGarbage, pod.StateGarbage:
		return true
	}
	return false
}

// writeStatus prints the key=value lines of CLI-STAT-02, all at once.
func writeStatus(w io.Writer, p *pod.Pod) error {
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s\n", p.State)
	created, err := p.CreatedAt()
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "created=%s\n", created.Format(ui.LongTime))
	if started, ok := p.StartedAt(); ok {
		fmt.Fprintf(&b, "started=%s\n", started.Format(ui.LongTime))
	}
	if showsNets(p.State) {
		nets, err := p.Networks()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "networks=%s\n", formatNets(nets))
	}
	switch p.State {
	case pod.StateRunning, pod.StateDeleting, pod.StateExitedDeleting, pod.StateExited, pod.StateExitedGarbage:
		if pid, ok := p.PIDFileValue(); ok {
			fmt.Fprintf(&b, "pid=%d\n", pid)
		}
		fmt.Fprintf(&b, "exited=%t\n", p.State == pod.StateExited || p.State == pod.StateExitedGarbage)
		if p.State != pod.StateRunning {
			statuses, err := p.AppExitStatuses()
			if err != nil {
				return fmt.Errorf("pod %s: app exit statuses: %w", p.UUID, err)
			}
			for _, app := range appOrder(p, statuses) {
				fmt.Fprintf(&b, "app-%s=%d\n", app, statuses[app])
			}
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// appOrder lists the apps that have an exit status in the order of the
// pod manifest, or sorted by name if the manifest cannot be read.
func appOrder(p *pod.Pod, statuses map[string]int) []string {
	var out []string
	if apps, err := readListManifest(p); err == nil {
		for _, a := range apps {
			if _, ok := statuses[a.Name]; ok {
				out = append(out, a.Name)
			}
		}
		return out
	}
	for app := range statuses {
		out = append(out, app)
	}
	sort.Strings(out)
	return out
}
