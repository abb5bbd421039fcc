package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
)

// Stop is the `stop` entrypoint: SIGTERM to the pod supervisor (whose
// pid is in <pod>/pid), which forwards it to the apps; SIGKILL with
// --force, which kills the whole pod at once (the supervisor is PID 1 of
// the pod's PID namespace). A pod already gone is stopped: success.
func Stop(args []string) int {
	l := newLogger(false)
	sa, err := stage1abi.ParseStopArgs(args)
	if err != nil {
		return l.fail(err)
	}
	dir, err := os.Getwd()
	if err != nil {
		return l.fail(fmt.Errorf("pod directory: %w", err))
	}
	if err := StopPod(dir, sa.Force); err != nil {
		return l.fail(err)
	}
	return ExitOK
}

// StopPod signals the supervisor of the pod in dir.
func StopPod(dir string, force bool) error {
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	pid, err := readPIDFile(filepath.Join(dir, stage1abi.PIDFile))
	if err != nil {
		return fmt.Errorf("the pod has no usable pid file: %w", err)
	}
	if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal the pod supervisor %d: %w", pid, err)
	}
	return nil
}

// readPIDFile reads a positive process ID from a file.
func readPIDFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q is not a process ID", path, data)
	}
	return n, nil
}
