// Package isolators works out what an app's appc isolators ask of the
// native stage1: its capability sets, seccomp set, no_new_privs, cgroup
// limits and oom_score_adj. It decodes and checks the values of the
// isolator kinds the stage1 applies as the appc schema does, without
// linking the schema (its packages cost every pod start ~0.2 ms of
// initialization in the stage1's run); stage0 checked the whole pod
// manifest with the schema already. Only the stage1's run links it: it
// hands the results to the pod supervisor (supervisor.AppSecurity).
package isolators

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"

	"github.com/rkt/rkt/common/quantity"
	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/security/caps"
)

// The names of the isolators the native stage1 applies (the appc
// spec's).
const (
	CapsRetainSetName    = "os/linux/capabilities-retain-set"
	CapsRemoveSetName    = "os/linux/capabilities-remove-set"
	SeccompRetainSetName = "os/linux/seccomp-retain-set"
	SeccompRemoveSetName = "os/linux/seccomp-remove-set"
	NoNewPrivilegesName  = "os/linux/no-new-privileges"
	OOMScoreAdjName      = "os/linux/oom-score-adj"
	CPUSharesName        = "os/linux/cpu-shares"
	MemoryName           = "resource/memory"
	CPUName              = "resource/cpu"
)

// cpuPeriod is the CFS period (µs) used with resource/cpu limits, as systemd
// did for rkt's CPUQuota=.
const cpuPeriod = 100000

// Isolator is one isolator of an app.
type Isolator struct {
	Name string
	// Raw is the value as the manifest gives it.
	Raw json.RawMessage
	// Value is the decoded value of a kind the stage1 applies: a
	// CapsSet, a SeccompSet, a NoNewPrivileges, an OOMScoreAdj, a
	// CPUShares or a *Resource; nil for other kinds.
	Value any
}

// Isolators are an app's isolators, in the manifest's order.
type Isolators []Isolator

// CapsSet is the value of a capabilities retain or remove set.
type CapsSet []string

// SeccompSet is the value of a seccomp retain or remove set: syscalls
// and groups, and the errno blocked syscalls fail with ("" for the
// default).
type SeccompSet struct {
	Set   []string `json:"set"`
	Errno string   `json:"errno"`
}

// NoNewPrivileges is the value of os/linux/no-new-privileges.
type NoNewPrivileges bool

// OOMScoreAdj is the value of os/linux/oom-score-adj, -1000 to 1000.
type OOMScoreAdj int

// CPUShares is the value of os/linux/cpu-shares, 2 to 262144.
type CPUShares int

// Resource is the value of resource/memory and resource/cpu.
type Resource struct {
	Default bool               `json:"default"`
	Request *quantity.Quantity `json:"request"`
	Limit   *quantity.Quantity `json:"limit"`
}

// Decode decodes the isolators read by package manifest, the values of
// the kinds the stage1 applies checked as the appc schema checks them.
func Decode(raw []manifest.Isolator) (Isolators, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	isos := make(Isolators, 0, len(raw))
	for _, r := range raw {
		// As the schema's decoder (which dereferences a missing value).
		if v := strings.TrimSpace(string(r.Value)); v == "" || v == "null" {
			return nil, fmt.Errorf("isolator %q has no value", r.Name)
		}
		v, err := decodeValue(r.Name, r.Value)
		if err != nil {
			return nil, fmt.Errorf("isolators: %s: %w", r.Name, err)
		}
		isos = append(isos, Isolator{Name: r.Name, Raw: r.Value, Value: v})
	}
	return isos, nil
}

