package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/forkthread"
)

// Moving a process into a cgroup by writing its pid to cgroup.procs takes
// the kernel's global threadgroup lock for writing, which waits for an
// RCU grace period unless another move happened in the last few
// milliseconds: 7 to 14 ms on this kind of host, more than everything
// else a pod start does. Two moves skip that lock: on v1, writing "0" to
// a hierarchy's `tasks` file moves only the calling thread; on v2, clone3
// with CLONE_INTO_CGROUP creates the child in the cgroup. A process forked
// by a thread that made the first move, with the second, is born in the
// cgroup on every hierarchy, and nothing waits.

// ForkFunc forks one process on the calling goroutine and returns its
// pid. cgroupFD is -1 or an open cgroup v2 directory that the process
// must be created in: set syscall.SysProcAttr's UseCgroupFD and CgroupFD.
type ForkFunc func(cgroupFD int) (int, error)

// StartSelf runs fork for a process that joins the app's cgroups and
// sets its oom_score_adj (OOMScoreAdj) itself before it runs the app,
// as the supervisor's app processes do (stage1/native/appspawn): it
// writes "0" to each of TasksFiles (a thread-only move, like forkIn's),
// and the v2 cgroup, if any, is given to clone3 (CLONE_INTO_CGROUP). So
// the supervisor moves none of its own threads per app.
func (a *App) StartSelf(fork ForkFunc) (int, error) {
	v2, err := a.v2Dir()
	if err != nil {
		return 0, err
	}
	return forkV2(v2, fork)
}

// OOMScoreAdj is the app's os/linux/oom-score-adj isolator, nil when it
// has none.
func (a *App) OOMScoreAdj() *int { return a.oomScore }

// TasksFiles are the app cgroup's v1 `tasks` files, opened for writing
// when the cgroup was made (by the supervisor, as root of the host: the
// kernel checks the opener, so a helper in a --private-users user
// namespace can write them too). They are the app's for its life; none
// on a v2 host.
func (a *App) TasksFiles() []*os.File { return a.tasks }

// openTasks opens the app cgroup's v1 `tasks` files (see TasksFiles).
func (a *App) openTasks() error {
	var dirs []string
	for ctrl, dir := range a.mgr.GetPaths() {
		if ctrl == "" || cgroups.IsCgroup2UnifiedMode() || slices.Contains(dirs, dir) {
			continue
		}
		dirs = append(dirs, dir)
		f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // a hierarchy the manager knows but this host lacks
		}
		if err != nil {
			return fmt.Errorf("cgroup of app %s: %w", a.name, err)
		}
		a.tasks = append(a.tasks, f)
	}
	return nil
}

// v2Dir is the app's v2 cgroup directory, "" on a v1 host.
func (a *App) v2Dir() (string, error) {
	if cgroups.IsCgroup2UnifiedMode() {
		return a.mgr.Path(""), nil
	}
	if p, ok := a.mgr.GetPaths()[""]; ok {
		return p, nil
	}
	return "", nil
}

// StartSupervisor runs fork on t so that the process it creates (the
// pod's supervisor) is born in the pod's cgroup (SupervisorLeaf), as
// t's last work (Thread.Last). t's setup may have changed the thread
// further (the pod's network namespace, made there while the cgroups
// were made).
func (p *Pod) StartSupervisor(t *forkthread.Thread, fork ForkFunc) (int, error) {
	defer t.End()
	leaf := SupervisorLeaf()
	mgr, rel := p.mgr, "/"+Prefix+p.uuid
	if leaf != "" {
		var err error
		if mgr, err = p.child(leaf, nil); err != nil {
			return 0, fmt.Errorf("creating the stage1 cgroup of pod %s: %w", p.uuid, err)
		}
		rel += "/" + leaf
	}
	var pid int
	err := t.Last(func() (err error) {
		pid, err = forkIn(mgr, rel, fork)
		return err
	})
	return pid, err
}

// SupervisorLeaf is the cgroup below the pod's the supervisor lives in:
// "stage1" on a v2 host, where a cgroup whose controllers are enabled for
// its children may hold no process, and none (the pod's cgroup itself)
// on v1 and hybrid hosts, which have no such rule: one mkdir and one
// rmdir fewer per hierarchy and pod.
func SupervisorLeaf() string {
	if cgroups.IsCgroup2UnifiedMode() {
		return "stage1"
	}
	return ""
}

// forkIn joins mgr's v1 cgroups (rel is their path below each
// hierarchy's root) on the calling thread, a forkthread.Thread, and forks
// with the v2 cgroup passed for CLONE_INTO_CGROUP (forkV2). The thread is
// thrown away afterwards: that costs a thread, and saves writing the
// thread's own cgroups back into every hierarchy (~0.25 ms on a hybrid
// host with ten).
func forkIn(mgr cgroups.Manager, rel string, fork ForkFunc) (int, error) {
	v2 := ""
	var joined []string
	for ctrl, dir := range mgr.GetPaths() {
		if ctrl == "" || cgroups.IsCgroup2UnifiedMode() {
			v2 = dir
			continue
		}
		if slices.Contains(joined, dir) { // co-mounted controllers (cpu,cpuacct) share a directory
			continue
		}
		if !strings.HasSuffix(dir, rel) {
			return 0, fmt.Errorf("cgroup %s is not %s of its hierarchy", dir, rel)
		}
		err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // a hierarchy the manager knows but this host lacks
		}
		if err != nil {
			return 0, fmt.Errorf("joining cgroup %s: %w", dir, err)
		}
		joined = append(joined, dir)
	}
	return forkV2(v2, fork)
}

// forkV2 runs fork with the v2 cgroup v2 (none when "") for
// CLONE_INTO_CGROUP. Where clone3 is missing (Linux before 5.7) the
// process is forked as usual and moved into it by pid.
func forkV2(v2 string, fork ForkFunc) (int, error) {
	if v2 == "" {
		return fork(-1)
	}
	fd, err := unix.Open(v2, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("opening cgroup %s: %w", v2, err)
	}
	defer unix.Close(fd)
	pid, err := fork(fd)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.E2BIG) {
		if pid, err = fork(-1); err != nil {
			return 0, err
		}
		if err := cgroups.WriteCgroupProc(v2, pid); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			return 0, fmt.Errorf("adding pid %d to cgroup %s: %w", pid, v2, err)
		}
	}
	return pid, err
}
