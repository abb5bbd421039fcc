// Package cgroup creates the cgroups of a pod and of its apps, applies the
// appc resource isolators to them (APPX-05) and sets oom_score_adj.
//
// A pod gets one cgroup, "rkt-<uuid>", directly under the root of every
// hierarchy this process can use (each v1 controller hierarchy, the v2
// unified hierarchy, or both on a hybrid host). An app lives in
// "app-<name>" below it (on v1 and hybrid hosts only in the hierarchies
// of the controllers its limits set, appControllers); the supervisor in
// the pod's cgroup itself on v1 and hybrid hosts, and in the "stage1"
// leaf on v2, where processes may only live in leaves once controllers
// are enabled for children (SupervisorLeaf). The cgroup filesystem is driven by
// github.com/opencontainers/cgroups (fs for v1 and hybrid, fs2 for v2).
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	cgroupfs "github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
)

// Prefix starts the name of every pod cgroup; the test suite looks for
// leaked cgroups by it.
const Prefix = "rkt-"

// Warn receives warnings about isolators that cannot be applied on this
// host (unsupported controller). It defaults to printing on stderr.
var Warn = func(msg string) { fmt.Fprintln(os.Stderr, msg) }

// Pod is the cgroup of one pod.
type Pod struct {
	uuid string
	mgr  cgroups.Manager
}

// App is the cgroup of one app of a pod.
type App struct {
	name     string
	mgr      cgroups.Manager
	tasks    []*os.File // see TasksFiles
	oomScore *int
	// Warnings lists the isolators skipped because the controller they need
	// is not available; each was also passed to Warn.
	Warnings []string
}

// NewPod creates the cgroup of the pod with the given UUID (any string
// usable as a directory name).
func NewPod(uuid string) (*Pod, error) {
	p, err := OpenPod(uuid)
	if err != nil {
		return nil, err
	}
	if cgroups.IsCgroup2UnifiedMode() {
		// Apply also enables the controllers for the pod's children.
		if err := p.mgr.Apply(-1); err != nil {
			_ = p.mgr.Destroy()
			return nil, fmt.Errorf("creating pod cgroup %s: %w", Prefix+uuid, err)
		}
		return p, nil
	}
	// v1 and hybrid: one mkdir per hierarchy, directly below its root.
	// The cpuset one needs cpus and mems before a task may join, copied
	// from the root; its children take them when they are made (see
	// child), through cgroup.clone_children.
	for _, dir := range p.mgr.GetPaths() {
		// Co-mounted controllers share a directory: made once.
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = p.mgr.Destroy()
			return nil, fmt.Errorf("creating pod cgroup %s: %w", dir, err)
		}
	}
	if dir := p.mgr.Path("cpuset"); dir != "" {
		if err := inheritCpuset(dir); err != nil {
			_ = p.mgr.Destroy()
			return nil, fmt.Errorf("creating pod cgroup %s: %w", dir, err)
		}
	}
	return p, nil
}

// inheritCpuset gives the new v1 cpuset cgroup dir its parent's cpus and
// mems, and makes its children inherit them.
func inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.clone_children"), []byte("1"), 0)
}

// appControllers returns the v1 hierarchies an app with the limits res
// has a cgroup of its own in, below the pod's: those of the controllers
// its isolators set, memory for resource/memory, cpu and cpuacct (which
// systemd always pairs) for resource/cpu and os/linux/cpu-shares. In the
// others an app's processes stay in the pod's cgroup, as they did in
// rkt, where an app was a systemd unit and systemd made a unit's cgroup
// only in the hierarchies of the controllers the unit set (reference
// APPX-05 maps the isolators to those settings). Each hierarchy costs
// an app a mkdir, a `tasks` write, an rmdir and the kernel's freeing of
// the cgroup, all under its one cgroup mutex: ~0.1 ms an app, a memory
// cgroup more. Pure v2 hosts have one hierarchy: the app cgroup is
// always there.
func appControllers(res *cgroups.Resources) map[string]bool {
	c := map[string]bool{}
	if res.Memory != 0 {
		c["memory"] = true
	}
	if res.CpuQuota != 0 || res.CpuShares != 0 {
		c["cpu"], c["cpuacct"] = true, true
	}
	return c
}

