// Package isolators works out what an app's appc isolators ask of the
// native stage1: its capability sets, no_new_privs, cgroup limits and
// oom_score_adj, decoded with the appc schema. Only the stage1's run
// links it: it hands the results to the pod supervisor
// (supervisor.AppSecurity), which so links no appc package.
package isolators

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"

	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/security/caps"
)

// cpuPeriod is the CFS period (µs) used with resource/cpu limits, as systemd
// did for rkt's CPUQuota=.
const cpuPeriod = 100000

// Decode decodes isolators read by package manifest with the schema,
// which knows their kinds and checks their values.
func Decode(raw []manifest.Isolator) (types.Isolators, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	buf := []byte{'['}
	for i, iso := range raw {
		if i > 0 {
			buf = append(buf, ',')
		}
		// The schema's decoder dereferences a missing value.
		if v := strings.TrimSpace(string(iso.Value)); v == "" || v == "null" {
			return nil, fmt.Errorf("isolator %q has no value", iso.Name)
		}
		name, err := json.Marshal(iso.Name)
		if err != nil {
			return nil, err
		}
		buf = append(buf, `{"name":`...)
		buf = append(buf, name...)
		buf = append(buf, `,"value":`...)
		buf = append(buf, iso.Value...)
		buf = append(buf, '}')
	}
	buf = append(buf, ']')
	var isos types.Isolators
	if err := json.Unmarshal(buf, &isos); err != nil {
		return nil, fmt.Errorf("isolators: %w", err)
	}
	return isos, nil
}

// Caps returns the capability sets of a root app from its isolators.
// A retain-set isolator gives exactly its capabilities, a remove-set isolator
// gives the default set minus its capabilities, both together are an error.
// disableRestriction (--insecure-options=capabilities) gives every
// capability known to the running kernel. Use Set.ForUID for non-root apps.
func Caps(isos types.Isolators, disableRestriction bool) (caps.Set, error) {
	var retain, remove []types.LinuxCapability
	var haveRetain, haveRemove bool
	for i := range isos {
		iso := &isos[i]
		switch iso.Name {
		case types.LinuxCapabilitiesRetainSetName:
			s, err := capSet(iso)
			if err != nil {
				return caps.Set{}, err
			}
			haveRetain = true
			retain = append(retain, s...)
		case types.LinuxCapabilitiesRevokeSetName:
			s, err := capSet(iso)
			if err != nil {
				return caps.Set{}, err
			}
			haveRemove = true
			remove = append(remove, s...)
		}
	}
	if haveRetain && haveRemove {
		return caps.Set{}, fmt.Errorf("cannot have both %s and %s isolators", types.LinuxCapabilitiesRetainSetName, types.LinuxCapabilitiesRevokeSetName)
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
			c, err := caps.Parse(string(n))
			if err != nil {
				return caps.Set{}, fmt.Errorf("%s: %w", types.LinuxCapabilitiesRetainSetName, err)
			}
			bounding = append(bounding, c)
		}
	default:
		removed := map[capability.Cap]bool{}
		for _, n := range remove {
			c, err := caps.Parse(string(n))
			if err != nil {
				return caps.Set{}, fmt.Errorf("%s: %w", types.LinuxCapabilitiesRevokeSetName, err)
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

func capSet(iso *types.Isolator) ([]types.LinuxCapability, error) {
	v, ok := iso.Value().(types.LinuxCapabilitiesSet)
	if !ok || v == nil {
		return nil, fmt.Errorf("isolator %s: unexpected value type %T", iso.Name, iso.Value())
	}
	return v.Set(), nil
}

// NoNewPrivs reports whether an os/linux/no-new-privileges isolator is
// true (see caps.NoNewPrivs for the rest of the rule).
func NoNewPrivs(isos types.Isolators) bool {
	for i := range isos {
		if isos[i].Name != types.LinuxNoNewPrivilegesName {
			continue
		}
		if v, ok := isos[i].Value().(*types.LinuxNoNewPrivileges); ok && v != nil && bool(*v) {
			return true
		}
	}
	return false
}

// value returns the decoded value of an isolator. Isolators built with the
// appc constructors' AsIsolator for resources carry an empty value, so the
// raw JSON is decoded again when present.
func value(iso types.Isolator) (types.IsolatorValue, error) {
	if iso.ValueRaw == nil {
		return iso.Value(), nil
	}
	b, err := json.Marshal(iso)
	if err != nil {
		return nil, fmt.Errorf("isolator %s: %w", iso.Name, err)
	}
	var fresh types.Isolator
	if err := json.Unmarshal(b, &fresh); err != nil {
		return nil, fmt.Errorf("isolator %s: %w", iso.Name, err)
	}
	return fresh.Value(), nil
}

// Resources converts the isolators to cgroup limits and the oom_score_adj
// (nil when none is set). The last isolator of a
// kind wins, like types.Isolators.GetByName.
func Resources(isos types.Isolators) (*cgroups.Resources, *int, error) {
	res := &cgroups.Resources{}
	var oom *int
	for _, iso := range isos {
		switch iso.Name {
		case types.ResourceMemoryName, types.ResourceCPUName, types.LinuxCPUSharesName, types.LinuxOOMScoreAdjName:
		default:
			continue
		}
		v, err := value(iso)
		if err != nil {
			return nil, nil, err
		}
		switch v := v.(type) {
		case *types.ResourceMemory:
			if l := v.Limit(); l != nil {
				if l.Value() <= 0 {
					return nil, nil, fmt.Errorf("%s: limit must be positive, got %s", iso.Name, l)
				}
				res.Memory = l.Value()
			}
		case *types.ResourceCPU:
			if l := v.Limit(); l != nil {
				milli := l.MilliValue()
				if milli <= 0 {
					return nil, nil, fmt.Errorf("%s: limit must be positive, got %s", iso.Name, l)
				}
				// 1000 millicores = one full period per period.
				res.CpuQuota = milli * cpuPeriod / 1000
				res.CpuPeriod = cpuPeriod
				// The kernel rejects quotas under 1ms.
				if res.CpuQuota < 1000 {
					res.CpuQuota = 1000
				}
			}
		case *types.LinuxCPUShares:
			res.CpuShares = uint64(*v)
		case *types.LinuxOOMScoreAdj:
			n := int(*v)
			oom = &n
		default:
			return nil, nil, fmt.Errorf("isolator %s: unexpected value type %T", iso.Name, v)
		}
	}
	return res, oom, nil
}
