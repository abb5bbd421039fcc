// Package pod holds rkt's pods on disk: their directories under $dir/pods,
// their states and the transitions between them.
//
// A pod's state is not stored anywhere. It is derived from two facts the
// kernel keeps consistent for us: which directory under $dir/pods the pod
// directory sits in (its Place, changed only by rename(2)), and whether
// someone holds an exclusive flock(2) on the pod directory. A process that
// dies drops its lock, so a crashed stage1 turns a running pod into an
// exited one with nothing left to clean up.
package pod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/flock"
)

// ErrNotFound is returned (wrapped) by Find when no place holds the pod.
var ErrNotFound = errors.New("pod not found")

// ErrInvalidUUID is returned (wrapped) for a UUID that cannot be a pod
// directory name, such as one holding a slash: it would let a caller reach
// outside $dir/pods.
var ErrInvalidUUID = errors.New("invalid pod UUID")

// Place is the directory under $dir/pods a pod is in.
type Place int

// The places, in the order the lifecycle moves a pod through them.
const (
	// Embryo holds a pod just created, before its lock is taken.
	Embryo Place = iota
	// Prepare holds a pod being prepared (locked) or whose prepare failed.
	Prepare
	// Prepared holds a prepared pod waiting for run-prepared.
	Prepared
	// Run holds a running pod (locked by its stage1) or an exited one.
	Run
	// ExitedGarbage holds an exited pod marked by gc.
	ExitedGarbage
	// Garbage holds a pod whose prepare failed, or a prepared pod that
	// expired or was removed, marked by gc.
	Garbage
)

// Places lists every Place in detection order (POD-TR-06). Every transition
// moves a pod to a later place in this list, so a scan in this order cannot
// miss a pod that moves while it runs: it can only find it further on.
var Places = []Place{Embryo, Prepare, Prepared, Run, ExitedGarbage, Garbage}

var placeDirs = [...]string{
	Embryo:        "embryo",
	Prepare:       "prepare",
	Prepared:      "prepared",
	Run:           "run",
	ExitedGarbage: "exited-garbage",
	Garbage:       "garbage",
}

// Dir returns the name of the directory under $dir/pods for p.
func (p Place) Dir() string {
	if p < 0 || int(p) >= len(placeDirs) {
		return fmt.Sprintf("Place(%d)", int(p))
	}
	return placeDirs[p]
}

// String returns the same as Dir.
func (p Place) String() string { return p.Dir() }

// State is what rkt shows for a pod. It is computed by StateOf from the
// pod's Place and whether its lock is held.
type State int

// The states of the POD-ST table.
const (
	StateEmbryo         State = iota // in embryo, lock or not
	StatePreparing                   // in prepare, locked by the preparer
	StateAbortedPrepare              // in prepare, unlocked: the preparer died
	StatePrepared                    // in prepared, lock or not
	StateRunning                     // in run, locked by stage1
	StateExited                      // in run, unlocked: stage1 is gone
	StateDeleting                    // in garbage, locked by gc or rm
	StateExitedDeleting              // in exited-garbage, locked by gc or rm
	StateExitedGarbage               // in exited-garbage, unlocked
	StateGarbage                     // in garbage, unlocked
)

var stateNames = [...]string{
	StateEmbryo:         "embryo",
	StatePreparing:      "preparing",
	StateAbortedPrepare: "aborted prepare",
	StatePrepared:       "prepared",
	StateRunning:        "running",
	StateExited:         "exited",
	StateDeleting:       "deleting",
	StateExitedDeleting: "exited deleting",
	StateExitedGarbage:  "exited garbage",
	StateGarbage:        "garbage",
}

// String returns the name rkt prints for s (in `rkt list` and `rkt status`).
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// Finished reports whether a pod in state s will not run again: it exited,
// its prepare was aborted, or it is garbage (being deleted or not).
func (s State) Finished() bool {
	switch s {
	case StateAbortedPrepare, StateExited, StateDeleting, StateExitedDeleting,
		StateExitedGarbage, StateGarbage:
		return true
	}
	return false
}

