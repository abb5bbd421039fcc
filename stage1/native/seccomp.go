package native

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/security/isolators"
	"github.com/rkt/rkt/stage1/native/security/seccomp"
	"github.com/rkt/rkt/stage1/native/security/seccomp/load"
	"github.com/rkt/rkt/stage1/native/supervisor"
)

// buildSecurity works out for the supervisor what each app's isolators
// ask (supervisor.Security): they are decoded with the appc schema here,
// which the supervisor does not link. The seccomp filters are assembled
// once per distinct set of seccomp isolators (filterKey): the apps of a
// pod mostly share one, and assembling it is ~0.1 ms of CPU. ra's
// --insecure-options for seccomp and capabilities apply. An isolator
// error fails the pod before any app starts.
func buildSecurity(pod *supervisor.Pod, ra *stage1abi.RunArgs) (supervisor.Security, error) {
	out := supervisor.Security{}
	built := map[string][]byte{}
	for _, a := range pod.Apps {
		var sec supervisor.AppSecurity
		err := func() error {
			isos, err := isolators.Decode(a.App.Isolators)
			if err != nil {
				return err
			}
			key := filterKey(isos)
			enc, ok := built[key]
			if !ok {
				if enc, err = buildFilter(isos, ra.DisableSeccomp); err != nil {
					return err
				}
				built[key] = enc
			}
			sec.Filter = enc
			if sec.Caps, err = isolators.Caps(isos, ra.DisableCapabilitiesRestriction); err != nil {
				return err
			}
			sec.NoNewPrivs = isolators.NoNewPrivs(isos)
			sec.Resources, sec.OOMScoreAdj, err = isolators.Resources(isos)
			return err
		}()
		if err != nil {
			return nil, fmt.Errorf("app %q: %w", a.Name(), err)
		}
		out[a.Name()] = sec
	}
	return out, nil
}

// filterKey is what decides an app's filter among its isolators: the
// seccomp ones, as the manifest gives them.
func filterKey(isos isolators.Isolators) string {
	var b strings.Builder
	for _, iso := range isos {
		if iso.Name != isolators.SeccompRetainSetName && iso.Name != isolators.SeccompRemoveSetName {
			continue
		}
		b.WriteString(iso.Name)
		b.WriteByte(0)
		b.Write(iso.Raw)
		b.WriteByte(0)
	}
	return b.String()
}

// buildFilter assembles one app's filter, encoded for the supervisor
// (load.Encode); nil when the app has none.
func buildFilter(isos isolators.Isolators, insecure bool) ([]byte, error) {
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

// securityFile is the memfd the supervisor reads its Security from.
func securityFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("rkt-app-security", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("app security settings: %w", err)
	}
	return os.NewFile(uintptr(fd), "app-security"), nil
}

// writeSecurity writes the apps' security settings into f for the
// supervisor.
func writeSecurity(f *os.File, sec supervisor.Security) error {
	data, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("app security settings: %w", err)
	}
	return nil
}
