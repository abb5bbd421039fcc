package podcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/podmanifest"
	"github.com/rkt/rkt/common/stage1abi"
)

// App states in the JSON pod object.
const (
	appUnknown = "unknown"
	appCreated = "created"
	appRunning = "running"
	appExited  = "exited"
)

// jsonPod is the pod object of `list --format=json` and `status
// --format=json` (reference API-JSON-01), field for field as rkt's api/v1
// Pod: the pod's times are in seconds, its apps' in nanoseconds.
type jsonPod struct {
	UUID            string            `json:"name"`
	State           string            `json:"state"`
	Networks        []pod.NetInfo     `json:"networks,omitempty"`
	AppNames        []string          `json:"app_names,omitempty"`
	Apps            []*jsonApp        `json:"apps,omitempty"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

type jsonApp struct {
	Name            string            `json:"name"`
	State           string            `json:"state"`
	CreatedAt       *int64            `json:"created_at,omitempty"`
	StartedAt       *int64            `json:"started_at,omitempty"`
	FinishedAt      *int64            `json:"finished_at,omitempty"`
	ExitCode        *int32            `json:"exit_code,omitempty"`
	ImageID         string            `json:"image_id"`
	Mounts          []*jsonMount      `json:"mounts,omitempty"`
	UserAnnotations map[string]string `json:"user_annotations,omitempty"`
	UserLabels      map[string]string `json:"user_labels,omitempty"`
}

type jsonMount struct {
	Name          string `json:"name"`
	ContainerPath string `json:"container_path"`
	HostPath      string `json:"host_path"`
	ReadOnly      bool   `json:"read_only"`
}

func ptr[T any](v T) *T { return &v }

// podObject gathers the JSON pod object of p. A pod without a readable
// creation time, or whose manifest should be there but cannot be read, is
// an error.
func podObject(p *pod.Pod) (*jsonPod, error) {
	out := &jsonPod{UUID: p.UUID, State: p.State.String()}
	if showsNets(p.State) {
		nets, err := p.Networks()
		if err != nil {
			return nil, err
		}
		out.Networks = nets
	}
	created, err := p.CreatedAt()
	if err != nil {
		return nil, err
	}
	out.CreatedAt = ptr(created.Unix())
	started, ok := p.StartedAt()
	if ok {
		out.StartedAt = ptr(started.Unix())
	}
	if !manifestAvailable(p.State) {
		return out, nil
	}
	m, _, err := podmanifest.Read(p)
	if err != nil {
		return nil, err
	}
	statuses, err := p.AppExitStatuses()
	if err != nil {
		return nil, fmt.Errorf("pod %s: app exit statuses: %w", p.UUID, err)
	}
	a := appStates{p: p, statuses: statuses, created: created, started: started}
	if p.Place == pod.ExitedGarbage || p.Place == pod.Garbage {
		if t, err := p.GCMarkedAt(); err == nil {
			a.finished = t.UnixNano()
		}
	}
	mutable, _ := m.Annotations.Get(stage1abi.AnnotationMutable)
	for i := range m.Apps {
		ra := &m.Apps[i]
		out.AppNames = append(out.AppNames, ra.Name.String())
		app := newJSONApp(ra, m)
		if mutable == "true" {
			err = a.mutable(app)
		} else {
			a.immutable(app)
		}
		if err != nil {
			return nil, fmt.Errorf("pod %s: app %s: %w", p.UUID, app.Name, err)
		}
		out.Apps = append(out.Apps, app)
	}
	out.UserAnnotations = copyMap(m.UserAnnotations)
	out.UserLabels = copyMap(m.UserLabels)
	return out, nil
}

func copyMap[M ~map[string]string](in M) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// newJSONApp fills what the pod manifest says about one app.
func newJSONApp(ra *schema.RuntimeApp, m *schema.PodManifest) *jsonApp {
	app := &jsonApp{Name: ra.Name.String(), ImageID: ra.Image.ID.String()}
	if ra.App != nil {
		app.UserAnnotations = copyMap(ra.App.UserAnnotations)
		app.UserLabels = copyMap(ra.App.UserLabels)
	}
	vols := make(map[types.ACName]types.Volume, len(m.Volumes))
	for _, v := range m.Volumes {
		vols[v.Name] = v
	}
	for _, mnt := range ra.Mounts {
		v := vols[mnt.Volume]
		if mnt.AppVolume != nil {
			v = *mnt.AppVolume
		}
		app.Mounts = append(app.Mounts, &jsonMount{
			Name:          mnt.Volume.String(),
			ContainerPath: mnt.Path,
			HostPath:      v.Source,
			ReadOnly:      v.ReadOnly != nil && *v.ReadOnly,
		})
	}
	return app
}

// appStates derives the state of a pod's apps.
type appStates struct {
	p        *pod.Pod
	statuses map[string]int
	created  time.Time
	started  time.Time // zero if the pod never started
	finished int64     // gc-mark time in ns, 0 if not marked
}

// immutable infers an app's state from its pod's: every app of an
// immutable pod is created, started and stopped with the pod; only an
// exit status is the app's own.
func (a *appStates) immutable(app *jsonApp) {
	app.State = appStateFromPod(a.p.State)
	app.CreatedAt = ptr(a.created.UnixNano())
	if code, ok := a.statuses[app.Name]; ok {
		app.State = appExited
		app.ExitCode = ptr(int32(code))
	}
	if !a.started.IsZero() {
		app.StartedAt = ptr(a.started.UnixNano())
	}
	if a.finished != 0 {
		app.FinishedAt = ptr(a.finished)
	}
}

// mutable reads an app's own timestamps: the stage1 touches
// rkt/status/APP-created and APP-started and writes rkt/status/APP at
// exit (reference PODF-17).
func (a *appStates) mutable(app *jsonApp) error {
	app.State = appUnknown
	defer func() {
		// A pod killed hard leaves no status file: its apps are over all
		// the same.
		if afterRun(a.p.State) && app.State != appExited {
			app.State = appExited
			if a.finished != 0 {
				app.FinishedAt = ptr(a.finished)
			}
		}
	}()
	status := a.p.Stage1Path(filepath.Join(stage1abi.StatusDir, app.Name))
	steps := []struct {
		path  string
		state string
		t     **int64
	}{
		{status + "-created", appCreated, &app.CreatedAt},
		{status + "-started", appRunning, &app.StartedAt},
		{status, appExited, &app.FinishedAt},
	}
	for _, s := range steps {
		fi, err := os.Stat(s.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		app.State = s.state
		*s.t = ptr(fi.ModTime().UnixNano())
	}
	if code, ok := a.statuses[app.Name]; ok {
		app.ExitCode = ptr(int32(code))
	}
	return nil
}

func appStateFromPod(s pod.State) string {
	switch s {
	case pod.StatePrepared:
		return appCreated
	case pod.StateRunning:
		return appRunning
	}
	if afterRun(s) {
		return appExited
	}
	return appUnknown
}

// afterRun reports whether a pod in state s has run and is over.
func afterRun(s pod.State) bool {
	switch s {
	case pod.StateExited, pod.StateExitedDeleting, pod.StateExitedGarbage,
		pod.StateDeleting, pod.StateGarbage:
		return true
	}
	return false
}
