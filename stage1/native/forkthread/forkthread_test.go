package forkthread_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/forkthread"
)

func TestDoRunsOffTheMainThread(t *testing.T) {
	// Wherever the runtime puts Start's goroutine (the main thread
	// too, now and then: it is then held and another one taken), Do
	// runs on one thread, never the main one.
	for range 100 {
		th := forkthread.Start(nil)
		var tids []int
		for range 3 {
			if err := th.Do(func() error {
				tids = append(tids, unix.Gettid())
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		th.End()
		if tids[0] == unix.Getpid() {
			t.Fatalf("Do ran on the main thread")
		}
		if tids[1] != tids[0] || tids[2] != tids[0] {
			t.Fatalf("Do ran on threads %v, want one", tids)
		}
	}
}

func TestSetupError(t *testing.T) {
	boom := errors.New("boom")
	th := forkthread.Start(func() error { return boom })
	defer th.End()
	ran := false
	if err := th.Do(func() error { ran = true; return nil }); !errors.Is(err, boom) {
		t.Errorf("Do = %v, want the setup's error", err)
	}
	if ran {
		t.Errorf("Do ran its function after a failed setup")
	}
	want := errors.New("f")
	th2 := forkthread.Start(nil)
	defer th2.End()
	if err := th2.Do(func() error { return want }); err != want {
		t.Errorf("Do = %v, want f's error", err)
	}
}

func netns(t *testing.T, path string) string {
	t.Helper()
	l, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A network namespace made in the setup is the forked child's, and no
// thread of the caller is left in it once the Thread ended.
func TestNetnsReachesOnlyTheChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare(CLONE_NEWNET)")
	}
	host := netns(t, "/proc/self/ns/net")
	th := forkthread.Start(func() error { return unix.Unshare(unix.CLONE_NEWNET) })
	var pid int
	err := th.Last(func() (err error) {
		pid, err = syscall.ForkExec("/bin/sleep", []string{"sleep", "100"}, &syscall.ProcAttr{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	}()
	if child := netns(t, filepath.Join("/proc", strconv.Itoa(pid), "ns/net")); child == host {
		t.Errorf("the child is in the host's network namespace %s", host)
	}
	// The thread ends after Last returns: wait for it, then look at
	// every thread left.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var stray []string
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, p := range tasks {
			if l, err := os.Readlink(p); err == nil && l != host {
				stray = append(stray, p)
			}
		}
		if len(stray) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads still in the new network namespace: %v", stray)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