// child creates the cgroup name below the pod's and returns its
// manager. On v1 and hybrid hosts that is one mkdir per hierarchy of
// ctrls (none at all when it is empty: the manager then has no paths; the
// cpuset child takes the pod's cpus and mems through the
// cgroup.clone_children NewPod set), a third of what the library's Apply
// costs, which walks the ancestors of each; on v2 Apply also enables the
// controllers for the children, so it is used there.
func (p *Pod) child(name string, ctrls map[string]bool) (cgroups.Manager, error) {
	rel := "/" + Prefix + p.uuid + "/" + name
	if cgroups.IsCgroup2UnifiedMode() {
		mgr, err := newManager(rel, &cgroups.Resources{})
		if err != nil {
			return nil, err
		}
		return mgr, mgr.Apply(-1)
	}
	paths := map[string]string{}
	for ctrl, dir := range p.mgr.GetPaths() {
		if !ctrls[ctrl] {
			continue
		}
		c := filepath.Join(dir, name)
		if err := os.Mkdir(c, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("creating cgroup %s: %w", c, err)
		}
		paths[ctrl] = c
	}
	return newManagerAt(rel, &cgroups.Resources{}, paths)
}

// OpenPod returns the cgroup of the pod with the given UUID, which
// NewPod created (in another process: the supervisor uses the cgroup
// `run` made), finding it below the hierarchies' roots.
func OpenPod(uuid string) (*Pod, error) {
	return OpenPodAt(uuid, nil)
}

// Paths returns where the pod's cgroup is in each hierarchy (controller
// → directory; one entry with the empty key on a v2 host), for
// OpenPodAt in another process.
func (p *Pod) Paths() map[string]string {
	return p.mgr.GetPaths()
}

// OpenPodAt is OpenPod for a pod whose cgroup paths are known (Paths of
// the process that created it): no mountinfo to read and parse. With
// nil paths it finds them.
func OpenPodAt(uuid string, paths map[string]string) (*Pod, error) {
	if err := checkName(uuid); err != nil {
		return nil, fmt.Errorf("pod cgroup: %w", err)
	}
	for ctrl, dir := range paths {
		if filepath.Base(dir) != Prefix+uuid || !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
			return nil, fmt.Errorf("pod cgroup %s: bad path %q for controller %q", Prefix+uuid, dir, ctrl)
		}
	}
	mgr, err := newManagerAt("/"+Prefix+uuid, &cgroups.Resources{}, paths)
	if err != nil {
		return nil, fmt.Errorf("pod cgroup %s: %w", Prefix+uuid, err)
	}
	return &Pod{uuid: uuid, mgr: mgr}, nil
}

// Subcgroup returns the pod's cgroup relative to the hierarchy roots, the
// content of the pod's "subcgroup" file.
func (p *Pod) Subcgroup() string {
	return Prefix + p.uuid
}

// Path returns the absolute path of the pod cgroup for a v1 controller
// ("memory", "cpu", ...) or, on a v2 host, of the unified cgroup. It is
// empty when the controller is not available.
func (p *Pod) Path(controller string) string {
	return p.mgr.Path(controller)
}

