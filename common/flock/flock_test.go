package flock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a helper process: with helperEnv set it runs
// the named helper instead of the tests. Locks must be exercised across
// processes because that is how rkt uses them.
const (
	helperEnv     = "FLOCK_TEST_HELPER"
	helperPathEnv = "FLOCK_TEST_PATH"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode, os.Getenv(helperPathEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper prints one status line and then waits for stdin to close before
// exiting, so the parent decides how long the helper holds its lock.
func runHelper(mode, path string) error {
	in := bufio.NewReader(os.Stdin)
	switch mode {
	case "race":
		// Open first, then wait for "go", so both racers call TryExclusive
		// as close together as possible.
		l, err := OpenFile(path, 0o660)
		if err != nil {
			return err
		}
		fmt.Println("ready")
		if _, err := in.ReadString('\n'); err != nil {
			return err
		}
		switch err := l.TryExclusive(); {
		case err == nil:
			fmt.Println("locked")
		case errors.Is(err, ErrLocked):
			fmt.Println("busy")
		default:
			return err
		}
	case "hold":
		l, err := OpenFile(path, 0o660)
		if err != nil {
			return err
		}
		if err := l.Exclusive(); err != nil {
			return err
		}
		fmt.Println("locked")
	case "adopt":
		// What a stage1 does with RKT_LOCK_FD.
		fd, err := strconv.Atoi(os.Getenv("RKT_LOCK_FD"))
		if err != nil {
			return err
		}
		l, err := FromFD(fd, "pod lock")
		if err != nil {
			fmt.Println("nofd:", err)
			break
		}
		// The fd number might be taken by something else in this
		// process; only the locked file itself counts as inherited.
		l.path = path
		if same, err := l.samePath(); err != nil || !same {
			fmt.Println("nofd: not the lock file", err)
			break
		}
		fmt.Println("locked")
	default:
		return fmt.Errorf("unknown helper mode %q", mode)
	}
	_, err := io.Copy(io.Discard, in)
	return err
}

type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startHelper starts the test binary as a helper in mode on path.
func startHelper(t *testing.T, mode, path string, setup func(*exec.Cmd)) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The race detector otherwise sleeps a second at exit.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperPathEnv+"="+path, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	if setup != nil {
		setup(cmd)
	}
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
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			h.lines <- s.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// line returns the helper's next output line, failing the test after a
// generous timeout rather than hanging.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatal("helper exited without output")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for helper")
	}
	return ""
}

// stop closes the helper's stdin, which makes it exit, and waits for it.
func (h *helper) stop(t *testing.T) {
	t.Helper()
	if h.cmd.ProcessState != nil {
		return
	}
	h.stdin.Close()
	for range h.lines {
	}
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
}

func TestTwoProcessesRaceForExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	a := startHelper(t, "race", path, nil)
	b := startHelper(t, "race", path, nil)
	for _, h := range []*helper{a, b} {
		if got := h.line(t); got != "ready" {
			t.Fatalf("helper said %q, want ready", got)
		}
	}
	io.WriteString(a.stdin, "go\n")
	io.WriteString(b.stdin, "go\n")
	ra, rb := a.line(t), b.line(t)
	var winner *helper
	switch {
	case ra == "locked" && rb == "busy":
		winner = a
	case ra == "busy" && rb == "locked":
		winner = b
	default:
		t.Fatalf("results %q and %q, want one locked and one busy", ra, rb)
	}

	l, err := OpenFile(path, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.TryExclusive(); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryExclusive while helper holds the lock = %v, want ErrLocked", err)
	}
	winner.stop(t)
	if err := l.TryExclusive(); err != nil {
		t.Fatalf("TryExclusive after holder exited: %v", err)
	}
}

