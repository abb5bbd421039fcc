package fly

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/podproc"
)

// errNoPID means a pod has neither a pid nor a pgid file.
var errNoPID = errors.New("the pod has no pid or pgid file: its app never started")

// Stop is the `stop` entrypoint (reference S1-STOP): it sends SIGTERM
// (SIGKILL with --force) to the app, whose pid is in the pod's pid file;
// without a usable pid file it signals the process group in the pgid
// file. An app that is already gone is stopped: success.
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

// StopPod signals the app of the pod in dir.
func StopPod(dir string, force bool) error {
	sig := unix.SIGTERM
	if force {
		sig = unix.SIGKILL
	}
	if pid, err := podproc.ReadPIDFile(filepath.Join(dir, stage1abi.PIDFile)); err == nil {
		return signalGone(unix.Kill(pid, sig), "app", pid)
	}
	pgid, err := podproc.ReadPIDFile(filepath.Join(dir, stage1abi.PGIDFile))
	if err != nil {
		return errNoPID
	}
	return signalGone(unix.Kill(-pgid, sig), "process group", pgid)
}

// signalGone turns "no such process" into success.
func signalGone(err error, what string, id int) error {
	if err == nil || errors.Is(err, unix.ESRCH) {
		return nil
	}
	return fmt.Errorf("signal %s %d: %w", what, id, err)
}
