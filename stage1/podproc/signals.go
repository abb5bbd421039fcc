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
