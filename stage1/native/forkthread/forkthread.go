// Package forkthread gives a fork an OS thread of its own, on which what
// only a thread can change for its children (its v1 cgroups, its network
// namespace) is changed without reaching any other goroutine, and which
// the Go runtime then ends instead of reusing.
//
// A goroutine that returns while locked to its thread ends that thread
// (runtime.LockOSThread): the thread, with whatever was changed on it,
// never runs other goroutines. The main thread is the exception (the
// runtime keeps it), so a Thread never is the main thread.
package forkthread

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// A Thread runs functions on one OS thread of its own until End.
type Thread struct {
	work  chan func(setupErr error)
	ended chan struct{}
	once  sync.Once
}

// Start starts a thread and runs setup on it at once (nil: nothing),
// alongside the caller: its cost is off the caller's path. A failed
// setup is returned by each Do.
func Start(setup func() error) *Thread {
	t := &Thread{work: make(chan func(error)), ended: make(chan struct{})}
	go t.run(setup)
	return t
}

func (t *Thread) run(setup func() error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// Hold the main thread while another goroutine, which cannot
		// land on it now, becomes the Thread; then give it back.
		go t.run(setup)
		<-t.ended
		runtime.UnlockOSThread()
		return
	}
	var err error
	if setup != nil {
		err = setup()
	}
	for f := range t.work {
		f(err)
	}
	close(t.ended)
	// Returning locked ends the thread.
}

// Do runs f on the thread and returns its error, or the setup's error
// (without running f) if the setup failed. Do after End panics.
func (t *Thread) Do(f func() error) error {
	return t.do(f, false)
}

// Last is Do that ends the thread (End) as soon as f returned: the
// thread is on its way out, with whatever it was changed into, before
// the caller goes on.
func (t *Thread) Last(f func() error) error {
	return t.do(f, true)
}

func (t *Thread) do(f func() error, last bool) error {
	errc := make(chan error, 1)
	t.work <- func(setupErr error) {
		if setupErr != nil {
			errc <- setupErr
			return
		}
		errc <- f()
	}
	if last {
		// The thread took f: it sees the end of the work right after.
		t.End()
	}
	return <-errc
}

// End ends the thread once the function it runs, if any, returned. It
// may be called more than once.
func (t *Thread) End() {
	t.once.Do(func() { close(t.work) })
}
