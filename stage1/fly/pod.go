package fly

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

// Pod is what fly reads from a pod directory: the pod manifest, its one
// app, and that app's effective settings.
type Pod struct {
	// Dir is the pod directory (absolute).
	Dir string
	// Manifest is the pod manifest.
	Manifest *schema.PodManifest
	// RuntimeApp is the pod's only app.
	RuntimeApp *schema.RuntimeApp
	// App is the effective app: the pod manifest's, else the image's.
	App *types.App
	// ImageName names the app's image in messages.
	ImageName string
}

// AppName returns the name of the pod's app.
func (p *Pod) AppName() string { return p.RuntimeApp.Name.String() }

// AppRootfs returns the host path of the app's rootfs.
func (p *Pod) AppRootfs() string {
	return filepath.Join(p.Dir, filepath.FromSlash(stage1abi.AppRootfsRel(p.AppName())))
}

// Stage1Path returns the host path of rel inside the stage1 rootfs.
func (p *Pod) Stage1Path(rel ...string) string {
	return filepath.Join(append([]string{p.Dir, stage1abi.Stage1RootfsRel}, rel...)...)
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

// LoadPod reads the pod in dir. It fails unless the pod has exactly one
// app with a non-empty exec.
func LoadPod(dir string) (*Pod, error) {
	pm, err := readPodManifest(dir)
	if err != nil {
		return nil, err
	}
	if n := len(pm.Apps); n != 1 {
		return nil, fmt.Errorf("flavor \"fly\" only supports 1 application per pod, this pod has %d", n)
	}
	p := &Pod{Dir: dir, Manifest: pm, RuntimeApp: &pm.Apps[0]}
	im, err := readImageManifest(dir, p.AppName())
	if err != nil {
		return nil, err
	}
	p.App = p.RuntimeApp.App
	if p.App == nil && im != nil {
		p.App = im.App
	}
	switch {
	case p.RuntimeApp.Image.Name != nil && !p.RuntimeApp.Image.Name.Empty():
		p.ImageName = p.RuntimeApp.Image.Name.String()
	case im != nil:
		p.ImageName = im.Name.String()
	default:
		p.ImageName = p.AppName()
	}
	if p.App == nil || len(p.App.Exec) == 0 || strings.TrimSpace(p.App.Exec[0]) == "" {
		return nil, fmt.Errorf(`image %q has an empty "exec" (try --exec=BINARY)`, p.ImageName)
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