// App creates the cgroup of an app and applies the limits res to it
// (isolators.Resources: resource/memory, resource/cpu,
// os/linux/cpu-shares; nil for none). oom, the os/linux/oom-score-adj
// isolator's value, is remembered and applied by Start. A missing
// controller only produces a warning.
func (p *Pod) App(name string, res *cgroups.Resources, oom *int) (*App, error) {
	if name == "" {
		return nil, errors.New("app cgroup: empty app name")
	}
	// App names may contain "/", which must not create nested cgroups.
	dir := "app-" + strings.ReplaceAll(name, "/", "%2F")
	if err := checkName(dir); err != nil {
		return nil, fmt.Errorf("app cgroup: %w", err)
	}
	if res == nil {
		res = &cgroups.Resources{}
	} else {
		// Set is given a copy: the checks below change it.
		r := *res
		res = &r
	}
	a := &App{name: name, oomScore: oom}
	var err error
	if a.mgr, err = p.child(dir, appControllers(res)); err != nil {
		return nil, fmt.Errorf("creating cgroup of app %s: %w", name, err)
	}
	if err := a.openTasks(); err != nil {
		return nil, err
	}
	if res.Memory != 0 && !a.has("memory") {
		a.warn("memory")
		res.Memory = 0
	}
	if (res.CpuQuota != 0 || res.CpuShares != 0) && !a.has("cpu") {
		a.warn("cpu")
		res.CpuQuota, res.CpuPeriod, res.CpuShares = 0, 0, 0
	}
	if cgroups.IsCgroup2UnifiedMode() && res.CpuShares != 0 {
		// v2 has cpu.weight instead of cpu.shares.
		res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(res.CpuShares)
		res.CpuShares = 0
	}
	if err := a.mgr.Set(res); err != nil {
		return nil, fmt.Errorf("setting limits of app %s: %w", name, err)
	}
	return a, nil
}

// Path returns the absolute path of the app cgroup for a v1 controller or,
// on a v2 host, of the unified cgroup.
func (a *App) Path(controller string) string {
	return a.mgr.Path(controller)
}

// Destroy kills whatever still runs in the pod's cgroups and removes them.
func (p *Pod) Destroy() error {
	return destroy(p.mgr, p.uuid)
}

// DestroyByName removes the cgroups of the pod with the given UUID, killing
// any process left in them; used by gc for pods whose supervisor died.
// Missing cgroups are not an error.
func DestroyByName(uuid string) error {
	p, err := OpenPod(uuid)
	if err != nil {
		return err
	}
	return p.Destroy()
}

func destroy(mgr cgroups.Manager, uuid string) error {
	// A pod whose supervisor, PID 1 of its namespace, is gone has no
	// process left: its cgroups go with one rmdir each.
	if removeEmpty(mgr) {
		return nil
	}
	// rmdir fails with EBUSY while processes remain, so empty it first:
	// all but this one, a thread of which (forkIn's, thrown away) may
	// still be on its way out of the cgroup.
	self := os.Getpid()
	for range 50 {
		pids := slices.DeleteFunc(allPids(mgr), func(pid int) bool { return pid == self })
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := mgr.Destroy(); err != nil {
		return fmt.Errorf("removing cgroups of pod %s: %w", uuid, err)
	}
	return nil
}

// removeEmpty removes the pod cgroup of mgr and its children on every
// hierarchy, children first, and reports whether all went. The children
// (stage1 and the apps') are the same on every hierarchy: their names
// are read once, not with a walk of each hierarchy's cgroup files.
func removeEmpty(mgr cgroups.Manager) bool {
	var dirs []string
	for _, p := range mgr.GetPaths() {
		if !slices.Contains(dirs, p) {
			dirs = append(dirs, p)
		}
	}
	// The children (the apps', the stage1 leaf) are in the hierarchies
	// of the app controllers on v1 and hybrid hosts, an app only in
	// those its isolators need (appControllers), and in the one
	// hierarchy on v2: the union of their names is tried everywhere.
	var children []string
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", ""} {
		d := mgr.Path(ctrl)
		if d == "" {
			continue
		}
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false
		}
		for _, e := range ents {
			if e.IsDir() && !slices.Contains(children, e.Name()) {
				children = append(children, e.Name())
			}
		}
	}
	gone := func(err error) bool { return err == nil || errors.Is(err, os.ErrNotExist) }
	ok := true
	for _, d := range dirs {
		// Most hierarchies have no child of the pod's (the apps' are in
		// at most three on v1 and hybrid hosts): one rmdir each, instead of one
		// per child failing with ENOENT first (~0.05 ms per app). A
		// cgroup with children refuses with EBUSY.
		if err := unix.Rmdir(d); gone(err) {
			continue
		}
		for _, c := range children {
			ok = gone(unix.Rmdir(filepath.Join(d, c))) && ok
		}
		ok = gone(unix.Rmdir(d)) && ok
	}
	return ok
}

