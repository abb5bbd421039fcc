// Package caps holds the Linux capability sets of an app (SEC-CAP-01,
// SEC-CAP-02); package isolators works them out from the app's appc
// capability isolators.
//
// The isolators only describe the capability bounding set, as in rkt: a root
// app ends up with exactly that set in its permitted and effective sets after
// execve, while a non-root app only gets the bounding set and no effective,
// permitted or ambient capabilities (ambient capabilities were never
// implemented by rkt; a non-root app needs file capabilities to use them).
package caps

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"

	"github.com/rkt/rkt/stage1/native/security/caps/capset"
)

// DefaultRetained is the appc default capability bounding set given to apps
// that have no capability isolator (SEC-CAP-01).
var DefaultRetained = []string{
	"CAP_AUDIT_WRITE",
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_KILL",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_NET_BIND_SERVICE",
	"CAP_SETUID",
	"CAP_SETGID",
	"CAP_SETPCAP",
	"CAP_SETFCAP",
	"CAP_SYS_CHROOT",
}

// Set holds the capability sets an app runs with after execve. The slices
// are sorted and free of duplicates.
type Set struct {
	// Bounding is the capability bounding set.
	Bounding []capability.Cap
	// Effective is the effective set the app ends up with after execve.
	Effective []capability.Cap
	// Permitted is the permitted set the app ends up with after execve.
	Permitted []capability.Cap
	// Inheritable is the inheritable set; kept empty like systemd did for rkt
	// so that only file capabilities can grant a non-root app anything.
	Inheritable []capability.Cap
	// Ambient is the ambient set; always empty (rkt never set ambient caps).
	Ambient []capability.Cap
}

// Bounded returns the sets of a root app whose bounding set is
// bounding: it gets the same effective and permitted sets.
func Bounded(bounding []capability.Cap) Set {
	bounding = normalize(slices.Clone(bounding))
	return Set{
		Bounding:  bounding,
		Effective: slices.Clone(bounding),
		Permitted: slices.Clone(bounding),
	}
}

// ForUID returns the sets for an app running as uid. For uid 0 the set is
// returned unchanged; for any other uid only the bounding set is kept,
// matching rkt: capability isolators restrict the bounding set and a non-root
// process gets no capabilities across execve without file capabilities.
func (s Set) ForUID(uid int) Set {
	if uid == 0 {
		return s
	}
	return Set{Bounding: slices.Clone(s.Bounding)}
}

// Names returns the "CAP_*" names of caps, in order.
func Names(caps []capability.Cap) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
}

// Parse converts a capability name ("CAP_NET_RAW", case-insensitive, the
// "CAP_" prefix optional) to a capability.
func Parse(name string) (capability.Cap, error) {
	n := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "cap_")
	for _, c := range capability.ListKnown() {
		if c.String() == n {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// Masks returns s as the bit masks capset.Apply installs.
func (s Set) Masks() capset.Masks {
	mask := func(cs []capability.Cap) uint64 {
		var m uint64
		for _, c := range cs {
			m |= 1 << uint(c)
		}
		return m
	}
	return capset.Masks{
		Bounding: mask(s.Bounding), Effective: mask(s.Effective), Permitted: mask(s.Permitted),
		Inheritable: mask(s.Inheritable), Ambient: mask(s.Ambient),
	}
}

// Supported lists every capability supported by the running kernel: the
// bounding set of --insecure-options=capabilities.
func Supported() ([]capability.Cap, error) {
	all, err := capability.ListSupported()
	if err != nil {
		return nil, fmt.Errorf("listing supported capabilities: %w", err)
	}
	return all, nil
}

func normalize(c []capability.Cap) []capability.Cap {
	slices.Sort(c)
	return slices.Compact(c)
}

// NoNewPrivs reports whether no_new_privs must be set for an app running as
// uid (SEC-NNP-01): when an os/linux/no-new-privileges isolator asks for
// it (requested), and always for non-root apps with an active seccomp
// filter, since they lack CAP_SYS_ADMIN to load it otherwise.
func NoNewPrivs(requested bool, uid int, seccompActive bool) bool {
	return requested || uid != 0 && seccompActive
}
