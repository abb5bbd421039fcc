package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/podproc"
)

// Stop is the `stop` entrypoint: SIGTERM to the pod supervisor (whose
// pid is in <pod>/pid), which forwards it to the apps; with --force see
// StopPod. A pod already gone is stopped: success.
func Stop(args []string) int {
	l := newLogger(false)
	sa, err := stage1abi.ParseStopArgs(args)
	if err != nil {
		return l.Fail(err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return l.Fail(fmt.Errorf("pod directory: %w", err))
	}
	if err := StopPod(dir, sa.Force); err != nil {
		return l.Fail(err)
	}
	return ExitOK
}

// StopPod signals the supervisor of the pod in dir. With force the apps
// are killed first, so that the supervisor still records their status
// (137, as for any killed app) before the pod ends; the supervisor itself
// is killed only if it has not gone within a second.
func StopPod(dir string, force bool) error {
	pid, err := podproc.ReadPIDFile(filepath.Join(dir, stage1abi.PIDFile))
	if err != nil {
		return fmt.Errorf("the pod has no usable pid file: %w", err)
	}
	if !force {
		if err := unix.Kill(pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal the pod supervisor %d: %w", pid, err)
		}
		return nil
	}
	// Apps may still be starting: kill every child the supervisor has, as
	// they appear, until it has recorded them and exited.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if unix.Kill(pid, 0) != nil {
			return nil
		}
		for _, child := range children(pid) {
			_ = unix.Kill(child, unix.SIGKILL)
		}
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill the pod supervisor %d: %w", pid, err)
	}
	return nil
}

// children lists the direct children of pid (of all its threads).
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
