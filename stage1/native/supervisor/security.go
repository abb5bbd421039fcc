package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/stage1/native/security/cgroup"
	"github.com/rkt/rkt/stage1/native/security/seccomp/load"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Every app process, event handler and entered command is forked by the
// supervisor itself (package appspawn): its child joins the app's
// cgroups and, with --private-users, the pod's user namespace, and
// takes the app's root, credentials, capability sets, no_new_privs and
// seccomp filter, all worked out here, before it execs the program.

// secure fills c's capability sets (for c.UID), no_new_privs and seccomp
// filter from the app's security.
func secure(c *appspawn.Spec, sec AppSecurity) error {
	c.Caps = sec.Caps.ForUID(int(c.UID)).Masks()
	c.NoNewPrivs = caps.NoNewPrivs(sec.NoNewPrivs, int(c.UID), len(sec.Filter) > 0)
	var err error
	if c.Seccomp, err = load.Decode(sec.Filter); err != nil {
		return err
	}
	return nil
}

// readSecurity reads the Security `run` wrote into SecurityFD.
func readSecurity() (Security, error) {
	f := os.NewFile(SecurityFD, "app-security")
	if f == nil {
		return nil, errors.New("no app security settings from run")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("app security settings: %w", err)
	}
	// Read from the start: the file offset is shared with `run`.
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("app security settings: %w", err)
	}
	var sec Security
	if err := json.Unmarshal(data, &sec); err != nil {
		return nil, fmt.Errorf("app security settings: %w", err)
	}
	return sec, nil
}

// PodDeviceRules are the devices the pod's processes may use: those of
// the minimal /dev, and the host devices the pod's host volumes pass
// (read-only volumes: reading only).
func PodDeviceRules(p *Pod) ([]cgroup.DeviceRule, error) {
	rules := append([]cgroup.DeviceRule{}, cgroup.DefaultDevices...)
	for _, v := range p.Manifest.Volumes {
		if v.Kind != stage2app.VolumeHost {
			continue
		}
		r, err := cgroup.HostDeviceRules(v.Source, v.ReadOnly != nil && *v.ReadOnly)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		rules = append(rules, r...)
	}
	return rules, nil
}

// pendingExec is a started app process that may not have executed its
// program yet.
type pendingExec struct {
	pid int
	// done returns once the program runs, or with what stopped it.
	done func() error
}

// wait returns once the process executed its program, or with the
// error that stopped it.
func (p *pendingExec) wait() error { return p.done() }

// spawn starts a process of an app for cfg (appspawn) in the app's
// rootfs, with its stdio (files: stdin, stdout, stderr), in the app's
// cgroup cg (none when nil): born
// in its v2 one, it joins the v1 ones and sets its oom_score_adj
// itself. register is called with the pid right after the start. It
// does not wait for the exec (pendingExec.wait does), so that the
// processes of a pod's apps start together.
func spawn(cfg *appspawn.Spec, rootfs string, files []*os.File, cg *cgroup.App, register func(pid int)) (*pendingExec, error) {
	if len(files) > len(cfg.Stdio) {
		return nil, fmt.Errorf("%d files for a process of %s: only stdio is passed on", len(files), rootfs)
	}
	rootFD, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the app's rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(rootFD)
	cfg.RootFD = rootFD
	copy(cfg.Stdio[:], files)
	var pe *appspawn.Pending
	fork := func(cgroupFD int) (int, error) {
		p, err := appspawn.Start(cfg, cgroupFD)
		if err != nil {
			return 0, err
		}
		pe = p
		return p.Pid, nil
	}
	var pid int
	if cg != nil {
		cfg.Tasks, cfg.OOMScoreAdj = cg.TasksFiles(), cg.OOMScoreAdj()
		pid, err = cg.StartSelf(fork)
	} else {
		pid, err = fork(-1)
	}
	if err != nil {
		return nil, err
	}
	register(pid)
	return &pendingExec{pid: pid, done: pe.Wait}, nil
}
