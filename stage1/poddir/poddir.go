// Package poddir reads what a stage1 needs from a pod directory: the
// pod manifest, the apps' image manifests and each app's effective
// settings, and names the paths of the stage1 and app rootfses in it.
package poddir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/stage1abi"
)

// AppRootfs returns the host path of the rootfs of app in the pod
// directory dir.
func AppRootfs(dir, app string) string {
	return filepath.Join(dir, filepath.FromSlash(stage1abi.AppRootfsRel(app)))
}

// Stage1Path returns the host path of rel inside the stage1 rootfs of
// the pod directory dir.
func Stage1Path(dir string, rel ...string) string {
	return filepath.Join(append([]string{dir, stage1abi.Stage1RootfsRel}, rel...)...)
}

// ReadPodManifest reads <dir>/pod.
func ReadPodManifest(dir string) (*schema.PodManifest, error) {
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

// ReadImageManifest reads the image manifest of app from the stage1
// rootfs of the pod directory dir; a missing one is not an error (nil).
func ReadImageManifest(dir, app string) (*schema.ImageManifest, error) {
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

// EffectiveApp returns the settings the app ra of the pod in dir runs
// with (the pod manifest's, else its image's), the name of its image
// for messages (the pod manifest's, else the image manifest's, else the
// app's name) and its image manifest (nil when the pod has none). It
// fails when the app has no exec.
func EffectiveApp(dir string, ra *schema.RuntimeApp) (app *types.App, imageName string, im *schema.ImageManifest, err error) {
	name := ra.Name.String()
	im, err = ReadImageManifest(dir, name)
	if err != nil {
		return nil, "", nil, err
	}
	app = ra.App
	if app == nil && im != nil {
		app = im.App
	}
	switch {
	case ra.Image.Name != nil && !ra.Image.Name.Empty():
		imageName = ra.Image.Name.String()
	case im != nil:
		imageName = im.Name.String()
	default:
		imageName = name
	}
	if app == nil || len(app.Exec) == 0 || strings.TrimSpace(app.Exec[0]) == "" {
		return nil, "", nil, fmt.Errorf(`image %q has an empty "exec" (try --exec=BINARY)`, imageName)
	}
	return app, imageName, im, nil
}

// EnvFilePaths are where a reader outside the pod's mount namespace
// (fly's `enter`) finds the env file of app, in order: rkt/env/<app> in
// the stage1 overlay's upper layer, where the stage1's writes to its
// mounted overlay land; the same in the stage1 rootfs, a copy with
// --no-overlay; and appsinfo/<app>/env, a second copy that pods of
// earlier builds had.
func EnvFilePaths(dir, app string) []string {
	rel := filepath.Join(filepath.FromSlash(stage1abi.EnvDir), app)
	return []string{
		filepath.Join(dir, filepath.FromSlash(stage1abi.Stage1UpperRel), rel),
		Stage1Path(dir, rel),
		filepath.Join(dir, stage1abi.AppsInfoDir, app, "env"),
	}
}

// WriteEnvFile writes data, the env file of app (see
// stage2app.FormatEnvFile), at rkt/env/<app> in the stage1 rootfs
// (reference PODF-18), readable by root only: environments may hold
// secrets.
func WriteEnvFile(dir, app string, data []byte) error {
	f := Stage1Path(dir, filepath.FromSlash(stage1abi.EnvDir), app)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(f), err)
	}
	if err := atomicfile.Publish(f, data, 0o640); err != nil {
		return fmt.Errorf("write the env file: %w", err)
	}
	return nil
}
