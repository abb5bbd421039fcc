// Package capset installs capability sets on the calling thread with raw
// system calls. It depends on nothing but golang.org/x/sys/unix, so that
// the app-exec helper, which starts once per app, stays small; package
// caps works the sets out.
package capset

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Masks are capability sets as bit masks (bit N is capability N).
type Masks struct {
	Bounding    uint64 `json:"bounding"`
	Effective   uint64 `json:"effective"`
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Ambient     uint64 `json:"ambient"`
}

// KeepCaps sets PR_SET_KEEPCAPS on the calling thread so that a later
// setuid from root to the app's uid keeps the permitted set; Apply needs
// CAP_SETPCAP to shrink the bounding set after the uid switch. The flag is
// per-thread and cleared by execve: call it on the locked OS thread that
// switches credentials and execs the app.
func KeepCaps() error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting PR_SET_KEEPCAPS: %w", err)
	}
	return nil
}

// LastCap is the highest capability the running kernel knows.
func LastCap() (int, error) {
	n := 0
	for ; n < 64; n++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err != nil {
			break
		}
	}
	if n == 0 {
		return 0, errors.New("reading the bounding set: no capability known")
	}
	return n - 1, nil
}

// Apply installs m on the calling thread, just before execve. It may run
// before or after the switch to the app's credentials (after only if
// KeepCaps was called before setuid). The caller must hold
// runtime.LockOSThread and exec from the same thread, since capability
// state is per-thread.
//
// The bounding set is shrunk to m.Bounding and the inheritable and ambient
// sets are set. If the thread's effective uid is 0 the effective and
// permitted sets are left untouched: execve recomputes them from the
// bounding set for root, and keeping CAP_SYS_ADMIN until then lets the
// seccomp filter be loaded without no_new_privs, as systemd did for rkt.
// For other uids the effective and permitted sets are reduced to
// m.Effective and m.Permitted (plus m.Ambient, which the kernel requires
// there).
func Apply(m Masks) error {
	last, err := LastCap()
	if err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	perm := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	inh := uint64(data[0].Inheritable) | uint64(data[1].Inheritable)<<32
	set := func(eff, perm, inh uint64) error {
		for i := range data {
			data[i].Effective = uint32(eff >> (32 * i))
			data[i].Permitted = uint32(perm >> (32 * i))
			data[i].Inheritable = uint32(inh >> (32 * i))
		}
		return unix.Capset(&hdr, &data[0])
	}
	if perm&(1<<unix.CAP_SETPCAP) == 0 {
		return errors.New("applying capabilities: CAP_SETPCAP is not permitted (was KeepCaps called before setuid?)")
	}
	// After a setuid with keepcaps the effective set is empty: raise it
	// to the permitted set so that CAP_SETPCAP works for the bounding drop.
	if err := set(perm, perm, inh); err != nil {
		return fmt.Errorf("raising effective capabilities: %w", err)
	}
	for c := 0; c <= last; c++ {
		if m.Bounding&(1<<c) == 0 {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
				return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
			}
		}
	}
	eff := perm
	if unix.Geteuid() != 0 {
		eff, perm = m.Effective|m.Ambient, m.Permitted|m.Ambient
	}
	if err := set(eff, perm, m.Inheritable|m.Ambient); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	for c := 0; c <= last; c++ {
		if m.Ambient&(1<<c) != 0 {
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
				return fmt.Errorf("raising ambient capability %d: %w", c, err)
			}
		}
	}
	// A wider bounding set than asked is a security bug: check, do not trust.
	for c := 0; c <= last; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("reading the bounding set: %w", err)
		}
		if in == 1 && m.Bounding&(1<<c) == 0 {
			return fmt.Errorf("capability %d still in the bounding set after applying", c)
		}
	}
	return nil
}
