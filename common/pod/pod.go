package pod

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/google/uuid"

	"github.com/rkt/rkt/common/acname"
	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/stage1abi"
)

// Lookup errors (reference CLI-GEN-05).
var (
	ErrEmptyUUID = errors.New("UUID cannot be empty")
	ErrNoMatch   = errors.New("no matches found")
	ErrAmbiguous = errors.New("ambiguous uuid")
)

// Pod is one pod directory as found (or created) by this process.
type Pod struct {
	UUID  string
	Place Place
	State State
	root  dirs.Root
	lock  *flock.Lock // held by this process, if any
}

// Dir returns the pod's directory in its current place.
func (p *Pod) Dir() string { return filepath.Join(p.root.PodsIn(p.Place.Dir()), p.UUID) }

// Path returns a path inside the pod directory.
func (p *Pod) Path(rel string) string { return filepath.Join(p.Dir(), rel) }

// Create makes a new pod: a fresh UUID directory in embryo/, locked
// exclusively and moved to prepare/ (reference POD-TR-01). The caller
// holds the lock until it moves the pod on or exits.
func Create(root dirs.Root) (*Pod, error) {
	id := uuid.New().String()
	p := &Pod{UUID: id, Place: Embryo, root: root}
	if err := os.Mkdir(p.Dir(), 0o750); err != nil {
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	l, err := flock.OpenDir(p.Dir())
	if err != nil {
		return nil, err
	}
	if err := l.TryExclusive(); err != nil {
		l.Close()
		return nil, fmt.Errorf("locking new pod: %w", err)
	}
	p.lock = l
	if err := os.WriteFile(p.Path(stage1abi.PodCreatedFile), nil, 0o640); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.MoveTo(Prepare); err != nil {
		p.Close()
		return nil, err
	}
	p.State = StatePreparing
	return p, nil
}

// MoveTo renames the pod directory to another place. The rename is the
// state change; the parent directories are synced so it survives a crash.
func (p *Pod) MoveTo(to Place) error {
	from := p.Dir()
	dst := filepath.Join(p.root.PodsIn(to.Dir()), p.UUID)
	if err := os.Rename(from, dst); err != nil {
		return fmt.Errorf("moving pod %s to %s: %w", p.UUID, to.Dir(), err)
	}
	p.Place = to
	// Only a prepared pod must outlive a crash. A pod caught by a crash
	// while preparing or running is garbage whichever directory it ends up
	// in (embryo, prepare or run, unlocked), so those moves are not synced:
	// they are on the `rkt run` start path.
	if to == Prepared {
		_ = atomicfile.SyncDir(filepath.Dir(dst))
	}
	return nil
}

// Lock takes the pod's exclusive lock, blocking or not.
func (p *Pod) Lock(block bool) error {
	if p.lock == nil {
		l, err := flock.OpenDir(p.Dir())
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.UUID, err)
		}
		p.lock = l
	}
	var err error
	if block {
		err = p.lock.Exclusive()
	} else {
		err = p.lock.TryExclusive()
	}
	if err != nil {
		return fmt.Errorf("locking pod %s: %w", p.UUID, err)
	}
	return nil
}

// LockFD makes the held lock survive exec and returns its fd, for
// RKT_LOCK_FD.
func (p *Pod) LockFD() (int, error) {
	if p.lock == nil {
		return -1, fmt.Errorf("pod %s: lock not held", p.UUID)
	}
	return p.lock.Inheritable()
}

// Close releases the lock this process holds, if any.
func (p *Pod) Close() error {
	if p.lock == nil {
		return nil
	}
	err := p.lock.Close()
	p.lock = nil
	return err
}

// placesByName are the places a UUID argument is looked up in.
var placesByName = []Place{Prepare, Prepared, Run, ExitedGarbage}

// Lookup finds a pod by full UUID or unique prefix. Only directory names
// are read: one pod is found without scanning what the others hold.
func Lookup(root dirs.Root, arg string) (*Pod, error) {
	arg = strings.ToLower(strings.TrimSpace(arg))
	if arg == "" {
		return nil, ErrEmptyUUID
	}
	if _, err := uuid.Parse(arg); err == nil {
		// Embryo and garbage pods are nobody's business (CLI-GEN-05).
		if p, err := Open(root, arg); err == nil && p.Place != Embryo && p.Place != Garbage {
			return p, nil
		}
	}
	seen := map[string]bool{}
	var matches []string
	for _, pl := range placesByName {
		ents, err := os.ReadDir(root.PodsIn(pl.Dir()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), arg) && !seen[e.Name()] {
				seen[e.Name()] = true
				matches = append(matches, e.Name())
			}
		}
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("%w for %q", ErrNoMatch, arg)
	case 1:
		return Open(root, matches[0])
	}
	return nil, fmt.Errorf("%w, %d matches", ErrAmbiguous, len(matches))
}