// decodeValue decodes and checks the value of an isolator of a kind
// the stage1 applies; nil for other kinds.
func decodeValue(name string, raw json.RawMessage) (any, error) {
	switch name {
	case CapsRetainSetName, CapsRemoveSetName:
		var v struct {
			Set []string `json:"set"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		if len(v.Set) == 0 {
			return nil, errors.New("set must be non-empty")
		}
		return CapsSet(v.Set), nil
	case SeccompRetainSetName, SeccompRemoveSetName:
		var v SeccompSet
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		if len(v.Set) == 0 {
			return nil, errors.New("set must be non-empty")
		}
		for i, c := range v.Errno {
			if i == 0 && c != 'E' {
				return nil, fmt.Errorf("errno must start with an 'E' character, got %s", v.Errno)
			}
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil, fmt.Errorf("errno can only contain upper case or numeric characters, got %s", v.Errno)
			}
		}
		return v, nil
	case NoNewPrivilegesName:
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return NoNewPrivileges(v), nil
	case OOMScoreAdjName:
		v, err := intBetween(name, raw, -1000, 1000)
		return OOMScoreAdj(v), err
	case CPUSharesName:
		v, err := intBetween(name, raw, 2, 262144)
		return CPUShares(v), err
	case MemoryName, CPUName:
		var v Resource
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		if v.Default {
			return nil, errors.New("default must be false")
		}
		return &v, nil
	}
	return nil, nil
}

// intBetween decodes the integer value of the isolator name, which must
// be between lo and hi.
func intBetween(name string, raw json.RawMessage, lo, hi int) (int, error) {
	var v int
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%s must be between %d and %d, got %d", name, lo, hi, v)
	}
	return v, nil
}

// Caps returns the capability sets of a root app from its isolators.
// A retain-set isolator gives exactly its capabilities, a remove-set isolator
// gives the default set minus its capabilities, both together are an error.
// disableRestriction (--insecure-options=capabilities) gives every
// capability known to the running kernel. Use Set.ForUID for non-root apps.
func Caps(isos Isolators, disableRestriction bool) (caps.Set, error) {
	var retain, remove []string
	var haveRetain, haveRemove bool
	for i := range isos {
		iso := &isos[i]
		if iso.Name != CapsRetainSetName && iso.Name != CapsRemoveSetName {
			continue
		}
		s, err := capSet(iso)
		if err != nil {
			return caps.Set{}, err
		}
		if iso.Name == CapsRetainSetName {
			haveRetain = true
			retain = append(retain, s...)
		} else {
			haveRemove = true
			remove = append(remove, s...)
		}
	}
	if haveRetain && haveRemove {
		return caps.Set{}, fmt.Errorf("cannot have both %s and %s isolators", CapsRetainSetName, CapsRemoveSetName)
	}

	var bounding []capability.Cap
	switch {
	case disableRestriction:
		all, err := caps.Supported()
		if err != nil {
			return caps.Set{}, err
		}
		bounding = all
	case haveRetain:
		for _, n := range retain {
			c, err := caps.Parse(n)
			if err != nil {
				return caps.Set{}, fmt.Errorf("%s: %w", CapsRetainSetName, err)
			}
			bounding = append(bounding, c)
		}
	default:
		removed := map[capability.Cap]bool{}
		for _, n := range remove {
			c, err := caps.Parse(n)
			if err != nil {
				return caps.Set{}, fmt.Errorf("%s: %w", CapsRemoveSetName, err)
			}
			removed[c] = true
		}
		for _, n := range caps.DefaultRetained {
			c, err := caps.Parse(n)
			if err != nil {
				return caps.Set{}, err
			}
			if !removed[c] {
				bounding = append(bounding, c)
			}
		}
	}
	return caps.Bounded(bounding), nil
}

func capSet(iso *Isolator) ([]string, error) {
	v, ok := iso.Value.(CapsSet)
	if !ok {
		return nil, fmt.Errorf("isolator %s: unexpected value type %T", iso.Name, iso.Value)
	}
	return v, nil
}

// NoNewPrivs reports whether an os/linux/no-new-privileges isolator is
// true (see caps.NoNewPrivs for the rest of the rule).
func NoNewPrivs(isos Isolators) bool {
	for i := range isos {
		if v, ok := isos[i].Value.(NoNewPrivileges); ok && isos[i].Name == NoNewPrivilegesName && bool(v) {
			return true
		}
	}
	return false
}

// positiveLimit returns the limit q of the resource isolator name in the
// unit get gives it, which must be positive.
func positiveLimit(name string, q *quantity.Quantity, get func(*quantity.Quantity) (int64, error)) (int64, error) {
	n, err := get(q)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("%s: limit must be positive, got %s", name, q)
	}
	return n, nil
}

// Resources converts the isolators to cgroup limits and the oom_score_adj
// (nil when none is set). The last isolator of a kind wins, as with the
// appc schema's Isolators.GetByName.
func Resources(isos Isolators) (*cgroups.Resources, *int, error) {
	res := &cgroups.Resources{}
	var oom *int
	for _, iso := range isos {
		switch v := iso.Value.(type) {
		case *Resource:
			if v.Limit == nil {
				continue
			}
			switch iso.Name {
			case MemoryName:
				n, err := positiveLimit(iso.Name, v.Limit, (*quantity.Quantity).Value)
				if err != nil {
					return nil, nil, err
				}
				res.Memory = n
			case CPUName:
				milli, err := positiveLimit(iso.Name, v.Limit, (*quantity.Quantity).MilliValue)
				if err != nil {
					return nil, nil, err
				}
				if milli > math.MaxInt64/cpuPeriod {
					return nil, nil, fmt.Errorf("%s: limit %s is too large", iso.Name, v.Limit)
				}
				// 1000 millicores = one full period per period.
				res.CpuQuota = milli * cpuPeriod / 1000
				res.CpuPeriod = cpuPeriod
				// The kernel rejects quotas under 1ms.
				if res.CpuQuota < 1000 {
					res.CpuQuota = 1000
				}
			}
		case CPUShares:
			res.CpuShares = uint64(v)
		case OOMScoreAdj:
			n := int(v)
			oom = &n
		}
	}
	return res, oom, nil
}
