// Package manifest reads the pod manifest and the apps' image manifests
// of a pod directory the way a stage1 needs them, into plain structs
// shaped like the appc schema's JSON, without linking the schema. A
// stage1 starts on every `rkt run`, and there the schema costs ~0.4 ms:
// its packages' initialisation (regular expressions, big-number tables)
// and the reflection its custom decoders do on first use.
//
// The checks are those that keep a stage1 safe and its messages clear:
// the kinds, and the names that become paths in the pod directory
// (apps, volumes, mount points), checked as ACNames exactly as the
// schema does. Fields a stage1 does not use are not read, and values
// the schema would refuse but the stage1 cannot misuse (a label, a
// version) are not checked: stage0 wrote the pod manifest through the
// schema, and copied the image manifests from images it checked.
package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rkt/rkt/common/acname"
	"github.com/rkt/rkt/common/stage1abi"
)

// The manifests' kinds.
const (
	PodManifestKind   = "PodManifest"
	ImageManifestKind = "ImageManifest"
)

// PodManifest is a pod manifest.
type PodManifest struct {
	ACKind      string        `json:"acKind"`
	ACVersion   string        `json:"acVersion"`
	Apps        []RuntimeApp  `json:"apps"`
	Volumes     []Volume      `json:"volumes"`
	Isolators   []Isolator    `json:"isolators"`
	Annotations Annotations   `json:"annotations"`
	Ports       []ExposedPort `json:"ports"`
	// Raw is the manifest as read, with the fields not read here.
	Raw []byte `json:"-"`
}

// RuntimeApp is an app of a pod manifest.
type RuntimeApp struct {
	Name           string       `json:"name"`
	Image          RuntimeImage `json:"image"`
	App            *App         `json:"app,omitempty"`
	ReadOnlyRootFS bool         `json:"readOnlyRootFS,omitempty"`
	Mounts         []Mount      `json:"mounts,omitempty"`
	Annotations    Annotations  `json:"annotations,omitempty"`
}

// RuntimeImage names an app's image in a pod manifest.
type RuntimeImage struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id"`
}

// ImageManifest is an image manifest, as far as a stage1 reads it.
type ImageManifest struct {
	ACKind      string      `json:"acKind"`
	ACVersion   string      `json:"acVersion"`
	Name        string      `json:"name"`
	App         *App        `json:"app,omitempty"`
	Annotations Annotations `json:"annotations,omitempty"`
	// Raw is the manifest as read, with the fields not read here.
	Raw []byte `json:"-"`
}

// App is what an app runs and how.
type App struct {
	Exec              []string       `json:"exec"`
	EventHandlers     []EventHandler `json:"eventHandlers,omitempty"`
	User              string         `json:"user"`
	Group             string         `json:"group"`
	SupplementaryGIDs []int          `json:"supplementaryGIDs,omitempty"`
	WorkingDirectory  string         `json:"workingDirectory,omitempty"`
	Environment       []EnvVar       `json:"environment,omitempty"`
	Isolators         []Isolator     `json:"isolators,omitempty"`
	MountPoints       []MountPoint   `json:"mountPoints,omitempty"`
	Ports             []Port         `json:"ports,omitempty"`
}

// EventHandler is an app's pre-start or post-stop command.
type EventHandler struct {
	Name string   `json:"name"`
	Exec []string `json:"exec"`
}

// EnvVar is one variable of an app's environment.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Isolator is an isolator with its value undecoded: the stages that
// enforce isolators decode them with the schema.
type Isolator struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// Volume is a volume of a pod, or inline in a mount.
type Volume struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	Source    string  `json:"source,omitempty"`
	ReadOnly  *bool   `json:"readOnly,omitempty"`
	Recursive *bool   `json:"recursive,omitempty"`
	Mode      *string `json:"mode,omitempty"`
	UID       *int    `json:"uid,omitempty"`
	GID       *int    `json:"gid,omitempty"`
}

// Mount puts a volume at a path of an app.
type Mount struct {
	Volume    string  `json:"volume"`
	Path      string  `json:"path"`
	AppVolume *Volume `json:"appVolume,omitempty"`
}

// MountPoint is where an app wants a volume.
type MountPoint struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Port is a port an app listens on.
type Port struct {
	Name            string `json:"name"`
	Protocol        string `json:"protocol"`
	Port            uint   `json:"port"`
	Count           uint   `json:"count"`
	SocketActivated bool   `json:"socketActivated"`
}

// ExposedPort forwards a host port to a port of an app.
type ExposedPort struct {
	Name     string `json:"name"`
	HostPort uint   `json:"hostPort"`
	HostIP   string `json:"hostIP,omitempty"`
	PodPort  *Port  `json:"podPort,omitempty"`
}