// Open finds a pod by its full UUID and probes its state.
func Open(root dirs.Root, id string) (*Pod, error) {
	pl, st, err := Find(root.Pods(), id)
	if err != nil {
		return nil, err
	}
	return &Pod{UUID: id, Place: pl, State: st, root: root}, nil
}

// Refresh probes the pod's place and state again.
func (p *Pod) Refresh() error {
	pl, st, err := Find(p.root.Pods(), p.UUID)
	if err != nil {
		return err
	}
	p.Place, p.State = pl, st
	return nil
}

// ReadUUIDFile reads a --uuid-file: the whole file, whitespace-trimmed.
func ReadUUIDFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading UUID file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// All lists every pod in the places rkt list shows, ordered by UUID.
// Entries that are not pods are reported, not fatal.
func All(root dirs.Root) ([]*Pod, []error) {
	var pods []*Pod
	var errs []error
	seen := map[string]bool{}
	for _, pl := range []Place{Embryo, Prepare, Prepared, Run, ExitedGarbage, Garbage} {
		ents, err := os.ReadDir(root.PodsIn(pl.Dir()))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, e := range ents {
			if seen[e.Name()] {
				continue
			}
			if _, err := uuid.Parse(e.Name()); err != nil {
				errs = append(errs, fmt.Errorf("ignoring %s: not a pod", filepath.Join(root.PodsIn(pl.Dir()), e.Name())))
				continue
			}
			seen[e.Name()] = true
			p, err := Open(root, e.Name())
			if errors.Is(err, ErrNotFound) {
				continue // removed meanwhile
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].UUID < pods[j].UUID })
	return pods, errs
}

// Outline is what stage0 needs of a pod manifest to hand the pod to its
// stage1: the apps' names, in order, and the number of port forwards.
type Outline struct {
	Apps  []string
	Ports int
}

