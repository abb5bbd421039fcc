// Package stage1abi is the interface between stage0 (rkt) and a stage1
// image: entrypoint annotations, interface versions, the arguments of
// each entrypoint as typed structs that round-trip through flags, and the
// files stage0 and stage1 exchange in the pod directory. It matches rkt's
// stage1 ABI (reference §4), so a stage1 built for rkt runs under ours and
// ours under rkt.
package stage1abi

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Annotations on the stage1 image manifest naming its entrypoints.
const (
	AnnotationRun              = "coreos.com/rkt/stage1/run"
	AnnotationEnter            = "coreos.com/rkt/stage1/enter"
	AnnotationGC               = "coreos.com/rkt/stage1/gc"
	AnnotationStop             = "coreos.com/rkt/stage1/stop"
	AnnotationAppAdd           = "coreos.com/rkt/stage1/app/add"
	AnnotationAppRm            = "coreos.com/rkt/stage1/app/rm"
	AnnotationAppStart         = "coreos.com/rkt/stage1/app/start"
	AnnotationAppStop          = "coreos.com/rkt/stage1/app/stop"
	AnnotationAttach           = "coreos.com/rkt/stage1/attach"
	AnnotationInterfaceVersion = "coreos.com/rkt/stage1/interface-version"
	// AnnotationMutable is the pod manifest annotation saying whether apps
	// may be added to the pod later.
	AnnotationMutable = "coreos.com/rkt/stage1/mutable"
	// AnnotationVolumeCopyUp on a runtime app asks for Docker's volume
	// rule (reference IMG-D2A-03): an implicit empty volume starts with
	// the image's content at its mount point, with that directory's mode
	// and owner. prepare sets it for Docker and OCI images.
	AnnotationVolumeCopyUp = "coreos.com/rkt/stage1/volume-copy-up"

	// AnnotationTimerSlack, "true" on a stage1 image, says that the
	// stage1 gives the processes it starts for the pod (apps, event
	// handlers, entered commands) the timer slack that TimerSlackEnv
	// names. Stage0 then starts the stage1 with the timer slack
	// TimerSlack, and passes its own in TimerSlackEnv: in the stage1's
	// Go programs the runtime's monitor thread, which polls every 20 µs
	// for its first millisecond, then wakes about once per slack. On two
	// vCPUs those wake-ups cost a native pod ~0.7 ms (docs/benchmarks.md).
	AnnotationTimerSlack = "coreos.com/rkt/stage1/timer-slack"
)

// LockFDEnv names the environment variable carrying the pod lock's fd.
const LockFDEnv = "RKT_LOCK_FD"

// TimerSlackEnv names the environment variable carrying the timer slack
// (ns) of the process that started a stage1 with AnnotationTimerSlack.
const TimerSlackEnv = "RKT_TIMER_SLACK"

// TimerSlack is the timer slack (ns) such a stage1 starts with: 200 µs.
// Not more: the Go scheduler's own sleeps stretch with the slack too (a
// thread about to take a goroutine just started on a busy one sleeps
// 3 µs first), so a goroutine started to run alongside its starter
// waited up to the whole slack, and with 2 ms a pod's parallel work
// (tree checks, the apps' setup) ran one piece after the other: 200 µs
// started native pods 0.34 ms sooner than 2 ms, pods of 5 apps 0.36 ms,
// and 0.9 and 1.2 ms sooner than the default 50 µs (docs/benchmarks.md).
const TimerSlack = 200_000

