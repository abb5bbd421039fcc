package supervisor

import (
	"errors"
	"fmt"

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
}

// Name returns the app's name.
func (a *App) Name() string { return a.RuntimeApp.Name }

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
		p.Apps = append(p.Apps, a)
	}
	return p, nil
}
