// Package poddir names the paths of the stage1 and app rootfses in a pod
// directory, and writes and finds the apps' env files (the manifests are
// package manifest's).
package poddir

import (
	"fmt"
	"os"
	"path/filepath"

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
	// Written before the app starts, read by `enter` into a running app:
	// no reader sees it half written.
	if err := atomicfile.WriteInPlace(f, data, 0o640); err != nil {
		return fmt.Errorf("write the env file: %w", err)
	}
	return nil
}
