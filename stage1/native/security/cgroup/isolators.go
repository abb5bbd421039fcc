package cgroup

import (
	"encoding/json"
	"fmt"

	"github.com/appc/spec/schema/types"
	"github.com/opencontainers/cgroups"
)

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

// resources converts the isolators to cgroup limits. The last isolator of a
// kind wins, like types.Isolators.GetByName.
func resources(isos types.Isolators) (*cgroups.Resources, *int, error) {
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