// ManifestOutline reads the pod manifest's Outline without decoding the
// whole manifest through the appc schema, whose first use in a process
// costs ~0.2 ms of reflection, and whose initialisation rkt-run-prepared
// would pay too if this package linked it (the stage1 decodes and checks
// it all; podmanifest.Read is the schema's reader).
func (p *Pod) ManifestOutline() (*Outline, error) {
	data, err := os.ReadFile(p.Path(stage1abi.PodManifestFile))
	if err != nil {
		return nil, fmt.Errorf("pod %s: reading manifest: %w", p.UUID, err)
	}
	var m struct {
		Apps []struct {
			Name string `json:"name"`
		} `json:"apps"`
		Ports []json.RawMessage `json:"ports"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("pod %s: invalid manifest: %w", p.UUID, err)
	}
	o := &Outline{Ports: len(m.Ports)}
	for _, a := range m.Apps {
		// The names become paths in the pod directory: as checked as
		// the schema would.
		if err := acname.Check(a.Name); err != nil {
			return nil, fmt.Errorf("pod %s: invalid manifest: app name %q: %w", p.UUID, a.Name, err)
		}
		o.Apps = append(o.Apps, a.Name)
	}
	return o, nil
}

// Stage1Manifest returns what stage0 needs of the manifest of the pod's
// stage1 image.
func (p *Pod) Stage1Manifest() (*stage1abi.Stage1Manifest, error) {
	data, err := os.ReadFile(p.Path(stage1abi.Stage1ManifestRel))
	if err != nil {
		return nil, err
	}
	return stage1abi.ParseStage1Manifest(data)
}

// CreatedAt is the mtime of pod-created (reference POD-TR-07).
func (p *Pod) CreatedAt() (time.Time, error) {
	for _, f := range []string{stage1abi.PodCreatedFile, stage1abi.PodManifestFile} {
		if fi, err := os.Stat(p.Path(f)); err == nil {
			return fi.ModTime(), nil
		}
	}
	return time.Time{}, fmt.Errorf("pod %s: no creation time", p.UUID)
}

// StartedAt is the mtime of the pid (or ppid) file; false if never
// started.
func (p *Pod) StartedAt() (time.Time, bool) {
	for _, f := range []string{stage1abi.PIDFile, stage1abi.PPIDFile} {
		if fi, err := os.Stat(p.Path(f)); err == nil {
			return fi.ModTime(), true
		}
	}
	return time.Time{}, false
}

// ErrNoPID means the stage1 has not written pid or ppid (yet).
var ErrNoPID = errors.New("pid file not written yet")

// PID returns the process to enter: from pid, or the single child of
// the process in ppid (reference S1-PID).
func (p *Pod) PID() (int, error) {
	if b, err := os.ReadFile(p.Path(stage1abi.PIDFile)); err == nil {
		return parsePID(b)
	}
	b, err := os.ReadFile(p.Path(stage1abi.PPIDFile))
	if err != nil {
		return 0, ErrNoPID
	}
	ppid, err := parsePID(b)
	if err != nil {
		return 0, err
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid))
	if err != nil {
		return 0, fmt.Errorf("pod %s: children of %d: %w", p.UUID, ppid, err)
	}
	f := strings.Fields(string(children))
	if len(f) != 1 {
		return 0, fmt.Errorf("pod %s: process %d has %d children, want 1", p.UUID, ppid, len(f))
	}
	return strconv.Atoi(f[0])
}

// PIDFileValue returns the number written in pid or ppid, for status.
func (p *Pod) PIDFileValue() (int, bool) {
	for _, f := range []string{stage1abi.PIDFile, stage1abi.PPIDFile} {
		if b, err := os.ReadFile(p.Path(f)); err == nil {
			if n, err := parsePID(b); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

func parsePID(b []byte) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid pid %q", strings.TrimSpace(string(b)))
	}
	return n, nil
}

// Overlay reports whether the pod's trees are overlay-mounted (as
// opposed to copied).
func (p *Pod) Overlay() bool {
	_, err := os.Stat(p.Path(stage1abi.OverlayPrepared))
	return err == nil
}

// Stage1TreeID returns the tree store ID of the pod's stage1.
func (p *Pod) Stage1TreeID() (string, error) {
	b, err := os.ReadFile(p.Path(stage1abi.Stage1TreeIDFile))
	return strings.TrimSpace(string(b)), err
}

// Stage1UpperDir is where an overlay pod's stage1 writes land; stage0
// mounts the overlays in the pod's private mount namespace, so readers
// outside it find the stage1's files (exit statuses) here.
func (p *Pod) Stage1UpperDir() string {
	return p.Path(filepath.FromSlash(stage1abi.Stage1UpperRel))
}

// WriteStage2 writes what the stage1 of an overlay pod finds of app
// before the app's overlay is mounted: its image manifest and the
// directory its rootfs is mounted on, in the stage1 overlay's upper
// layer, where they show through the stage1's rootfs once it is
// mounted. The manifest is a hard link of the pod's copy,
// appsinfo/<app>/manifest, which must exist (so readable by root and
// the rkt group, as that copy): a link costs the file system no inode
// and no data block, ~30 µs less an app on a journaled ext4. Where the
// link fails, it is a copy. An existing manifest is kept.
func (p *Pod) WriteStage2(app string) error {
	dir := filepath.Join(p.Stage1UpperDir(), filepath.FromSlash(stage1abi.Stage2Dir), app)
	// The directory is new but for a pod an earlier build prepared: a
	// plain mkdir, MkdirAll only when its parent is missing (the first
	// app's), rather than MkdirAll's stat of each missing level.
	if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	src, m := p.Path(filepath.Join(stage1abi.AppsInfoDir, app, stage1abi.AppManifestFile)), filepath.Join(dir, "manifest")
	if err := os.Link(src, m); err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("app %s: manifest: %w", app, err)
	}
	return os.WriteFile(m, data, 0o644)
}

// Stage1Path returns a path inside the pod's stage1 rootfs as readers
// outside the pod see it: the copied rootfs, or the overlay's upper dir.
func (p *Pod) Stage1Path(rel string) string {
	if p.Overlay() {
		return filepath.Join(p.Stage1UpperDir(), rel)
	}
	return p.Path(filepath.Join(stage1abi.Stage1RootfsRel, rel))
}

// AppExitStatuses returns the recorded exit status of each app that has
// one (reference PODF-17).
func (p *Pod) AppExitStatuses() (map[string]int, error) {
	dir := p.Stage1Path(stage1abi.StatusDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range ents {
		if strings.Contains(e.Name(), "-") && (strings.HasSuffix(e.Name(), "-created") || strings.HasSuffix(e.Name(), "-started")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[e.Name()] = n
		}
	}
	return out, nil
}

// NetInfo is one network the pod joined (net-info.json, PODF-12).
type NetInfo struct {
	NetName    string `json:"netName"`
	ConfPath   string `json:"netConf"`
	PluginPath string `json:"pluginPath"`
	IfName     string `json:"ifName"`
	IP         string `json:"ip"`
	Args       string `json:"args"`
	Mask       string `json:"mask"`
}

// Networks returns the networks recorded by the stage1, if any.
func (p *Pod) Networks() ([]NetInfo, error) {
	b, err := os.ReadFile(p.Path(stage1abi.NetInfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []NetInfo
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("pod %s: %s: %w", p.UUID, stage1abi.NetInfoFile, err)
	}
	return out, nil
}

// GCMarkedAt is when gc moved the pod to a garbage place: the ctime of
// its directory, which the rename set (reference POD-TR-07).
func (p *Pod) GCMarkedAt() (time.Time, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(p.Dir(), &st); err != nil {
		return time.Time{}, err
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec), nil
}

// Root returns the data directory the pod lives in.
func (p *Pod) Root() dirs.Root { return p.root }

// Stage1Rootfs returns the stage1 rootfs as processes outside the pod's
// mount namespace can use it: the copy in the pod directory, or, for
// overlay pods, the read-only tree in the tree store it was mounted from.
func (p *Pod) Stage1Rootfs() (string, error) {
	if !p.Overlay() {
		return p.Path(stage1abi.Stage1RootfsRel), nil
	}
	id, err := p.Stage1TreeID()
	if err != nil {
		return "", fmt.Errorf("pod %s: stage1 tree: %w", p.UUID, err)
	}
	return filepath.Join(p.root.Trees(), id, "rootfs"), nil
}

// Entrypoint is a stage1 entrypoint as stage0 executes it.
type Entrypoint struct {
	// Path is the file to execute, resolved inside the stage1 rootfs.
	Path string
	// Argv0 is the entrypoint's own path before symlinks are resolved, so
	// that a multi-call stage1 binary knows which entrypoint it is.
	Argv0 string
	// Version is the stage1's interface version.
	Version int
	// Manifest is the stage1's manifest.
	Manifest *stage1abi.Stage1Manifest
}

// Stage1Entrypoint returns one of the stage1's entrypoints.
func (p *Pod) Stage1Entrypoint(annotation string) (*Entrypoint, error) {
	m, err := p.Stage1Manifest()
	if err != nil {
		return nil, fmt.Errorf("pod %s: stage1 manifest: %w", p.UUID, err)
	}
	ep, err := m.Entrypoint(annotation)
	if err != nil {
		return nil, err
	}
	v, err := m.InterfaceVersion()
	if err != nil {
		return nil, err
	}
	rootfs, err := p.Stage1Rootfs()
	if err != nil {
		return nil, err
	}
	// An entrypoint may be a symlink inside the stage1 (absolute or not):
	// resolve it there, never on the host.
	path, err := securejoin.SecureJoin(rootfs, ep)
	if err != nil {
		return nil, fmt.Errorf("pod %s: stage1 entrypoint %s: %w", p.UUID, ep, err)
	}
	return &Entrypoint{Path: path, Argv0: filepath.Join(rootfs, ep), Version: v, Manifest: m}, nil
}

// OpenLocked adopts the lock of a pod that the parent process locked and
// handed over across exec (rkt run execs rkt-run-prepared with it).
func OpenLocked(root dirs.Root, id string, fd int) (*Pod, error) {
	p := &Pod{UUID: id, root: root}
	for _, pl := range []Place{Prepare, Prepared, Run} {
		if _, err := os.Stat(filepath.Join(root.PodsIn(pl.Dir()), id)); err == nil {
			p.Place = pl
			break
		}
	}
	if p.Place == Embryo {
		return nil, fmt.Errorf("pod %s: %w", id, ErrNotFound)
	}
	l, err := flock.FromFD(fd, p.Dir())
	if err != nil {
		return nil, fmt.Errorf("pod %s: adopting lock: %w", id, err)
	}
	p.lock = l
	p.State = StateOf(p.Place, true)
	return p, nil
}
