// Package caps computes and applies the Linux capability sets of an app
// from its appc capability isolators (SEC-CAP-01, SEC-CAP-02).
//
// The isolators only describe the capability bounding set, as in rkt: a root
// app ends up with exactly that set in its permitted and effective sets after
// execve, while a non-root app only gets the bounding set and no effective,
// permitted or ambient capabilities (ambient capabilities were never
// implemented by rkt; a non-root app needs file capabilities to use them).
package caps

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
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

// Compute returns the capability sets of a root app from its isolators.
// A retain-set isolator gives exactly its capabilities, a remove-set isolator
// gives the default set minus its capabilities, both together are an error.
// disableRestriction (--insecure-options=capabilities) gives every
// capability known to the running kernel. Use Set.ForUID for non-root apps.
func Compute(isos types.Isolators, disableRestriction bool) (Set, error) {
	var retain, remove []types.LinuxCapability
	var haveRetain, haveRemove bool
	for i := range isos {
		iso := &isos[i]
		switch iso.Name {
		case types.LinuxCapabilitiesRetainSetName:
			s, err := capSet(iso)
			if err != nil {
				return Set{}, err
			}
			haveRetain = true
			retain = append(retain, s...)
		case types.LinuxCapabilitiesRevokeSetName:
			s, err := capSet(iso)
			if err != nil {
				return Set{}, err
			}
			haveRemove = true
			remove = append(remove, s...)
		}
	}
	if haveRetain && haveRemove {
		return Set{}, fmt.Errorf("cannot have both %s and %s isolators", types.LinuxCapabilitiesRetainSetName, types.LinuxCapabilitiesRevokeSetName)
	}

	var bounding []capability.Cap
	switch {
	case disableRestriction:
		all, err := allCaps()
		if err != nil {
			return Set{}, err
		}
		bounding = all
	case haveRetain:
		for _, n := range retain {
			c, err := Parse(string(n))
			if err != nil {
				return Set{}, fmt.Errorf("%s: %w", types.LinuxCapabilitiesRetainSetName, err)
			}
			bounding = append(bounding, c)
		}
	default:
		removed := map[capability.Cap]bool{}
		for _, n := range remove {
			c, err := Parse(string(n))
			if err != nil {
				return Set{}, fmt.Errorf("%s: %w", types.LinuxCapabilitiesRevokeSetName, err)
			}
			removed[c] = true
		}
		for _, n := range DefaultRetained {
			c, err := Parse(n)
			if err != nil {
				return Set{}, err
			}
			if !removed[c] {
				bounding = append(bounding, c)
			}
		}
	}
	bounding = normalize(bounding)
	return Set{
		Bounding:  bounding,
		Effective: slices.Clone(bounding),
		Permitted: slices.Clone(bounding),
	}, nil
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

// Apply installs s on the calling thread, just before execve. It may run
// before or after the switch to the app's credentials (after only if KeepCaps
// was called before setuid). The caller must hold runtime.LockOSThread and
// exec from the same thread, since capability state is per-thread.
//
// The bounding set is shrunk to s.Bounding and the inheritable and ambient
// sets are set. If the thread's effective uid is 0 the effective and
// permitted sets are left untouched: execve recomputes them from the bounding
// set for root, and keeping CAP_SYS_ADMIN until then lets the seccomp filter
// be loaded without no_new_privs, as systemd did for rkt. For other uids the
// effective and permitted sets are reduced to s.Effective and s.Permitted
// (plus s.Ambient, which the kernel requires there).
func Apply(s Set) error {
	c, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	if err := c.Load(); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	// After a setuid with keepcaps the effective set is empty: raise it to
	// the permitted set so that CAP_SETPCAP works for the bounding drop.
	if !c.Get(capability.PERMITTED, capability.CAP_SETPCAP) {
		return errors.New("applying capabilities: CAP_SETPCAP is not permitted (was KeepCaps called before setuid?)")
	}
	for _, x := range allKnown() {
		if c.Get(capability.PERMITTED, x) {
			c.Set(capability.EFFECTIVE, x)
		}
	}
	if err := c.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("raising effective capabilities: %w", err)
	}

	c.Clear(capability.BOUNDS)
	c.Set(capability.BOUNDING, s.Bounding...)
	if err := c.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("dropping bounding capabilities: %w", err)
	}

	c.Unset(capability.INHERITABLE, allKnown()...)
	c.Set(capability.INHERITABLE, s.Inheritable...)
	c.Set(capability.INHERITABLE, s.Ambient...)
	if unix.Geteuid() != 0 {
		c.Unset(capability.EFFECTIVE|capability.PERMITTED, allKnown()...)
		c.Set(capability.EFFECTIVE, s.Effective...)
		c.Set(capability.PERMITTED, s.Permitted...)
		c.Set(capability.EFFECTIVE|capability.PERMITTED, s.Ambient...)
	}
	if err := c.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	c.Clear(capability.AMBS)
	c.Set(capability.AMBIENT, s.Ambient...)
	if err := c.Apply(capability.AMBS); err != nil {
		return fmt.Errorf("setting ambient capabilities: %w", err)
	}

	// capability.Apply silently skips the bounding drop without CAP_SETPCAP;
	// verify instead of trusting it, a wider bounding set is a security bug.
	if err := c.Load(); err != nil {
		return fmt.Errorf("re-reading capabilities: %w", err)
	}
	want := map[capability.Cap]bool{}
	for _, x := range s.Bounding {
		want[x] = true
	}
	for _, x := range allKnown() {
		if c.Get(capability.BOUNDING, x) && !want[x] {
			return fmt.Errorf("capability %s still in the bounding set after applying", Names([]capability.Cap{x})[0])
		}
	}
	return nil
}

func capSet(iso *types.Isolator) ([]types.LinuxCapability, error) {
	v, ok := iso.Value().(types.LinuxCapabilitiesSet)
	if !ok || v == nil {
		return nil, fmt.Errorf("isolator %s: unexpected value type %T", iso.Name, iso.Value())
	}
	return v.Set(), nil
}

// allCaps lists every capability supported by the running kernel.
func allCaps() ([]capability.Cap, error) {
	all, err := capability.ListSupported()
	if err != nil {
		return nil, fmt.Errorf("listing supported capabilities: %w", err)
	}
	return all, nil
}

// allKnown lists the capabilities up to the kernel's last one, falling back
// to the library's list; used to clear sets completely.
func allKnown() []capability.Cap {
	if all, err := capability.ListSupported(); err == nil {
		return all
	}
	return capability.ListKnown()
}

func normalize(c []capability.Cap) []capability.Cap {
	slices.Sort(c)
	return slices.Compact(c)
}
