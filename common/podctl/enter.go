package podctl

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// DefaultEnterCommand is what `rkt enter` runs without a command. rkt
// used /bin/bash; the images rkt runs today (busybox, alpine) rarely have
// bash, but every one has /bin/sh.
const DefaultEnterCommand = "/bin/sh"

// pidPoll is how often enter looks for the pod's pid file (CLI-ENTER-01).
const pidPoll = 100 * time.Millisecond

// execve replaces the process; a variable for tests.
var execve = syscall.Exec

// EnterCommand is `rkt enter` (reference CLI-ENTER-01, S1-ENTER).
func EnterCommand() *cli.Command {
	var app string
	return &cli.Command{
		Name:           "enter",
		Summary:        "Enter the namespaces of an app within a pod",
		Usage:          "[--app=APPNAME] UUID [CMD [ARGS ...]]",
		NeedsRoot:      true,
		StopAtFirstArg: true,
		Description: `Runs CMD (default ` + DefaultEnterCommand + `) inside the app's root and namespaces
in a running pod, through the pod's stage1 'enter' entrypoint. rkt
enter is replaced by it, so CMD's exit status is enter's. Options go
before UUID; everything after UUID is CMD and its arguments.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&app, "app", "", "name of the app to enter within the specified pod")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) < 1 {
				return cli.Usagef("enter needs a pod UUID")
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			p, err := pod.Lookup(root, args[0])
			if err != nil {
				return err
			}
			return enter(env, p, app, args[1:])
		},
	}
}

func enter(env *cli.Env, p *pod.Pod, app string, command []string) error {
	if p.State != pod.StateRunning {
		return fmt.Errorf("pod %q isn't currently running", p.UUID)
	}
	name, err := appName(env, p, app, "enter")
	if err != nil {
		return err
	}
	if len(command) == 0 {
		fmt.Fprintf(env.Stderr, "no command specified, assuming %q\n", DefaultEnterCommand)
		command = []string{DefaultEnterCommand}
	}
	ep, err := p.Stage1Entrypoint(stage1abi.AnnotationEnter)
	if err != nil {
		return err
	}
	pid, err := waitPID(p)
	if err != nil {
		return err
	}
	argv := append([]string{ep.Argv0}, (&stage1abi.EnterArgs{PID: pid, AppName: name, Command: command}).Args()...)
	if err := os.Chdir(p.Dir()); err != nil {
		return fmt.Errorf("pod %q: %w", p.UUID, err)
	}
	if err := execve(ep.Path, argv, os.Environ()); err != nil {
		return fmt.Errorf("executing stage1 enter entrypoint %s: %w", ep.Path, err)
	}
	return nil
}

// waitPID returns the pid to enter (reference S1-PID). Right after the
// pod started its stage1 may not have written it yet: wait for it while
// the pod runs.
func waitPID(p *pod.Pod) (int, error) {
	for {
		pid, err := p.PID()
		if err == nil {
			return pid, nil
		}
		if rerr := p.Refresh(); rerr != nil {
			if errors.Is(rerr, pod.ErrNotFound) {
				return 0, fmt.Errorf("pod %q is not running anymore", p.UUID)
			}
			return 0, rerr
		}
		if p.State != pod.StateRunning {
			return 0, fmt.Errorf("pod %q is not running anymore", p.UUID)
		}
		time.Sleep(pidPoll)
	}
}