// allPids lists the processes in every hierarchy of mgr's cgroup and its
// children; the manager's own GetAllPids only looks at one v1 controller,
// which may not exist here (devices is skipped).
func allPids(mgr cgroups.Manager) []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range mgr.GetPaths() {
		pids, err := cgroups.GetAllPids(p)
		if err != nil {
			continue // missing hierarchy or already removed
		}
		for _, pid := range pids {
			if !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
	}
	return out
}

func newManager(path string, res *cgroups.Resources) (cgroups.Manager, error) {
	return newManagerAt(path, res, nil)
}

// newManagerAt returns the cgroupfs manager of the cgroup at path (below
// the hierarchies' roots), for this host's cgroup version; paths, when
// known, are its directories (controller → dir; "" → dir on v2), which
// saves reading mountinfo. It is the library's manager.NewWithPaths
// without the systemd driver, which rkt never uses (pods are not systemd
// units) and which would link D-Bus and go-systemd into every pod-start
// binary: ~0.3 ms of start-up each.
func newManagerAt(path string, res *cgroups.Resources, paths map[string]string) (cgroups.Manager, error) {
	c := &cgroups.Cgroup{Path: path, Resources: res}
	if cgroups.IsCgroup2UnifiedMode() {
		if len(paths) > 1 {
			return nil, fmt.Errorf("cgroup %s: expected one unified path, got %v", path, paths)
		}
		return fs2.NewManager(c, paths[""])
	}
	if paths == nil {
		var err error
		if paths, err = v1Paths(path); err != nil {
			return nil, err
		}
	}
	return cgroupfs.NewManager(c, paths)
}

// v1Subsystems are the hierarchies the library's fs manager knows, by
// the name it keys them with (a controller, or a named hierarchy).
var v1Subsystems = map[string]bool{
	"cpuset": true, "devices": true, "memory": true, "cpu": true, "cpuacct": true,
	"pids": true, "blkio": true, "hugetlb": true, "net_cls": true, "net_prio": true,
	"perf_event": true, "freezer": true, "rdma": true, "name=systemd": true, "misc": true,
}

// v1Paths returns the directories of the cgroup rel (absolute, below the
// hierarchies' roots) in each v1 hierarchy, and in the v2 one of a
// hybrid host (key ""), as the library's fs manager finds them, from
// one read of /proc/self/mountinfo: the library reads it once per
// controller it knows, ~0.2 ms of every pod start here.
func v1Paths(rel string) (map[string]string, error) {
	t, err := mount.Read()
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", rel, err)
	}
	paths := map[string]string{}
	hybrid := cgroups.IsCgroup2HybridMode()
	for _, m := range t {
		switch {
		case m.FSType == "cgroup":
			for o := range strings.SplitSeq(m.SuperOptions, ",") {
				if _, seen := paths[o]; v1Subsystems[o] && !seen {
					paths[o] = filepath.Join(m.MountPoint, rel)
				}
			}
		case m.FSType == "cgroup2" && hybrid:
			if _, seen := paths[""]; !seen {
				paths[""] = filepath.Join(m.MountPoint, rel)
			}
		}
	}
	// As the library: a host without the devices controller is refused.
	if _, ok := paths["devices"]; !ok {
		return nil, fmt.Errorf("cgroup %s: no devices cgroup hierarchy mounted", rel)
	}
	return paths, nil
}

func checkName(n string) error {
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
		return fmt.Errorf("invalid cgroup name %q", n)
	}
	return nil
}

// has reports whether the app cgroup has a controller.
func (a *App) has(controller string) bool {
	if !cgroups.IsCgroup2UnifiedMode() {
		p := a.mgr.Path(controller)
		return p != "" && cgroups.PathExists(p)
	}
	data, err := os.ReadFile(filepath.Join(a.mgr.Path(""), "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(data)) {
		if c == controller {
			return true
		}
	}
	return false
}

func (a *App) warn(controller string) {
	msg := fmt.Sprintf("resource/%s isolator set but support disabled in the kernel, skipping", controller)
	a.Warnings = append(a.Warnings, msg)
	Warn(msg)
}
