package podproc

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// NotifySignals catches the signals a stage1 forwards to its pod's
// processes: SIGTERM, SIGINT, SIGHUP and SIGQUIT. A signal the stage1
// was started ignoring (nohup) stays ignored, and the apps inherit that.
func NotifySignals() chan os.Signal {
	sigs := make(chan os.Signal, 8)
	for _, s := range []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT} {
		if !signal.Ignored(s) {
			signal.Notify(sigs, s)
		}
	}
	return sigs
}

// OwnsTerminal reports whether stdin is a terminal whose foreground
// process group is ours: then the apps stay in our process group, to read
// the terminal and get its signals directly.
func OwnsTerminal() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// NotifyEarly runs notify (NotifySignals, or another set of
// signal.Notify calls) on a goroutine and returns a function that
// returns its channel, waiting for it if need be. os/signal's first
// Notify starts, and waits for, an OS thread of the runtime's own (the
// one that keeps the signal mask): ~0.35 ms here, which then overlaps
// with the caller's work instead of delaying the pod's start. Until the
// channel exists the signals keep their default actions, as before any
// Notify; once it does, they wait in it.
func NotifyEarly(notify func() chan os.Signal) func() chan os.Signal {
	ch := make(chan chan os.Signal, 1)
	go func() { ch <- notify() }()
	var sigs chan os.Signal
	return func() chan os.Signal {
		if sigs == nil {
			sigs = <-ch
		}
		return sigs
	}
}

// StopLate gives the signals of sigs their default actions back, as
// signal.Stop does, without waiting for it: Stop then waits until the
// runtime's signal loop is idle, ~0.15 ms at the end of every pod here,
// which a process on its way out after its pod exited need not wait for.
// Signals that arrive in between wait in sigs, unread.
func StopLate(sigs chan os.Signal) {
	go signal.Stop(sigs)
}
