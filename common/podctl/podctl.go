// Package podctl is the privileged commands that act on pods once they
// exist: `rkt gc`, `rkt rm`, `rkt stop`, `rkt enter` and `rkt export`
// (reference §1.6-§1.8). Each has one constructor returning a
// cli.Command; the rkt-SUB mains only call cli.Main with it.
//
// They change a pod's state the way the lifecycle allows (pod package):
// a rename between the places under $dir/pods, and the exclusive flock(2)
// on the pod directory held while a pod is deleted. They never block on a
// pod's lock, so no command here can hang behind a `rkt status --wait` or
// another gc.
package podctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/podmanifest"
)

// podArgs returns the pod arguments of rm and stop: --uuid-file=F or one
// or more UUIDs, never both (CLI-GEN-06). An unreadable uuid-file ends the
// command with fileExit (stop: 1, rm: 254, CLI-GEN-03).
func podArgs(uuidFile string, args []string, fileExit int) ([]string, error) {
	switch {
	case uuidFile != "" && len(args) != 0:
		return nil, cli.Usagef("give either --uuid-file or UUIDs, not both")
	case uuidFile != "":
		id, err := pod.ReadUUIDFile(uuidFile)
		if err != nil {
			return nil, &cli.ExitError{Code: fileExit, Err: err}
		}
		return []string{id}, nil
	case len(args) == 0:
		return nil, cli.Usagef("expected at least one pod UUID (or --uuid-file)")
	}
	return args, nil
}

// syncWriter serializes whole writes, so that lines printed by
// concurrent workers do not interleave.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Printf writes one formatted line at once.
func (s *syncWriter) Printf(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	_, _ = s.Write([]byte(line))
}

// childWriter returns what a child process should get as stdout or
// stderr: the file itself when w is one (the child then writes to it
// directly, a terminal stays a terminal), or w.
func childWriter(w io.Writer) io.Writer {
	inner := w
	if s, ok := w.(*syncWriter); ok {
		inner = s.w
	}
	if f, ok := inner.(*os.File); ok {
		return f
	}
	return w
}

// entrypointCmd builds the command running a stage1 entrypoint, with the
// pod directory as working directory (reference §4).
func entrypointCmd(p *pod.Pod, ep *pod.Entrypoint, args []string) *exec.Cmd {
	cmd := exec.Command(ep.Path, args...)
	cmd.Args[0] = ep.Argv0
	cmd.Dir = p.Dir()
	return cmd
}

// appName picks the app a command is about: the one named by --app, or
// the pod's only app. A pod of several apps needs --app; their names are
// listed on stderr first (CLI-ENTER-01).
func appName(env *cli.Env, p *pod.Pod, flag, sub string) (string, error) {
	m, _, err := podmanifest.Read(p)
	if err != nil {
		return "", err
	}
	if flag != "" {
		for _, a := range m.Apps {
			if a.Name.String() == flag {
				return flag, nil
			}
		}
		return "", fmt.Errorf("app %q not found in pod %q", flag, p.UUID)
	}
	switch len(m.Apps) {
	case 0:
		return "", fmt.Errorf("pod %q has no apps", p.UUID)
	case 1:
		return m.Apps[0].Name.String(), nil
	}
	fmt.Fprintln(env.Stderr, "Pod contains multiple apps:")
	for _, a := range m.Apps {
		fmt.Fprintf(env.Stderr, "\t%s\n", a.Name)
	}
	return "", fmt.Errorf("specify app using %q", "rkt "+sub+" --app= ...")
}

// isNotExist reports whether err means a file or directory is gone,
// which for a pod usually means a concurrent gc or rm got there first.
func isNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, pod.ErrNotFound)
}
