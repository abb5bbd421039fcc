package podspec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/quantity"
)

// isolators applies the per-app flags to the image's isolators: the
// flags replace image isolators of the same kind; memory and cpu limits
// are appended last so that they take effect (CLI-APP-09..11).
func isolators(image types.Isolators, a *App) (types.Isolators, error) {
	out := image
	drop := func(names ...types.ACIdentifier) {
		var keep types.Isolators
		for _, iso := range out {
			match := false
			for _, n := range names {
				if iso.Name == n {
					match = true
				}
			}
			if !match {
				keep = append(keep, iso)
			}
		}
		out = keep
	}
	add := func(iso *types.Isolator) { out = append(out, *iso) }
	if a.CPUShares != nil {
		v, err := types.NewLinuxCPUShares(*a.CPUShares)
		if err != nil {
			return nil, fmt.Errorf("%w: --cpu-shares: %v", ErrArgs, err)
		}
		drop(types.LinuxCPUSharesName)
		iso := v.AsIsolator()
		add(&iso)
	}
	if a.OOMScoreAdj != nil {
		v, err := types.NewLinuxOOMScoreAdj(*a.OOMScoreAdj)
		if err != nil {
			return nil, fmt.Errorf("%w: --oom-score-adj: %v", ErrArgs, err)
		}
		drop(types.LinuxOOMScoreAdjName)
		iso := v.AsIsolator()
		add(&iso)
	}
	if a.CapsRetain != "" || a.CapsRemove != "" {
		drop(types.LinuxCapabilitiesRetainSetName, types.LinuxCapabilitiesRevokeSetName)
		var iso *types.Isolator
		var err error
		if a.CapsRetain != "" {
			var set *types.LinuxCapabilitiesRetainSet
			if set, err = types.NewLinuxCapabilitiesRetainSet(capList(a.CapsRetain)...); err == nil {
				iso, err = set.AsIsolator()
			}
		} else {
			var set *types.LinuxCapabilitiesRevokeSet
			if set, err = types.NewLinuxCapabilitiesRevokeSet(capList(a.CapsRemove)...); err == nil {
				iso, err = set.AsIsolator()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: capabilities: %v", ErrArgs, err)
		}
		add(iso)
	}
	if a.Seccomp != "" {
		iso, err := seccompIsolator(a.Seccomp)
		if err != nil {
			return nil, err
		}
		drop(types.LinuxSeccompRetainSetName, types.LinuxSeccompRemoveSetName)
		add(iso)
	}
	if a.Memory != "" {
		// Parsed exactly first: the schema's parser computes the power
		// of ten of 1e-999999999 for minutes, and its Value wraps around
		// beyond int64 (1e999999999 came out under 4096).
		q, err := quantity.Parse(a.Memory)
		if err != nil {
			return nil, fmt.Errorf("%w: --memory %q: %v", ErrArgs, a.Memory, err)
		}
		if n, err := q.Value(); err != nil {
			return nil, fmt.Errorf("%w: --memory %q: %v", ErrArgs, a.Memory, err)
		} else if n < 4096 {
			return nil, fmt.Errorf("%w: --memory %q: at least 4096 bytes", ErrArgs, a.Memory)
		}
		v, err := types.NewResourceMemoryIsolator(a.Memory, a.Memory)
		if err != nil {
			return nil, fmt.Errorf("%w: --memory %q: %v", ErrArgs, a.Memory, err)
		}
		iso := v.AsIsolator()
		add(&iso)
	}
	if a.CPU != "" {
		if _, err := quantity.Parse(a.CPU); errors.Is(err, quantity.ErrExponentRange) {
			return nil, fmt.Errorf("%w: --cpu %q: %v", ErrArgs, a.CPU, err)
		}
		v, err := types.NewResourceCPUIsolator(a.CPU, a.CPU)
		if err != nil {
			return nil, fmt.Errorf("%w: --cpu %q: %v", ErrArgs, a.CPU, err)
		}
		iso := v.AsIsolator()
		add(&iso)
	}
	return out, nil
}

// capList accepts CAP_X, cap_x and x.
func capList(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "" {
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	return out
}

// seccompIsolator reads --seccomp mode=retain|remove[,errno=E],sys,@group...
func seccompIsolator(s string) (*types.Isolator, error) {
	var mode, errno string
	var calls []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.HasPrefix(part, "mode="):
			mode = strings.TrimPrefix(part, "mode=")
		case strings.HasPrefix(part, "errno="):
			errno = strings.TrimPrefix(part, "errno=")
		case part != "":
			calls = append(calls, part)
		}
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("%w: --seccomp %q: no syscalls", ErrArgs, s)
	}
	var iso *types.Isolator
	var err error
	switch mode {
	case "retain":
		var set *types.LinuxSeccompRetainSet
		if set, err = types.NewLinuxSeccompRetainSet(errno, calls...); err == nil {
			iso, err = set.AsIsolator()
		}
	case "remove":
		var set *types.LinuxSeccompRemoveSet
		if set, err = types.NewLinuxSeccompRemoveSet(errno, calls...); err == nil {
			iso, err = set.AsIsolator()
		}
	default:
		return nil, fmt.Errorf("%w: --seccomp %q: mode must be retain or remove", ErrArgs, s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: --seccomp %q: %v", ErrArgs, s, err)
	}
	return iso, nil
}

// userKVs applies --user-annotation and --user-label.
func userKVs(app *types.App, a *App) error {
	for _, group := range []struct {
		flag string
		kvs  []string
		dst  *map[string]string
	}{
		{"--user-annotation", a.UserAnnotations, (*map[string]string)(&app.UserAnnotations)},
		{"--user-label", a.UserLabels, (*map[string]string)(&app.UserLabels)},
	} {
		for _, kv := range group.kvs {
			k, v, err := splitKV(group.flag, kv)
			if err != nil {
				return err
			}
			if *group.dst == nil {
				*group.dst = map[string]string{}
			}
			(*group.dst)[k] = v
		}
	}
	return nil
}
