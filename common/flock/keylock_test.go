package flock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// waitForBlockedWaiter waits until /proc/locks shows a process blocked on a
// lock of inode ino, so the test knows KeyLock sits inside flock(2).
func waitForBlockedWaiter(t *testing.T, ino uint64) {
	t.Helper()
	suffix := fmt.Sprintf(":%d ", ino)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("cannot read /proc/locks: %v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "->") && strings.Contains(line, suffix) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no waiter blocked on the lock file")
}

// TestKeyLockRetriesWhenFileReplaced stages the cleanup race of LOCK-09 for
// real: a waiter blocks on the lock file, the holder unlinks it, puts a new
// file at the path and lets go. The waiter then holds a lock on a dead
// inode, and must notice and lock the new file instead.
func TestKeyLockRetriesWhenFileReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sha512-abc")
	unlockA, err := KeyLock(dir, "sha512-abc", Exclusive, true)
	if err != nil {
		t.Fatal(err)
	}
	oldIno := inode(t, path)

	type result struct {
		unlock func() error
		err    error
	}
	done := make(chan result)
	go func() {
		u, err := KeyLock(dir, "sha512-abc", Exclusive, true)
		done <- result{u, err}
	}()
	waitForBlockedWaiter(t, oldIno)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	newIno := inode(t, path)
	if err := unlockA(); err != nil {
		t.Fatal(err)
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("KeyLock did not return")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	// The lock must be on the file now at the path, not on the unlinked
	// one: otherwise a third process would get in.
	if got := inode(t, path); got != newIno {
		t.Fatalf("lock file inode changed again: %d, want %d", got, newIno)
	}
	assertProbe(t, path, true)
	if _, err := KeyLock(dir, "sha512-abc", Shared, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("KeyLock while held = %v, want ErrLocked", err)
	}
	if err := r.unlock(); err != nil {
		t.Fatal(err)
	}
	assertProbe(t, path, false)
}

// TestKeyLockRetryLimit uses the hook to replace or remove the file after
// every lock, and checks that KeyLock retries keyLockRetries times and then
// gives up with ErrKeyLockReplaced.
func TestKeyLockRetryLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		races    int // how many attempts see the file replaced
		wantErr  error
		attempts int
	}{
		{"once", 1, nil, 2},
		{"limit", keyLockRetries, nil, keyLockRetries + 1},
		{"always", 1000, ErrKeyLockReplaced, keyLockRetries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			attempts := 0
			keyLockHookAfterLock = func(path string) {
				attempts++
				if attempts > tc.races {
					return
				}
				// Alternate removal and replacement: both must be caught.
				if err := os.Remove(path); err != nil {
					t.Error(err)
				}
				if attempts%2 == 0 {
					if err := os.WriteFile(path, nil, 0o660); err != nil {
						t.Error(err)
					}
				}
			}
			defer func() { keyLockHookAfterLock = nil }()
			unlock, err := KeyLock(dir, "k", Shared, false)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("KeyLock = %v, want %v", err, tc.wantErr)
			}
			if attempts != tc.attempts {
				t.Fatalf("%d attempts, want %d", attempts, tc.attempts)
			}
			if err == nil {
				assertSharedHeld(t, filepath.Join(dir, "k"))
				unlock()
			}
		})
	}
}

// assertSharedHeld checks that someone holds a shared lock on path: another
// shared lock gets in, an exclusive one does not.
func assertSharedHeld(t *testing.T, path string) {
	t.Helper()
	l, err := OpenFile(path, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.TryShared(); err != nil {
		t.Fatalf("TryShared: %v", err)
	}
	l.Unlock()
	if err := l.TryExclusive(); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryExclusive = %v, want ErrLocked", err)
	}
}

func TestKeyLockModes(t *testing.T) {
	dir := t.TempDir()
	u1, err := KeyLock(dir, "k", Shared, false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&^0o660 != 0 {
		t.Fatalf("lock file mode %v, want at most 0660", perm)
	}
	u2, err := KeyLock(dir, "k", Shared, true)
	if err != nil {
		t.Fatalf("second shared key lock: %v", err)
	}
	if _, err := KeyLock(dir, "k", Exclusive, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive under shared = %v, want ErrLocked", err)
	}
	// Other keys are independent.
	u3, err := KeyLock(dir, "other", Exclusive, false)
	if err != nil {
		t.Fatal(err)
	}
	u1()
	u2()
	u3()
	u4, err := KeyLock(dir, "k", Exclusive, false)
	if err != nil {
		t.Fatalf("exclusive after release: %v", err)
	}
	u4()
}

func TestKeyLockErrors(t *testing.T) {
	dir := t.TempDir()
	for _, key := range []string{"", ".", "..", "a/b", "../x"} {
		if _, err := KeyLock(dir, key, Exclusive, false); err == nil {
			t.Errorf("KeyLock(%q) succeeded", key)
		}
	}
	if _, err := KeyLock(dir, "k", Mode(7), false); err == nil {
		t.Error("KeyLock with an invalid mode succeeded")
	}
	if _, err := KeyLock(filepath.Join(dir, "missing"), "k", Exclusive, false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("KeyLock in a missing dir = %v, want ErrNotExist", err)
	}
}

func TestCleanKeyLocks(t *testing.T) {
	dir := t.TempDir()
	held, err := KeyLock(dir, "held", Shared, false)
	if err != nil {
		t.Fatal(err)
	}
	defer held()
	free, err := KeyLock(dir, "free", Exclusive, false)
	if err != nil {
		t.Fatal(err)
	}
	free()
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := CleanKeyLocks(dir); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "held,subdir" {
		t.Fatalf("left %s, want held,subdir", got)
	}
}

func TestModeString(t *testing.T) {
	if Shared.String() != "shared" || Exclusive.String() != "exclusive" || Mode(5).String() != "Mode(5)" {
		t.Fatal("Mode.String mismatch")
	}
}
