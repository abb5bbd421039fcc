package fly

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/poddir"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Enter is the `enter` entrypoint (reference S1-ENTER): it runs a
// command inside the running app. The command is chrooted to the app's
// root as the kernel shows it in /proc/PID/root (which works from any
// mount namespace and sees the app's mounts), starts in /, runs as root
// (like rkt's enter) with the app's environment, and replaces this
// process, so its exit status is enter's.
func Enter(args []string) int {
	l := newLogger(false)
	ea, err := stage1abi.ParseEnterArgs(args)
	if err != nil {
		return l.Fail(err)
	}
	if len(ea.Command) == 0 {
		return l.Fail(errors.New("enter: no command given"))
	}
	dir, err := os.Getwd()
	if err != nil {
		return l.Fail(fmt.Errorf("pod directory: %w", err))
	}
	app := ea.AppName
	if app == "" {
		pm, err := manifest.ReadPod(dir)
		if err != nil {
			return l.Fail(err)
		}
		if len(pm.Apps) != 1 {
			return l.Fail(fmt.Errorf("enter: --appname is required for a pod with %d apps", len(pm.Apps)))
		}
		app = pm.Apps[0].Name
	}
	env, err := readAppEnv(dir, app)
	if err != nil {
		return l.Fail(err)
	}
	root := "/proc/" + strconv.Itoa(ea.PID) + "/root"
	if err := syscall.Chroot(root); err != nil {
		return l.Fail(fmt.Errorf("enter: chroot into the app of pid %d: %w", ea.PID, err))
	}
	if err := os.Chdir("/"); err != nil {
		return l.Fail(fmt.Errorf("enter: chdir /: %w", err))
	}
	pathEnv, _ := stage2app.LookupEnv(env, "PATH")
	bin, err := stage2app.LookPath("/", ea.Command[0], pathEnv, "/")
	if err != nil {
		return l.Fail(fmt.Errorf("enter: %w", err))
	}
	err = syscall.Exec(bin, ea.Command, env)
	return l.Fail(fmt.Errorf("enter: execute %q: %w", bin, err))
}

// readAppEnv reads the app's environment: the env file run wrote (see
// poddir.EnvFilePaths for where enter finds it), else the pod
// manifest's.
func readAppEnv(dir, app string) ([]string, error) {
	for _, f := range poddir.EnvFilePaths(dir, app) {
		data, err := os.ReadFile(f)
		if err == nil {
			return stage2app.ParseEnvFile(data), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("enter: read the env file: %w", err)
		}
	}
	pm, err := manifest.ReadPod(dir)
	if err != nil {
		return nil, err
	}
	for _, ra := range pm.Apps {
		if ra.Name == app {
			if ra.App == nil {
				return nil, nil
			}
			return manifest.Env(ra.App.Environment), nil
		}
	}
	return nil, fmt.Errorf("enter: the pod has no app %q", app)
}
