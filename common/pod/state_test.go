package pod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rkt/rkt/common/flock"
)

// With helperEnv set, the test binary is a helper that holds an exclusive
// lock on the directory in helperPathEnv, as a stage1 or a preparer would,
// until its stdin closes.
const (
	helperEnv     = "POD_TEST_HELPER"
	helperPathEnv = "POD_TEST_PATH"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := holdLock(os.Getenv(helperPathEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func holdLock(path string) error {
	l, err := flock.OpenDir(path)
	if err != nil {
		return err
	}
	if err := l.Exclusive(); err != nil {
		return err
	}
	fmt.Println("locked")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// lockInHelper locks dir in a helper process and returns a function that
// makes the helper exit (it is also called at cleanup).
func lockInHelper(t *testing.T, dir string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The race detector otherwise sleeps a second at exit.
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperPathEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Scan()
		line <- s.Text()
		io.Copy(io.Discard, stdout)
	}()
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	}
	t.Cleanup(release)
	select {
	case l := <-line:
		if l != "locked" {
			t.Fatalf("helper said %q, want locked", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for helper")
	}
	return release
}

func TestStateOfTable(t *testing.T) {
	tests := []struct {
		place  Place
		locked bool
		want   State
		name   string
	}{
		{Embryo, false, StateEmbryo, "embryo"},
		{Embryo, true, StateEmbryo, "embryo"},
		{Prepare, true, StatePreparing, "preparing"},
		{Prepare, false, StateAbortedPrepare, "aborted prepare"},
		{Prepared, false, StatePrepared, "prepared"},
		{Prepared, true, StatePrepared, "prepared"},
		{Run, true, StateRunning, "running"},
		{Run, false, StateExited, "exited"},
		{ExitedGarbage, true, StateExitedDeleting, "exited deleting"},
		{ExitedGarbage, false, StateExitedGarbage, "exited garbage"},
		{Garbage, true, StateDeleting, "deleting"},
		{Garbage, false, StateGarbage, "garbage"},
	}
	seen := make(map[State]bool)
	for _, tt := range tests {
		got := StateOf(tt.place, tt.locked)
		if got != tt.want {
			t.Errorf("StateOf(%v, %v) = %v, want %v", tt.place, tt.locked, got, tt.want)
		}
		if got.String() != tt.name {
			t.Errorf("State %d String() = %q, want %q", got, got.String(), tt.name)
		}
		seen[got] = true
	}
	// Every state is reachable from some (place, lock) pair.
	for s := StateEmbryo; s <= StateGarbage; s++ {
		if !seen[s] {
			t.Errorf("state %v not produced by StateOf", s)
		}
	}
	if len(tests) != 2*len(Places) {
		t.Errorf("table has %d rows, want %d", len(tests), 2*len(Places))
	}
}

func TestStateOfInvalidPlacePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	StateOf(Place(42), false)
}

func TestPlaces(t *testing.T) {
	want := []string{"embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"}
	if len(Places) != len(want) {
		t.Fatalf("Places = %v", Places)
	}
	for i, p := range Places {
		if p.Dir() != want[i] || p.String() != want[i] {
			t.Errorf("Places[%d] = %q, want %q", i, p.Dir(), want[i])
		}
	}
	if Place(-1).Dir() != "Place(-1)" || State(99).String() != "State(99)" {
		t.Error("out-of-range names")
	}
}

func TestFinished(t *testing.T) {
	finished := map[State]bool{
		StateAbortedPrepare: true, StateExited: true, StateDeleting: true,
		StateExitedDeleting: true, StateExitedGarbage: true, StateGarbage: true,
	}
	for s := StateEmbryo; s <= StateGarbage; s++ {
		if s.Finished() != finished[s] {
			t.Errorf("%v.Finished() = %v, want %v", s, s.Finished(), finished[s])
		}
	}
}

const testUUID = "0b2c5e1a-6f0e-4a43-9f6a-2f8d6f1c7e5b"

// newPodsDir makes a $dir/pods tree with every place directory.
func newPodsDir(t *testing.T) string {
	t.Helper()
	pods := filepath.Join(t.TempDir(), "pods")
	for _, p := range Places {
		if err := os.MkdirAll(filepath.Join(pods, p.Dir()), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	return pods
}

func mkPod(t *testing.T, pods string, p Place) string {
	t.Helper()
	dir := filepath.Join(pods, p.Dir(), testUUID)
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

func assertFind(t *testing.T, pods string, wantPlace Place, want State) {
	t.Helper()
	p, s, err := Find(pods, testUUID)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if p != wantPlace || s != want {
		t.Fatalf("Find = %v, %v; want %v, %v", p, s, wantPlace, want)
	}
}

// TestFind puts a pod in every place, with and without a lock held by
// another process, and checks Find against the StateOf table. For embryo
// and prepared, Find must not even look at the lock.
func TestFind(t *testing.T) {
	for _, p := range Places {
		for _, locked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/locked=%v", p, locked), func(t *testing.T) {
				pods := newPodsDir(t)
				dir := mkPod(t, pods, p)
				if locked {
					release := lockInHelper(t, dir)
					assertFind(t, pods, p, StateOf(p, true))
					release()
				}
				// Unlocked, or the holder exited.
				assertFind(t, pods, p, StateOf(p, false))
			})
		}
	}
}

// TestFindSharedHolder checks that a shared holder (another reader
// probing at the same time) does not make a pod look locked.
func TestFindSharedHolder(t *testing.T) {
	pods := newPodsDir(t)
	dir := mkPod(t, pods, Run)
	l, err := flock.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Shared(); err != nil {
		t.Fatal(err)
	}
	assertFind(t, pods, Run, StateExited)
}

// TestFindDetectionOrder checks that an earlier place wins when a pod is
// found in two (which only a crash in the middle of a copy could cause,
// since pods move with rename).
func TestFindDetectionOrder(t *testing.T) {
	pods := newPodsDir(t)
	mkPod(t, pods, Garbage)
	mkPod(t, pods, Run)
	assertFind(t, pods, Run, StateExited)
}

// TestFindAfterMove follows a pod through its lifecycle, the way rkt
// renames it, with the lock held in this process.
func TestFindAfterMove(t *testing.T) {
	pods := newPodsDir(t)
	dir := mkPod(t, pods, Embryo)
	l, err := flock.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Exclusive(); err != nil {
		t.Fatal(err)
	}
	assertFind(t, pods, Embryo, StateEmbryo)
	move := func(from, to Place) {
		t.Helper()
		if err := os.Rename(filepath.Join(pods, from.Dir(), testUUID), filepath.Join(pods, to.Dir(), testUUID)); err != nil {
			t.Fatal(err)
		}
	}
	move(Embryo, Prepare)
	assertFind(t, pods, Prepare, StatePreparing)
	move(Prepare, Run)
	assertFind(t, pods, Run, StateRunning)
	l.Unlock()
	assertFind(t, pods, Run, StateExited)
	move(Run, ExitedGarbage)
	assertFind(t, pods, ExitedGarbage, StateExitedGarbage)
}

// TestFindPodMovesDuringProbe stages the race of a successful prepare:
// Find opens prepare/UUID, then the preparer renames it to prepared/ and
// unlocks, and only then does Find probe the lock. Seen as unlocked in
// prepare/, the pod would pass for "aborted prepare"; Find must notice the
// move and report it prepared.
func TestFindPodMovesDuringProbe(t *testing.T) {
	pods := newPodsDir(t)
	dir := mkPod(t, pods, Prepare)
	l, err := flock.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Exclusive(); err != nil {
		t.Fatal(err)
	}
	calls := 0
	findHookAfterOpen = func(path string) {
		calls++
		if calls > 1 {
			return
		}
		if err := os.Rename(dir, filepath.Join(pods, Prepared.Dir(), testUUID)); err != nil {
			t.Error(err)
		}
		if err := l.Unlock(); err != nil {
			t.Error(err)
		}
	}
	defer func() { findHookAfterOpen = nil }()
	assertFind(t, pods, Prepared, StatePrepared)
	if calls != 1 {
		t.Fatalf("hook ran %d times, want 1", calls)
	}
}

func TestFindNotFound(t *testing.T) {
	pods := newPodsDir(t)
	if _, _, err := Find(pods, testUUID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find in empty pods dir = %v, want ErrNotFound", err)
	}
	// A stray file with the pod's name is not a pod.
	if err := os.WriteFile(filepath.Join(pods, "run", testUUID), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pods, "prepared", testUUID), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Find(pods, testUUID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find with stray files = %v, want ErrNotFound", err)
	}
	// Nor is a missing data dir anything but not found.
	if _, _, err := Find(filepath.Join(pods, "nope"), testUUID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find in missing pods dir = %v, want ErrNotFound", err)
	}
}

func TestFindInvalidUUID(t *testing.T) {
	pods := newPodsDir(t)
	for _, u := range []string{"", ".", "..", "../run", "a/b"} {
		if _, _, err := Find(pods, u); !errors.Is(err, ErrInvalidUUID) {
			t.Errorf("Find(%q) = %v, want ErrInvalidUUID", u, err)
		}
	}
}
