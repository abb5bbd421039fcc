package runplan

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Run carries out the plan as the assembly would, from Go: the path of a
// `rkt run-prepared` typed by a user, and of every pod on other
// architectures. beforeExec runs just before the exec step (the mounts
// made), for what the plan cannot do. Run returns only on failure, with
// the failed step's error.
func (p *Plan) Run(beforeExec func() error) error {
	// A mount namespace belongs to the OS thread that made it until exec
	// hands it to the stage1.
	runtime.LockOSThread()
	for i := range p.Steps {
		s := &p.Steps[i]
		var err error
		switch s.Op {
		case OpRename:
			err = unix.Rename(s.Strs[0], s.Strs[1])
		case OpUnshare:
			err = unix.Unshare(int(s.Flags))
		case OpTimerSlack:
			err = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(s.Flags), 0, 0, 0)
		case OpMount:
			err = mount(s, s.Strs[3])
			if errors.Is(err, unix.EINVAL) && s.Strs[4] != "" {
				err = mount(s, s.Strs[4])
			}
		case OpChdir:
			err = unix.Chdir(s.Strs[0])
		case OpExec:
			if beforeExec != nil {
				if err := beforeExec(); err != nil {
					return fmt.Errorf("pod %s: %w", p.Pod, err)
				}
			}
			argv := append([]string{}, s.Argv...)
			err = syscall.Exec(s.Strs[0], argv, Environ(os.Environ(), s.Strs[1:]...))
		}
		if err != nil {
			return p.stepError(i, err)
		}
	}
	return fmt.Errorf("pod %s: start plan without an exec", p.Pod)
}

// Environ returns env with entries (NAME=VALUE; empty ones are none) in
// place of any NAME=: the environment an exec step passes on.
func Environ(env []string, entries ...string) []string {
	var names, add []string
	for _, e := range entries {
		if e != "" {
			name, _, _ := strings.Cut(e, "=")
			names = append(names, name+"=")
			add = append(add, e)
		}
	}
	out := make([]string, 0, len(env)+len(add))
outer:
	for _, e := range env {
		for _, n := range names {
			if strings.HasPrefix(e, n) {
				continue outer
			}
		}
		out = append(out, e)
	}
	return append(out, add...)
}

// mount makes a mount step's call, with data.
func mount(s *Step, data string) error {
	// unix.Mount turns "" into a pointer to an empty string; the plan's
	// empty strings are nil pointers, as the assembly passes them.
	ptr := func(s string) *byte {
		if s == "" {
			return nil
		}
		b, _ := unix.BytePtrFromString(s)
		return b
	}
	src, target, fstype, d := ptr(s.Strs[0]), ptr(s.Strs[1]), ptr(s.Strs[2]), ptr(data)
	_, _, e := unix.Syscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(target)),
		uintptr(unsafe.Pointer(fstype)), uintptr(s.Flags), uintptr(unsafe.Pointer(d)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// stepError is the error of step i, as both paths report it.
func (p *Plan) stepError(i int, err error) error {
	return fmt.Errorf("pod %s: %s: %w", p.Pod, p.Steps[i].Describe(), err)
}
