package apiservice

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"

	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// podState maps a pod state to the API's (rkt: api_service.go).
func podState(s pod.State) apiproto.PodState {
	switch s {
	case pod.StateEmbryo:
		return apiproto.PodState_POD_STATE_EMBRYO
	case pod.StatePreparing:
		return apiproto.PodState_POD_STATE_PREPARING
	case pod.StateAbortedPrepare:
		return apiproto.PodState_POD_STATE_ABORTED_PREPARE
	case pod.StatePrepared:
		return apiproto.PodState_POD_STATE_PREPARED
	case pod.StateRunning:
		return apiproto.PodState_POD_STATE_RUNNING
	case pod.StateExited:
		return apiproto.PodState_POD_STATE_EXITED
	case pod.StateDeleting, pod.StateExitedDeleting:
		return apiproto.PodState_POD_STATE_DELETING
	case pod.StateExitedGarbage, pod.StateGarbage:
		return apiproto.PodState_POD_STATE_GARBAGE
	}
	return apiproto.PodState_POD_STATE_UNDEFINED
}

// hasManifest reports whether a pod in state s has a complete manifest:
// not while it is being made or deleted, nor after its prepare died.
func hasManifest(s pod.State) bool {
	switch s {
	case pod.StateEmbryo, pod.StatePreparing, pod.StateAbortedPrepare, pod.StateDeleting:
		return false
	}
	return true
}

// readPod gathers the API object of p. The pod manifest is always read
// (apps, annotations and filters need it) and left in Manifest; with
// detail the apps' images carry what the pod's copy of their manifests
// says (so images removed from the store still show).
func (s *Server) readPod(p *pod.Pod, detail bool) (*apiproto.Pod, error) {
	out := &apiproto.Pod{Id: p.UUID, State: podState(p.State)}
	if t, err := p.CreatedAt(); err == nil {
		out.CreatedAt = t.UnixNano()
	} else if _, serr := os.Stat(p.Dir()); serr != nil {
		return nil, serr // the pod went away
	}
	if t, ok := p.StartedAt(); ok {
		out.StartedAt = t.UnixNano()
	}
	if pid, ok := p.PIDFileValue(); ok {
		out.Pid = int32(pid)
	}
	if p.Place == pod.ExitedGarbage || p.Place == pod.Garbage {
		if t, err := p.GCMarkedAt(); err == nil {
			out.GcMarkedAt = t.UnixNano()
		}
	}
	if p.State == pod.StateRunning || p.State == pod.StateExited {
		nets, err := p.Networks()
		if err != nil {
			return nil, err
		}
		for _, n := range nets {
			an := &apiproto.Network{Name: n.NetName}
			if strings.Contains(n.IP, ":") {
				an.Ipv6 = n.IP
			} else {
				an.Ipv4 = n.IP
			}
			out.Networks = append(out.Networks, an)
		}
	}
	if p.State == pod.StateRunning {
		out.Cgroup = podCgroup(p, int(out.Pid))
	}
	if !hasManifest(p.State) {
		return out, nil
	}
	m, data, err := s.manifests.get(p)
	if err != nil {
		return nil, err
	}
	out.Manifest = data
	out.Annotations = keyValues(m.Annotations)
	statuses, err := p.AppExitStatuses()
	if err != nil {
		statuses = nil // not fatal: the apps' states stay what the pod's says
	}
	appState := apiproto.AppState_APP_STATE_UNDEFINED
	switch {
	case p.State == pod.StateRunning:
		appState = apiproto.AppState_APP_STATE_RUNNING
	case p.State.Finished():
		appState = apiproto.AppState_APP_STATE_EXITED
	}
	for i := range m.Apps {
		ra := &m.Apps[i]
		app := &apiproto.App{
			Name:        ra.Name.String(),
			Image:       &apiproto.Image{Id: ra.Image.ID.String()},
			State:       appState,
			Annotations: keyValues(ra.Annotations),
		}
		if code, ok := statuses[app.Name]; ok {
			app.State = apiproto.AppState_APP_STATE_EXITED
			app.ExitCode = int32(code)
		}
		if detail {
			s.fillAppImage(p, app)
		}
		out.Apps = append(out.Apps, app)
	}
	return out, nil
}