// CallerTimerSlack returns the timer slack (ns) in TimerSlackEnv: the one
// of whoever started rkt, when something on the way (the dispatcher for
// `rkt run`, stage0 for a stage1 with AnnotationTimerSlack) set a larger
// one. It is 0 when there is none.
func CallerTimerSlack() uint64 {
	v, err := strconv.ParseUint(os.Getenv(TimerSlackEnv), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// Files in the pod directory (reference §3.5). Stage0 writes the
// manifest and the stage1/app trees; stage1 writes pid/ppid, pgid,
// subcgroup, and the status and env files under its rootfs.
const (
	PodManifestFile   = "pod"
	PodCreatedFile    = "pod-created"
	Stage1Dir         = "stage1"
	Stage1ManifestRel = "stage1/manifest"
	Stage1RootfsRel   = "stage1/rootfs"
	Stage1TreeIDFile  = "stage1TreeStoreID"
	AppsInfoDir       = "appsinfo"
	AppManifestFile   = "manifest"
	AppTreeIDFile     = "treeStoreID"
	OverlayPrepared   = "overlay-prepared"
	OverlayDir        = "overlay"
	// Stage1UpperRel is the upper layer of an overlay pod's stage1
	// rootfs: where the stage1's writes land, and where readers outside
	// the pod's mount namespace find them.
	Stage1UpperRel    = OverlayDir + "/stage1/upper"
	PIDFile           = "pid"
	PPIDFile          = "ppid"
	PGIDFile          = "pgid"
	SubcgroupFile     = "subcgroup"
	NetInfoFile       = "net-info.json"
	RuntimeConfigFile = "runtime-config"
	SharedVolumesDir  = "sharedVolumes"
	// PrivateUsersFile holds a --private-users pod's id range,
	// "SHIFT:COUNT" (PODF-09): written at prepare, passed to the stage1
	// as --private-users, freed by gc.
	PrivateUsersFile = "private-users-prepared"
	// MDSRegisteredFile says the pod is registered with the metadata
	// service and holds the AC_METADATA_URL of its apps.
	MDSRegisteredFile = "mds-registered"
	// Inside the stage1 rootfs:
	Stage2Dir           = "opt/stage2"
	StatusDir           = "rkt/status"
	EnvDir              = "rkt/env"
	SupervisorStatusRel = "rkt/supervisor-status"
)

// AppRootfsRel returns an app's rootfs relative to the pod directory.
func AppRootfsRel(app string) string {
	return Stage1RootfsRel + "/" + Stage2Dir + "/" + app + "/rootfs"
}

// AppManifestRel returns an app's image manifest inside the stage1 rootfs,
// relative to the pod directory.
func AppManifestRel(app string) string {
	return Stage1RootfsRel + "/" + Stage2Dir + "/" + app + "/manifest"
}

// ErrNoEntrypoint means the stage1 does not implement an entrypoint.
var ErrNoEntrypoint = errors.New("not implemented for pod's stage1")

// Stage1Manifest is what stage0 reads of a stage1's image manifest:
// its name and its annotations (entrypoints, interface version). It is
// decoded without the appc schema, whose initialisation (regular
// expressions, big-number tables: ~0.19 ms of a start, measured with
// and without it in a program of rkt-run-prepared's other packages)
// rkt-run-prepared would pay only for this. The manifest was checked
// against the schema when the image was imported.
type Stage1Manifest struct {
	// Name is the image name.
	Name string
	// Annotations holds the first value of each annotation.
	Annotations map[string]string
}

// ParseStage1Manifest decodes an image manifest for stage0.
func ParseStage1Manifest(data []byte) (*Stage1Manifest, error) {
	var raw struct {
		Kind        string `json:"acKind"`
		Name        string `json:"name"`
		Annotations []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("stage1 manifest: %w", err)
	}
	if raw.Kind != "ImageManifest" {
		return nil, fmt.Errorf("stage1 manifest: acKind %q, want ImageManifest", raw.Kind)
	}
	m := &Stage1Manifest{Name: raw.Name, Annotations: map[string]string{}}
	for _, a := range raw.Annotations {
		if _, dup := m.Annotations[a.Name]; !dup {
			m.Annotations[a.Name] = a.Value
		}
	}
	return m, nil
}

// Entrypoint returns the path (absolute inside the stage1 rootfs) of an
// entrypoint.
func (m *Stage1Manifest) Entrypoint(annotation string) (string, error) {
	ep := m.Annotations[annotation]
	if ep == "" {
		return "", fmt.Errorf("%q %w", annotation, ErrNoEntrypoint)
	}
	return ep, nil
}

// InterfaceVersion returns the stage1's interface version (1 when absent).
func (m *Stage1Manifest) InterfaceVersion() (int, error) {
	v, ok := m.Annotations[AnnotationInterfaceVersion]
	if !ok {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("stage1 interface version %q is not a positive integer", v)
	}
	return n, nil
}
