package flock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode selects the kind of lock KeyLock takes.
type Mode int

const (
	// Shared lets other Shared holders of the same key in, and keeps
	// Exclusive ones out (readers of an image, for instance).
	Shared Mode = iota
	// Exclusive keeps every other holder of the key out (writers, removers).
	Exclusive
)

// String returns "shared" or "exclusive".
func (m Mode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Exclusive:
		return "exclusive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// keyLockRetries is how many times KeyLock starts over after finding that
// the file it locked is no longer the one at its path (LOCK-09).
const keyLockRetries = 3

// ErrKeyLockReplaced is returned (wrapped) by KeyLock when the lock file kept
// being removed or replaced between opening and locking it, more often than
// keyLockRetries allows.
var ErrKeyLockReplaced = errors.New("lock file replaced while locking")

// keyLockHookAfterLock, when set by tests, runs after each lock is taken and
// before it is checked against the path, to stage the cleanup race.
var keyLockHookAfterLock func(path string)

// KeyLock implements rkt's key-lock protocol (LOCK-09), used for the prepare
// lock and the per-image and per-tree locks of the store. It creates the
// lock file dir/key if it is missing (mode 0660 before the umask; dir must
// exist), locks it in mode, waiting if block is true or failing with an error
// wrapping ErrLocked otherwise, and returns a function that releases the lock.
//
// Lock files are removed by CleanKeyLocks while nobody holds them, so between
// our open and our flock the file may have been unlinked (and maybe
// re-created by someone else). A lock on an unlinked inode protects nothing,
// so after locking KeyLock compares the device and inode of the locked
// descriptor with what is at the path now, and starts over, up to
// keyLockRetries times, if they differ.
func KeyLock(dir, key string, mode Mode, block bool) (unlock func() error, err error) {
	if key == "" || key == "." || key == ".." || strings.ContainsRune(key, '/') {
		return nil, fmt.Errorf("flock: key lock %q: invalid key", key)
	}
	if mode != Shared && mode != Exclusive {
		return nil, fmt.Errorf("flock: key lock %q: invalid mode %v", key, mode)
	}
	path := filepath.Join(dir, key)
	for attempt := 0; attempt <= keyLockRetries; attempt++ {
		l, err := OpenFile(path, 0o660)
		if err != nil {
			return nil, fmt.Errorf("flock: key lock: %w", err)
		}
		switch {
		case mode == Shared && block:
			err = l.Shared()
		case mode == Shared:
			err = l.TryShared()
		case block:
			err = l.Exclusive()
		default:
			err = l.TryExclusive()
		}
		if err != nil {
			l.Close()
			return nil, err
		}
		if keyLockHookAfterLock != nil {
			keyLockHookAfterLock(path)
		}
		same, err := l.samePath()
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("flock: key lock: %w", err)
		}
		if same {
			return l.Close, nil
		}
		l.Close()
	}
	return nil, fmt.Errorf("flock: key lock %s: %w", path, ErrKeyLockReplaced)
}

// samePath reports whether the Lock's descriptor is still the file at its
// path. A missing path counts as not the same.
func (l *Lock) samePath() (bool, error) {
	var fdStat unix.Stat_t
	var opErr error
	err := l.control(func(fd uintptr) {
		opErr = retryEINTR(func() error { return unix.Fstat(int(fd), &fdStat) })
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", l.path, err)
	}
	var pathStat unix.Stat_t
	err = retryEINTR(func() error { return unix.Stat(l.path, &pathStat) })
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", l.path, err)
	}
	return fdStat.Dev == pathStat.Dev && fdStat.Ino == pathStat.Ino, nil
}

// CleanKeyLocks removes the lock files in dir that nobody holds, so that the
// lock directories of the store do not grow with every key ever used. Each
// file is removed while we hold an exclusive lock on it, which is the race
// KeyLock's inode check guards against. Files that are locked are skipped.
func CleanKeyLocks(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("flock: clean key locks: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := removeUnlocked(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flock: clean key locks: %w", err)
	}
	return nil
}

// removeUnlocked removes the lock file at path if it can be locked
// exclusively without waiting.
func removeUnlocked(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed by someone else meanwhile
	}
	if err != nil {
		return err
	}
	l := &Lock{f: f, path: path}
	defer l.Close()
	if err := l.TryExclusive(); err != nil {
		if errors.Is(err, ErrLocked) {
			return nil
		}
		return err
	}
	// Remove only the file we locked: if it was replaced meanwhile, the new
	// one may be in use.
	if same, err := l.samePath(); err != nil || !same {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