// fillAppImage completes an app's image from the pod's copy of its
// manifest and, when the image is still there, the store.
func (s *Server) fillAppImage(p *pod.Pod, app *apiproto.App) {
	data, err := os.ReadFile(p.Path(stage1abi.AppsInfoDir + "/" + app.Name + "/" + stage1abi.AppManifestFile))
	if err != nil {
		return
	}
	img, err := imageFromManifest(app.Image.Id, data)
	if err != nil {
		return
	}
	if info, err := s.imageInfo(app.Image.Id); err == nil {
		img.ImportTimestamp = info.ImportTime.Unix()
		img.Size = info.Size + info.TreeSize
	}
	app.Image = img
}

// podCgroup is the cgroup of a running pod: what the stage1 recorded in
// subcgroup, else the cgroup of its pid (the name=systemd hierarchy, or
// the unified one), without systemd's implicit init.scope.
func podCgroup(p *pod.Pod, pid int) string {
	if b, err := os.ReadFile(p.Path(stage1abi.SubcgroupFile)); err == nil {
		if cg := strings.TrimSpace(string(b)); cg != "" {
			if !strings.HasPrefix(cg, "/") {
				cg = "/" + cg
			}
			return cg
		}
	}
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(cgroupOf(b), "/init.scope")
}

// cgroupOf picks the name=systemd cgroup out of /proc/PID/cgroup, or the
// unified hierarchy's.
func cgroupOf(procCgroup []byte) string {
	var unified string
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[1] == "name=systemd":
			return parts[2]
		case parts[0] == "0" && parts[1] == "":
			unified = parts[2]
		}
	}
	return unified
}

func keyValues(a types.Annotations) []*apiproto.KeyValue {
	if len(a) == 0 {
		return nil
	}
	out := make([]*apiproto.KeyValue, len(a))
	for i, kv := range a {
		out[i] = &apiproto.KeyValue{Key: kv.Name.String(), Value: kv.Value}
	}
	return out
}

// matchPod reports whether ap passes any of the filters; no filter
// passes everything.
func matchPod(ap *apiproto.Pod, filters []*apiproto.PodFilter) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if podFilter(ap, f) {
			return true
		}
	}
	return false
}

// podFilter: every criterion given must hold. ids, states and cgroups
// match any of their values; app names, image ids, networks and
// annotations must all be there.
func podFilter(ap *apiproto.Pod, f *apiproto.PodFilter) bool {
	if len(f.GetIds()) > 0 && !contains(f.GetIds(), ap.Id) {
		return false
	}
	if len(f.GetStates()) > 0 {
		ok := false
		for _, st := range f.GetStates() {
			ok = ok || st == ap.State
		}
		if !ok {
			return false
		}
	}
	if len(f.GetAppNames()) > 0 || len(f.GetImageIds()) > 0 {
		var names, ids []string
		for _, a := range ap.Apps {
			names = append(names, a.Name)
			ids = append(ids, a.GetImage().GetId())
		}
		if !containsAll(names, f.GetAppNames()) || !containsAll(ids, f.GetImageIds()) {
			return false
		}
	}
	if len(f.GetNetworkNames()) > 0 {
		var nets []string
		for _, n := range ap.Networks {
			nets = append(nets, n.Name)
		}
		if !containsAll(nets, f.GetNetworkNames()) {
			return false
		}
	}
	if !hasKeyValues(ap.Annotations, f.GetAnnotations()) {
		return false
	}
	if len(f.GetCgroups()) > 0 && (ap.Cgroup == "" || !contains(f.GetCgroups(), ap.Cgroup)) {
		return false
	}
	if len(f.GetPodSubCgroups()) > 0 {
		ok := false
		for _, sub := range f.GetPodSubCgroups() {
			ok = ok || (ap.Cgroup != "" && (sub == ap.Cgroup || strings.HasPrefix(sub, strings.TrimSuffix(ap.Cgroup, "/")+"/")))
		}
		if !ok {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !contains(have, w) {
			return false
		}
	}
	return true
}

// hasKeyValues reports whether every wanted key is in have with the same
// value.
func hasKeyValues(have, want []*apiproto.KeyValue) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if h.GetKey() == w.GetKey() && h.GetValue() == w.GetValue() {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