// Annotation is a name and a value.
type Annotation struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Annotations is a list of annotations.
type Annotations []Annotation

// Get returns the value of the first annotation called name.
func (as Annotations) Get(name string) (string, bool) {
	for _, a := range as {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// ReadPod reads <dir>/pod.
func ReadPod(dir string) (*PodManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, stage1abi.PodManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read the pod manifest: %w", err)
	}
	pm, err := ParsePod(data)
	if err != nil {
		return nil, fmt.Errorf("parse the pod manifest: %w", err)
	}
	return pm, nil
}

// ParsePod decodes and checks a pod manifest.
func ParsePod(data []byte) (*PodManifest, error) {
	pm := &PodManifest{Raw: data}
	if err := json.Unmarshal(data, pm); err != nil {
		return nil, err
	}
	if pm.ACKind != PodManifestKind {
		return nil, errors.New("missing or bad ACKind (must be PodManifest)")
	}
	seen := map[string]bool{}
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		if err := acname.Check(ra.Name); err != nil {
			return nil, fmt.Errorf("app name %q: %w", ra.Name, err)
		}
		if seen[ra.Name] {
			return nil, fmt.Errorf("duplicate app %q", ra.Name)
		}
		seen[ra.Name] = true
		for _, m := range ra.Mounts {
			if err := acname.Check(m.Volume); err != nil {
				return nil, fmt.Errorf("app %q: mount of volume %q: %w", ra.Name, m.Volume, err)
			}
			if m.AppVolume != nil {
				if err := checkVolume(m.AppVolume); err != nil {
					return nil, fmt.Errorf("app %q: %w", ra.Name, err)
				}
			}
		}
		if err := checkApp(ra.App); err != nil {
			return nil, fmt.Errorf("app %q: %w", ra.Name, err)
		}
	}
	for i := range pm.Volumes {
		if err := checkVolume(&pm.Volumes[i]); err != nil {
			return nil, err
		}
	}
	return pm, nil
}

// ParseImage decodes and checks an image manifest.
func ParseImage(data []byte) (*ImageManifest, error) {
	im := &ImageManifest{Raw: data}
	if err := json.Unmarshal(data, im); err != nil {
		return nil, err
	}
	if im.ACKind != ImageManifestKind {
		return nil, errors.New("missing or bad ACKind (must be ImageManifest)")
	}
	if im.Name == "" {
		return nil, errors.New("missing name")
	}
	if err := checkApp(im.App); err != nil {
		return nil, err
	}
	return im, nil
}

// checkVolume checks a volume's name and kind; the kinds' own rules are
// stage2app.PlanVolumes's.
func checkVolume(v *Volume) error {
	if err := acname.Check(v.Name); err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return nil
}

// checkApp checks the names of an app's mount points.
func checkApp(a *App) error {
	if a == nil {
		return nil
	}
	for _, mp := range a.MountPoints {
		if err := acname.Check(mp.Name); err != nil {
			return fmt.Errorf("mount point %q: %w", mp.Name, err)
		}
	}
	return nil
}

// ReadImage reads the image manifest of app from the stage1 rootfs of
// the pod directory dir; a missing one is not an error (nil).
func ReadImage(dir, app string) (*ImageManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(stage1abi.AppManifestRel(app))))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the image manifest of app %q: %w", app, err)
	}
	im, err := ParseImage(data)
	if err != nil {
		return nil, fmt.Errorf("parse the image manifest of app %q: %w", app, err)
	}
	return im, nil
}

// Effective returns the settings the app ra of the pod in dir runs with
// (the pod manifest's, else its image's), the name of its image for
// messages (the pod manifest's, else the image manifest's, else the
// app's name) and its image manifest (nil when the pod has none). It
// fails when the app has no exec.
func Effective(dir string, ra *RuntimeApp) (app *App, imageName string, im *ImageManifest, err error) {
	im, err = ReadImage(dir, ra.Name)
	if err != nil {
		return nil, "", nil, err
	}
	app = ra.App
	if app == nil && im != nil {
		app = im.App
	}
	switch {
	case ra.Image.Name != "":
		imageName = ra.Image.Name
	case im != nil:
		imageName = im.Name
	default:
		imageName = ra.Name
	}
	if app == nil || len(app.Exec) == 0 || strings.TrimSpace(app.Exec[0]) == "" {
		return nil, "", nil, fmt.Errorf(`image %q has an empty "exec" (try --exec=BINARY)`, imageName)
	}
	return app, imageName, im, nil
}

// Env returns an app environment as the NAME=VALUE list given to
// execve, in order.
func Env(env []EnvVar) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
