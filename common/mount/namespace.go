package mount

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// InPrivateNamespace runs fn on an OS thread of its own, in a new mount
// namespace whose mounts neither propagate to the host nor receive the
// host's. Whatever fn mounts disappears when it returns, even if the
// process is killed meanwhile: nothing can leak onto the host.
//
// fn must do its file system work on the goroutine it is called on.
// Other goroutines run on other threads, which stay in the host's
// namespace and do not see fn's mounts. (For the same reason
// /proc/self/mountinfo, which follows the thread group leader, does not
// show them; /proc/thread-self/mountinfo does.)
func InPrivateNamespace(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread cannot exit, so Go would keep it, wedged in
			// the namespace, for the rest of the process. While this
			// goroutine holds it, the worker must get another thread.
			inner := make(chan error, 1)
			go unshared(fn, inner)
			errc <- <-inner
			runtime.UnlockOSThread()
			return
		}
		unshared(fn, errc)
	}()
	return <-errc
}

// unshared runs fn in a new private mount namespace on a locked thread
// that exits afterwards.
func unshared(fn func() error, errc chan<- error) {
	// Never unlocked: once unshared, the thread differs from the others,
	// so it must exit with this goroutine rather than go back to the
	// scheduler's pool.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		errc <- fmt.Errorf("new mount namespace: %w", err)
		return
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		errc <- fmt.Errorf("making mounts private: %w", err)
		return
	}
	errc <- fn()
}