// StateOf derives a pod's state from its place and whether an exclusive
// lock on its directory is held (POD-ST-01..06). In embryo and prepared the
// lock carries no meaning. StateOf panics on a Place that is not one of the
// constants, since no pod directory can be in it.
func StateOf(p Place, locked bool) State {
	switch p {
	case Embryo:
		return StateEmbryo
	case Prepare:
		if locked {
			return StatePreparing
		}
		return StateAbortedPrepare
	case Prepared:
		return StatePrepared
	case Run:
		if locked {
			return StateRunning
		}
		return StateExited
	case ExitedGarbage:
		if locked {
			return StateExitedDeleting
		}
		return StateExitedGarbage
	case Garbage:
		if locked {
			return StateDeleting
		}
		return StateGarbage
	}
	panic(fmt.Sprintf("pod: StateOf(%v): invalid place", p))
}

// probed reports whether a place's state depends on the lock (POD-TR-06).
func probed(p Place) bool {
	return p != Embryo && p != Prepared
}

// Find locates the pod uuid under podsDir (the $dir/pods directory), trying
// the places in detection order, and probes its lock with a non-blocking
// shared flock(2) where the lock means something (not for embryo and
// prepared, POD-TR-06). It never blocks on a lock. A pod missing from every
// place is an error wrapping ErrNotFound.
//
// Pods move while Find looks. After the probe, Find checks that the
// directory it locked is still at the place it was found in, and starts over
// if not: a preparer renames prepare→prepared before it unlocks, so an
// unlocked directory seen in prepare/ could otherwise be reported as
// "aborted prepare" although its prepare succeeded.
func Find(podsDir, uuid string) (Place, State, error) {
	if uuid == "" || uuid == "." || uuid == ".." || strings.ContainsRune(uuid, '/') {
		return 0, 0, fmt.Errorf("pod: find %q: %w", uuid, ErrInvalidUUID)
	}
	// Each restart means the pod moved to a later place, so there can be
	// at most as many restarts as places.
	for range len(Places) + 1 {
		p, s, moved, err := find(podsDir, uuid)
		if err != nil {
			return 0, 0, fmt.Errorf("pod: find %s: %w", uuid, err)
		}
		if !moved {
			return p, s, nil
		}
	}
	return 0, 0, fmt.Errorf("pod: find %s: pod keeps moving", uuid)
}

// find does one scan of the places; moved means the pod left the place it
// was found in during the probe, and the scan must be redone.
func find(podsDir, uuid string) (p Place, s State, moved bool, err error) {
	for _, p := range Places {
		path := filepath.Join(podsDir, p.Dir(), uuid)
		if !probed(p) {
			switch st, err := os.Stat(path); {
			case err == nil && st.IsDir():
				return p, StateOf(p, false), false, nil
			case err == nil, errors.Is(err, os.ErrNotExist):
				continue
			default:
				return 0, 0, false, err
			}
		}
		locked, moved, err := probe(path)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			// Not here, or moved on between our look at an earlier
			// place and this one; later places will tell.
			continue
		}
		if err != nil || moved {
			return 0, 0, moved, err
		}
		return p, StateOf(p, locked), false, nil
	}
	return 0, 0, false, ErrNotFound
}

// findHookAfterOpen, when set by tests, runs between opening a pod
// directory and probing its lock, to stage a pod moving meanwhile.
var findHookAfterOpen func(path string)

// probe tries a non-blocking shared lock on the pod directory at path and
// drops it at once. locked means someone holds it exclusively; moved means
// the directory is no longer at path, so locked says nothing about the place.
func probe(path string) (locked, moved bool, err error) {
	l, err := flock.OpenDir(path)
	if err != nil {
		return false, false, err
	}
	defer l.Close()
	if findHookAfterOpen != nil {
		findHookAfterOpen(path)
	}
	switch err := l.TryShared(); {
	case errors.Is(err, flock.ErrLocked):
		locked = true
	case err != nil:
		return false, false, err
	}
	same, err := samePath(l, path)
	if err != nil {
		return false, false, err
	}
	return locked, !same, nil
}

// samePath reports whether the directory open in l is still the one at
// path.
func samePath(l *flock.Lock, path string) (bool, error) {
	var fdSt, pathSt unix.Stat_t
	if err := unix.Fstat(l.Fd(), &fdSt); err != nil {
		return false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	switch err := unix.Stat(path, &pathSt); {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case err != nil:
		return false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fdSt.Dev == pathSt.Dev && fdSt.Ino == pathSt.Ino, nil
}
