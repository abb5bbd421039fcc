package harness

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RunOpts changes how a command is run.
type RunOpts struct {
	// Env is added to the environment.
	Env []string
	// Stdin is fed to the command.
	Stdin string
	// Hosts, if set, is a hosts file bind-mounted over /etc/hosts in a
	// private mount namespace for this command only, so names such as
	// example.com resolve to 127.0.0.1 without touching the host.
	Hosts string
	// UID/GID, if non-zero, run the command as that user (for the
	// unprivileged-user tests); Groups are its supplementary groups.
	UID, GID uint32
	Groups   []uint32
}

// RktOpts runs `rkt SUB [global flags] ARGS...` with options.
func (e *Env) RktOpts(o RunOpts, args ...string) *Result {
	e.T.Helper()
	full := args
	if len(args) > 0 {
		full = append(append([]string{args[0]}, e.GlobalFlags()...), args[1:]...)
	}
	return RunWith(e.T, o, Bin("rkt"), full...)
}

// RunWith runs a program with options; see Run.
func RunWith(t testing.TB, o RunOpts, prog string, args ...string) *Result {
	t.Helper()
	name, argv := prog, args
	if o.Hosts != "" {
		// unshare(1) makes the mount namespace; the bind mount dies with it.
		script := `mount --bind "$0" /etc/hosts && exec "$@"`
		name = "unshare"
		argv = append([]string{"-m", "--propagation", "private", "sh", "-c", script, o.Hosts, prog}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append(os.Environ(), o.Env...)
	if o.Stdin != "" {
		cmd.Stdin = strings.NewReader(o.Stdin)
	}
	if o.UID != 0 || o.GID != 0 {
		cmd.SysProcAttr = credential(o.UID, o.GID, o.Groups)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := &Result{Args: append([]string{prog}, args...), Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", prog, err)
	}
	return r
}
