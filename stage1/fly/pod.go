package fly

import (
	"fmt"

	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/poddir"
)

// Pod is what fly reads from a pod directory: the pod manifest, its one
// app, and that app's effective settings.
type Pod struct {
	// Dir is the pod directory (absolute).
	Dir string
	// Manifest is the pod manifest.
	Manifest *manifest.PodManifest
	// RuntimeApp is the pod's only app.
	RuntimeApp *manifest.RuntimeApp
	// App is the effective app: the pod manifest's, else the image's.
	App *manifest.App
	// ImageName names the app's image in messages.
	ImageName string
	// Image is the app's image manifest (nil when the pod has none).
	Image *manifest.ImageManifest
}

// AppName returns the name of the pod's app.
func (p *Pod) AppName() string { return p.RuntimeApp.Name }

// AppRootfs returns the host path of the app's rootfs.
func (p *Pod) AppRootfs() string { return poddir.AppRootfs(p.Dir, p.AppName()) }

// Stage1Path returns the host path of rel inside the stage1 rootfs.
func (p *Pod) Stage1Path(rel ...string) string { return poddir.Stage1Path(p.Dir, rel...) }

// LoadPod reads the pod in dir. It fails unless the pod has exactly one
// app with a non-empty exec.
func LoadPod(dir string) (*Pod, error) {
	pm, err := manifest.ReadPod(dir)
	if err != nil {
		return nil, err
	}
	if n := len(pm.Apps); n != 1 {
		return nil, fmt.Errorf("flavor \"fly\" only supports 1 application per pod, this pod has %d", n)
	}
	p := &Pod{Dir: dir, Manifest: pm, RuntimeApp: &pm.Apps[0]}
	if p.App, p.ImageName, p.Image, err = manifest.Effective(dir, p.RuntimeApp); err != nil {
		return nil, err
	}
	return p, nil
}