// TestLockSurvivesExec hands a pod-dir lock to a child the way rkt hands
// it to stage1, and checks that the lock lives exactly as long as the child.
func TestLockSurvivesExec(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Exclusive(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Inheritable(); err != nil {
		t.Fatal(err)
	}
	child := startHelper(t, "adopt", dir, func(cmd *exec.Cmd) {
		cmd.ExtraFiles = []*os.File{l.File()} // fd 3 in the child
		cmd.Env = append(cmd.Env, "RKT_LOCK_FD=3")
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := child.line(t); got != "locked" {
		t.Fatalf("child said %q, want locked", got)
	}
	assertProbe(t, dir, true)
	child.stop(t)
	assertProbe(t, dir, false)
}

// TestInheritableKeepsFdNumber checks FD_CLOEXEC itself: without
// ExtraFiles, only an Inheritable descriptor reaches the child, under the
// same number (what rkt-prepare relies on when it execs rkt-run-prepared).
func TestInheritableKeepsFdNumber(t *testing.T) {
	for _, inherit := range []bool{true, false} {
		t.Run(fmt.Sprintf("inheritable=%v", inherit), func(t *testing.T) {
			dir := t.TempDir()
			l, err := OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Exclusive(); err != nil {
				t.Fatal(err)
			}
			fd := l.Fd()
			if inherit {
				if fd, err = l.Inheritable(); err != nil {
					t.Fatal(err)
				}
				flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil || flags&unix.FD_CLOEXEC != 0 {
					t.Fatalf("F_GETFD = %#x, %v; want FD_CLOEXEC clear", flags, err)
				}
			}
			child := startHelper(t, "adopt", dir, func(cmd *exec.Cmd) {
				cmd.Env = append(cmd.Env, "RKT_LOCK_FD="+strconv.Itoa(fd))
			})
			l.Close()
			got := child.line(t)
			if inherit && got != "locked" {
				t.Fatalf("child said %q, want locked", got)
			}
			if !inherit && !strings.HasPrefix(got, "nofd") {
				t.Fatalf("child said %q, want nofd", got)
			}
			assertProbe(t, dir, inherit)
			child.stop(t)
			assertProbe(t, dir, false)
		})
	}
}

func assertProbe(t *testing.T, path string, want bool) {
	t.Helper()
	got, err := Probe(path)
	if err != nil {
		t.Fatalf("Probe(%s): %v", path, err)
	}
	if got != want {
		t.Fatalf("Probe(%s) = %v, want %v", path, got, want)
	}
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	h := startHelper(t, "hold", file, nil)
	if got := h.line(t); got != "locked" {
		t.Fatalf("helper said %q", got)
	}
	assertProbe(t, file, true)
	assertProbe(t, dir, false)
	// A shared holder is not "locked" for Probe.
	l, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Shared(); err != nil {
		t.Fatal(err)
	}
	assertProbe(t, dir, false)
	h.stop(t)
	assertProbe(t, file, false)
	if _, err := Probe(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Probe(missing) = %v, want ErrNotExist", err)
	}
}

func openN(t *testing.T, path string, n int) []*Lock {
	t.Helper()
	var ls []*Lock
	for range n {
		l, err := OpenFile(path, 0o660)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls = append(ls, l)
	}
	return ls
}

func TestSharedLocksCoexist(t *testing.T) {
	ls := openN(t, filepath.Join(t.TempDir(), "lock"), 3)
	if err := ls[0].Shared(); err != nil {
		t.Fatal(err)
	}
	if err := ls[1].TryShared(); err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	if err := ls[2].TryExclusive(); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryExclusive under shared locks = %v, want ErrLocked", err)
	}
	ls[0].Unlock()
	ls[1].Unlock()
	if err := ls[2].TryExclusive(); err != nil {
		t.Fatalf("TryExclusive after unlocks: %v", err)
	}
}

func TestExclusiveBlocksShared(t *testing.T) {
	ls := openN(t, filepath.Join(t.TempDir(), "lock"), 2)
	if err := ls[0].Exclusive(); err != nil {
		t.Fatal(err)
	}
	if err := ls[1].TryShared(); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryShared under exclusive = %v, want ErrLocked", err)
	}
	done := make(chan error)
	go func() { done <- ls[1].Shared() }()
	select {
	case err := <-done:
		t.Fatalf("Shared returned %v while an exclusive lock was held", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := ls[0].Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shared still blocked after the exclusive lock was released")
	}
}

func TestFromFD(t *testing.T) {
	if _, err := FromFD(-1, "x"); !errors.Is(err, unix.EBADF) {
		t.Fatalf("FromFD(-1) = %v, want EBADF", err)
	}
	// Find a closed descriptor number.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	closed := int(f.Fd())
	f.Close()
	if _, err := FromFD(closed, "x"); !errors.Is(err, unix.EBADF) {
		t.Fatalf("FromFD(closed) = %v, want EBADF", err)
	}
}

func TestCloseReleasesAndFd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	ls := openN(t, path, 2)
	if err := ls[0].Exclusive(); err != nil {
		t.Fatal(err)
	}
	if ls[0].Fd() < 0 || ls[0].Path() != path {
		t.Fatalf("Fd() = %d, Path() = %q", ls[0].Fd(), ls[0].Path())
	}
	if err := ls[0].Close(); err != nil {
		t.Fatal(err)
	}
	if ls[0].Fd() != -1 {
		t.Fatalf("Fd() after Close = %d, want -1", ls[0].Fd())
	}
	if err := ls[0].Exclusive(); err == nil {
		t.Fatal("Exclusive on a closed Lock succeeded")
	}
	if err := ls[1].TryExclusive(); err != nil {
		t.Fatalf("TryExclusive after Close: %v", err)
	}
}

func TestOpenDirErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(file); !errors.Is(err, unix.ENOTDIR) {
		t.Fatalf("OpenDir(file) = %v, want ENOTDIR", err)
	}
	if _, err := OpenDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenDir(missing) = %v, want ErrNotExist", err)
	}
}
