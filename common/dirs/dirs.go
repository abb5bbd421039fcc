// Package dirs builds every path under rkt's data directory from one typed
// root, so that the on-disk layout is written down in exactly one place.
package dirs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultDataDir is the data directory when neither --dir nor paths.d sets one.
const DefaultDataDir = "/var/lib/rkt"

// Root is an absolute, symlink-resolved data directory.
type Root struct{ dir string }

// ErrEmpty is returned for an empty data directory path.
var ErrEmpty = errors.New("data directory path cannot be empty")

// New makes a Root from a user-supplied path: made absolute, and with
// symlinks resolved as far as the path exists (a data dir that does not
// exist yet is allowed).
func New(dir string) (Root, error) {
	if dir == "" {
		return Root{}, ErrEmpty
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Root{}, fmt.Errorf("data directory %q: %w", dir, err)
	}
	return Root{dir: resolveExisting(abs)}, nil
}

// resolveExisting resolves symlinks in the longest existing prefix of p
// and appends the rest unchanged.
func resolveExisting(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p
	}
	return filepath.Join(resolveExisting(parent), filepath.Base(p))
}

// Path returns the data directory itself.
func (r Root) Path() string { return r.dir }

// Pods returns $dir/pods, under which each pod state has its directory.
func (r Root) Pods() string { return filepath.Join(r.dir, "pods") }

// PodsIn returns the directory of one pod place, e.g. "run".
func (r Root) PodsIn(place string) string { return filepath.Join(r.dir, "pods", place) }

// CAS returns the image store root.
func (r Root) CAS() string { return filepath.Join(r.dir, "cas") }

// Images returns the directory holding one directory per stored image.
func (r Root) Images() string { return filepath.Join(r.dir, "cas", "images") }

// Remotes returns the directory of per-URL download records.
func (r Root) Remotes() string { return filepath.Join(r.dir, "cas", "remotes") }

// Names returns the name index: one directory per image name holding an
// empty file per image of that name.
func (r Root) Names() string { return filepath.Join(r.dir, "cas", "names") }

// ImageLocks returns the directory of per-image key locks.
func (r Root) ImageLocks() string { return filepath.Join(r.dir, "cas", "imagelocks") }

// CASTmp returns the store's scratch directory: downloads and imports in
// progress, renamed into place when complete. Group rkt may write it.
func (r Root) CASTmp() string { return filepath.Join(r.dir, "cas", "tmp") }

// Trees returns the tree store: rendered image trees.
func (r Root) Trees() string { return filepath.Join(r.dir, "cas", "tree") }

// TreeLocks returns the directory of per-tree key locks.
func (r Root) TreeLocks() string { return filepath.Join(r.dir, "cas", "treestorelocks") }

// Tmp returns scratch space on the data dir's filesystem, for atomic renames.
func (r Root) Tmp() string { return filepath.Join(r.dir, "tmp") }

// Locks returns the directory of lock files that are not directories.
func (r Root) Locks() string { return filepath.Join(r.dir, "locks") }

// PrepareLockKey is the key-lock name between prepare/run (shared) and
// image gc (exclusive), under Locks().
const PrepareLockKey = "prepareLock"

// Entry is one directory of the data dir layout with the mode that
// scripts/setup-data-dir gives it.
type Entry struct {
	Rel  string      // path relative to the data dir; "" is the data dir itself
	Mode os.FileMode // permission bits including setgid
}

// Layout is the data directory tree. The setgid bit makes every file and
// directory below inherit group rkt, which is what lets a member of that
// group fetch without root. Tree store directories stay private (2700):
// rendered trees may hold setuid binaries.
var Layout = []Entry{
	{"", 0o750 | os.ModeSetgid},
	{"tmp", 0o750 | os.ModeSetgid},
	{"locks", 0o750 | os.ModeSetgid},
	{"cas", 0o770 | os.ModeSetgid},
	{"cas/images", 0o770 | os.ModeSetgid},
	{"cas/remotes", 0o770 | os.ModeSetgid},
	{"cas/names", 0o770 | os.ModeSetgid},
	{"cas/imagelocks", 0o770 | os.ModeSetgid},
	{"cas/tmp", 0o770 | os.ModeSetgid},
	{"cas/tree", 0o700 | os.ModeSetgid},
	{"cas/treestorelocks", 0o700 | os.ModeSetgid},
	{"pods", 0o750 | os.ModeSetgid},
	{"pods/embryo", 0o750 | os.ModeSetgid},
	{"pods/prepare", 0o750 | os.ModeSetgid},
	{"pods/prepared", 0o750 | os.ModeSetgid},
	{"pods/run", 0o750 | os.ModeSetgid},
	{"pods/exited-garbage", 0o750 | os.ModeSetgid},
	{"pods/garbage", 0o750 | os.ModeSetgid},
}

// Ensure creates any missing directory of the layout. Existing directories
// are left as they are: the install step, not every command, owns modes
// and groups.
func (r Root) Ensure() error {
	for _, e := range Layout {
		p := filepath.Join(r.dir, e.Rel)
		if err := os.Mkdir(p, e.Mode); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	return nil
}
