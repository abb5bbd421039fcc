package native

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/seccomp"
	"github.com/rkt/rkt/stage1/native/security/seccomp/load"
	"github.com/rkt/rkt/stage1/native/supervisor"
)

// buildFilters assembles the seccomp filter of each app of the pod for
// the supervisor (supervisor.Filters), once per distinct set of seccomp
// isolators (filterKey): the apps of a pod mostly share one, and assembling it is
// ~0.1 ms of CPU. insecure is --insecure-options=seccomp. An isolator
// error fails the pod before any app starts.
func buildFilters(pod *supervisor.Pod, insecure bool) (supervisor.Filters, error) {
	out := supervisor.Filters{}
	built := map[string][]byte{}
	for _, a := range pod.Apps {
		var isos types.Isolators
		if a.App != nil {
			isos = a.Isolators
		}
		key := filterKey(isos)
		enc, ok := built[key]
		if !ok {
			var err error
			if enc, err = buildFilter(isos, insecure); err != nil {
				return nil, fmt.Errorf("app %q: %w", a.Name(), err)
			}
			built[key] = enc
		}
		out[a.Name()] = enc
	}
	return out, nil
}

// filterKey is what decides an app's filter among its isolators: the
// seccomp ones, as the manifest gives them.
func filterKey(isos types.Isolators) string {
	var b strings.Builder
	for _, iso := range isos {
		if iso.Name != types.LinuxSeccompRetainSetName && iso.Name != types.LinuxSeccompRemoveSetName {
			continue
		}
		b.WriteString(iso.Name.String())
		b.WriteByte(0)
		if iso.ValueRaw != nil {
			b.Write(*iso.ValueRaw)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// buildFilter assembles one app's filter, encoded for the supervisor
// (load.Encode); nil when the app has none.
func buildFilter(isos types.Isolators, insecure bool) ([]byte, error) {
	f, err := seccomp.Build(isos, insecure)
	if err != nil || !f.Active() {
		return nil, err
	}
	prog, err := f.Raw()
	if err != nil {
		return nil, err
	}
	return load.Encode(prog), nil
}

// filtersFile is the memfd the supervisor reads its Filters from.
func filtersFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("rkt-seccomp-filters", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp filters: %w", err)
	}
	return os.NewFile(uintptr(fd), "seccomp-filters"), nil
}

// writeFilters writes the apps' filters into f for the supervisor.
func writeFilters(f *os.File, fs supervisor.Filters) error {
	data, err := json.Marshal(fs)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("seccomp filters: %w", err)
	}
	return nil
}
