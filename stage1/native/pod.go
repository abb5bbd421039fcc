package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/stage1abi"
)

// Pod is what native reads from a pod directory.
type Pod struct {
	// Dir is the pod directory (absolute).
	Dir string
	// Manifest is the pod manifest.
	Manifest *schema.PodManifest
	// Apps are the pod's apps, in manifest order.
	Apps []*App
}

// App is one app of the pod with its effective settings.
type App struct {
	// RuntimeApp is the pod manifest's entry.
	RuntimeApp *schema.RuntimeApp
	// App is the effective app: the pod manifest's, else the image's.
	App *types.App
	// ImageName names the app's image in messages.
	ImageName string
}

// Name returns the app's name.
func (a *App) Name() string { return a.RuntimeApp.Name.String() }

// AppRootfs returns the host path of an app's rootfs.
func (p *Pod) AppRootfs(app string) string {
	return filepath.Join(p.Dir, filepath.FromSlash(stage1abi.AppRootfsRel(app)))
}

// Stage1Path returns the host path of rel inside the stage1 rootfs.
func (p *Pod) Stage1Path(rel ...string) string {
	return filepath.Join(append([]string{p.Dir, stage1abi.Stage1RootfsRel}, rel...)...)
}

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

// readPodManifest reads <dir>/pod.
func readPodManifest(dir string) (*schema.PodManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, stage1abi.PodManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read the pod manifest: %w", err)
	}
	pm := &schema.PodManifest{}
	if err := json.Unmarshal(data, pm); err != nil {
		return nil, fmt.Errorf("parse the pod manifest: %w", err)
	}
	return pm, nil
}

// LoadPod reads the pod in dir. It fails unless the pod has at least one
// app and every app has a non-empty exec.
func LoadPod(dir string) (*Pod, error) {
	pm, err := readPodManifest(dir)
	if err != nil {
		return nil, err
	}
	if len(pm.Apps) == 0 {
		return nil, errors.New("the pod has no apps")
	}
	p := &Pod{Dir: dir, Manifest: pm}
	for i := range pm.Apps {
		a := &App{RuntimeApp: &pm.Apps[i]}
		im, err := readImageManifest(dir, a.Name())
		if err != nil {
			return nil, err
		}
		a.App = a.RuntimeApp.App
		if a.App == nil && im != nil {
			a.App = im.App
		}
		switch {
		case a.RuntimeApp.Image.Name != nil && !a.RuntimeApp.Image.Name.Empty():
			a.ImageName = a.RuntimeApp.Image.Name.String()
		case im != nil:
			a.ImageName = im.Name.String()
		default:
			a.ImageName = a.Name()
		}
		if a.App == nil || len(a.App.Exec) == 0 || strings.TrimSpace(a.App.Exec[0]) == "" {
			return nil, fmt.Errorf(`image %q has an empty "exec" (try --exec=BINARY)`, a.ImageName)
		}
		p.Apps = append(p.Apps, a)
	}
	return p, nil
}

// readImageManifest reads the app's image manifest from the stage1
// rootfs; a missing one is not an error (nil).
func readImageManifest(dir, app string) (*schema.ImageManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(stage1abi.AppManifestRel(app))))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the image manifest of app %q: %w", app, err)
	}
	im := &schema.ImageManifest{}
	if err := json.Unmarshal(data, im); err != nil {
		return nil, fmt.Errorf("parse the image manifest of app %q: %w", app, err)
	}
	return im, nil
}
