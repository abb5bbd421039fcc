package podmount

import (
	"fmt"
	"os"

	"github.com/rkt/rkt/common/fscopy"
	"github.com/rkt/rkt/stage1/stage2app"
)

// Rootfs makes the mounts of one app rootfs: targets are resolved inside
// it (never through its symlinks onto the host) and created to match
// their source, except below the host file systems bound into it.
type Rootfs struct {
	// Path is the app rootfs on the host.
	Path string
	// NoCreate are host paths under Path (binds of host or kernel file
	// systems) below which no missing mount target may be created.
	NoCreate []string
	// Debugf logs each bind; nil logs nothing.
	Debugf func(format string, a ...any)
}

// Target resolves p inside the rootfs and creates it when missing, as a
// directory or a file.
func (r *Rootfs) Target(p string, dir bool) (string, error) {
	return stage2app.PrepareTarget(r.Path, p, dir, r.NoCreate)
}

// BindInto binds the host path src onto p inside the rootfs, creating
// the target to match src's type. It returns the target's host path.
func (r *Rootfs) BindInto(src, p string, recursive, readOnly bool) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", src, err)
	}
	target, err := r.Target(p, fi.IsDir())
	if err != nil {
		return "", err
	}
	if err := Bind(src, target, recursive, readOnly); err != nil {
		return "", err
	}
	if r.Debugf != nil {
		r.Debugf("bound %s on %s (recursive=%v, read-only=%v)", src, target, recursive, readOnly)
	}
	return target, nil
}

// MountVolume mounts one of the pod's volumes (from the pod directory
// podDir) into the app.
func (r *Rootfs) MountVolume(podDir string, vm stage2app.VolumeMount) error {
	v := vm.Volume
	src, err := stage2app.VolumeSource(podDir, v)
	if err != nil {
		return err
	}
	if vm.CopyUp {
		if err := r.copyUp(vm.Path, src); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
	}
	target, err := r.BindInto(src, vm.Path, vm.Recursive, vm.ReadOnly)
	if err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if v.Kind == stage2app.VolumeHost {
		// Never create mount targets inside a host directory.
		r.NoCreate = append(r.NoCreate, target)
	}
	return nil
}

// copyUp gives the fresh empty volume dir the content, mode and owner
// of the image's directory at p, as Docker does for a VOLUME. A volume
// that already holds something (an app restarted, or another app's
// volume of that name) is left as it is.
func (r *Rootfs) copyUp(p, dir string) error {
	img, err := stage2app.InRoot(r.Path, p)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(img); err != nil || !fi.IsDir() {
		return nil // nothing in the image to copy
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) > 0 {
		return err
	}
	if err := os.Remove(dir); err != nil {
		return err
	}
	if err := fscopy.Copy(img, dir); err != nil {
		return fmt.Errorf("copying the image's %s into its volume: %w", p, err)
	}
	if r.Debugf != nil {
		r.Debugf("copied the image's %s into its volume %s", p, dir)
	}
	return nil
}
