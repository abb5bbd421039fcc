package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/poddir"
)

// Pod is what native reads from a pod directory.
type Pod struct {
	// Dir is the pod directory (absolute).
	Dir string
	// Manifest is the pod manifest.
	Manifest *manifest.PodManifest
	// Apps are the pod's apps, in manifest order.
	Apps []*App
}

// App is one app of the pod with its effective settings.
type App struct {
	// RuntimeApp is the pod manifest's entry.
	RuntimeApp *manifest.RuntimeApp
	// App is the effective app: the pod manifest's, else the image's.
	App *manifest.App
	// ImageName names the app's image in messages.
	ImageName string
	// Image is the app's image manifest (nil when the pod has none).
	Image *manifest.ImageManifest
	// Isolators are the effective app's isolators, decoded by the appc
	// schema, which knows their kinds and checks their values. The rest
	// of the manifests is read without it (package manifest), and an
	// app without isolators never uses it.
	Isolators types.Isolators
}

// Name returns the app's name.
func (a *App) Name() string { return a.RuntimeApp.Name }

// DecodeIsolators decodes isolators with the appc schema.
func DecodeIsolators(raw []manifest.Isolator) (types.Isolators, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	buf := []byte{'['}
	for i, iso := range raw {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		// The schema's decoder dereferences a missing value.
		if v := strings.TrimSpace(string(iso.Value)); v == "" || v == "null" {
			return nil, fmt.Errorf("isolator %q has no value", iso.Name)
		}
		name, err := json.Marshal(iso.Name)
		if err != nil {
			return nil, err
		}
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

// AppRootfs returns the host path of an app's rootfs.
func (p *Pod) AppRootfs(app string) string { return poddir.AppRootfs(p.Dir, app) }

// Stage1Path returns the host path of rel inside the stage1 rootfs.
func (p *Pod) Stage1Path(rel ...string) string { return poddir.Stage1Path(p.Dir, rel...) }

// FindApp returns the app called name; "" names the only app of a
// single-app pod.
func (p *Pod) FindApp(name string) (*App, error) {
	if name == "" {
		if len(p.Apps) != 1 {
			return nil, fmt.Errorf("--appname is required for a pod with %d apps", len(p.Apps))
		}
		return p.Apps[0], nil
	}
	for _, a := range p.Apps {
		if a.Name() == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("the pod has no app %q", name)
}

// LoadPod reads the pod in dir. It fails unless the pod has at least one
// app and every app has a non-empty exec.
func LoadPod(dir string) (*Pod, error) {
	pm, err := manifest.ReadPod(dir)
	if err != nil {
		return nil, err
	}
	if len(pm.Apps) == 0 {
		return nil, errors.New("the pod has no apps")
	}
	p := &Pod{Dir: dir, Manifest: pm}
	for i := range pm.Apps {
		a := &App{RuntimeApp: &pm.Apps[i]}
		if a.App, a.ImageName, a.Image, err = manifest.Effective(dir, a.RuntimeApp); err != nil {
			return nil, err
		}
		if a.Isolators, err = DecodeIsolators(a.App.Isolators); err != nil {
			return nil, fmt.Errorf("app %q: %w", a.Name(), err)
		}
		p.Apps = append(p.Apps, a)
	}
	return p, nil
}
