package stage2app

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/manifest"
)

// Volume kinds (appc).
const (
	VolumeHost  = "host"
	VolumeEmpty = "empty"
)

// VolumeMount is one volume to mount into the app: what the pod
// manifest's mounts, volumes and the app's mount points add up to.
type VolumeMount struct {
	// Volume is the volume mounted (kind host or empty).
	Volume manifest.Volume
	// Path is the target, absolute inside the app's rootfs.
	Path string
	// ReadOnly makes the mount read-only.
	ReadOnly bool
	// Recursive binds the source's submounts too (host volumes only).
	Recursive bool
	// Implicit is true for a mount point no volume satisfied: it gets an
	// empty volume (reference VOL-04).
	Implicit bool
	// CopyUp fills an implicit empty volume with what the app's image
	// has at Path (Docker's rule, for apps annotated with
	// stage1abi.AnnotationVolumeCopyUp).
	CopyUp bool
}

// PlanVolumes works out the app's volume mounts (reference VOL-01..06):
// each of the app's mounts with its volume (inline appVolume, else the pod
// volume of that name); then each mount point of the app no mount covers
// (by name or path) with the pod volume of its name, or an implicit empty
// volume when there is none (returned as a warning). A volume's readOnly
// wins over the mount point's. Host volumes are bound non-recursively
// unless the volume says recursive=true (fly's rule, VOL-06). The result
// is ordered so that a mount never hides a deeper one made before it.
func PlanVolumes(pm *manifest.PodManifest, ra *manifest.RuntimeApp, app *manifest.App) ([]VolumeMount, []string, error) {
	vols := map[string]manifest.Volume{}
	for _, v := range pm.Volumes {
		if _, dup := vols[v.Name]; dup {
			return nil, nil, fmt.Errorf("duplicate volume %q in the pod manifest", v.Name)
		}
		vols[v.Name] = v
	}
	var mps []manifest.MountPoint
	if app != nil {
		mps = app.MountPoints
	}
	mountPointFor := func(name string, p string) *manifest.MountPoint {
		for i := range mps {
			if path.Clean(mps[i].Path) == p {
				return &mps[i]
			}
		}
		for i := range mps {
			if mps[i].Name == name {
				return &mps[i]
			}
		}
		return nil
	}

	var out []VolumeMount
	var warnings []string
	byPath := map[string]bool{}
	byName := map[string]bool{}
	for _, m := range ra.Mounts {
		p, err := cleanTarget(m.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("mount of volume %q: %w", m.Volume, err)
		}
		if byPath[p] {
			return nil, nil, fmt.Errorf("duplicate mount at %q", p)
		}
		var v manifest.Volume
		if m.AppVolume != nil {
			v = *m.AppVolume
		} else if pv, ok := vols[m.Volume]; ok {
			v = pv
		} else {
			return nil, nil, fmt.Errorf("no volume %q for the mount at %q", m.Volume, p)
		}
		mp := mountPointFor(m.Volume, p)
		vm, err := volumeMount(v, p, mp)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, vm)
		byPath[p], byName[m.Volume] = true, true
	}
	for _, mp := range mps {
		p, err := cleanTarget(mp.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("mount point %q: %w", mp.Name, err)
		}
		if byPath[p] || byName[mp.Name] {
			continue
		}
		v, ok := vols[mp.Name]
		if !ok {
			v = implicitVolume(mp.Name)
			warnings = append(warnings, fmt.Sprintf("no volume for mount point %q at %q: using an empty volume", mp.Name, p))
		}
		vm, err := volumeMount(v, p, &mp)
		if err != nil {
			return nil, nil, err
		}
		vm.Implicit = !ok
		if copyUp, _ := ra.Annotations.Get(stage1abi.AnnotationVolumeCopyUp); vm.Implicit && copyUp == "true" {
			vm.CopyUp = true
		}
		out = append(out, vm)
		byPath[p], byName[mp.Name] = true, true
	}
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i].Path) < depth(out[j].Path) })
	return out, warnings, nil
}

// volumeMount combines a volume with its target and mount point.
func volumeMount(v manifest.Volume, p string, mp *manifest.MountPoint) (VolumeMount, error) {
	vm := VolumeMount{Volume: v, Path: p}
	switch v.Kind {
	case VolumeHost:
		if !path.IsAbs(v.Source) {
			return vm, fmt.Errorf("host volume %q: source %q is not an absolute path", v.Name, v.Source)
		}
		vm.Recursive = v.Recursive != nil && *v.Recursive
	case VolumeEmpty:
	default:
		return vm, fmt.Errorf("volume %q: unknown kind %q", v.Name, v.Kind)
	}
	switch {
	case v.ReadOnly != nil:
		vm.ReadOnly = *v.ReadOnly
	case mp != nil:
		vm.ReadOnly = mp.ReadOnly
	}
	return vm, nil
}

// implicitVolume is the empty volume given to a mount point without one.
func implicitVolume(name string) manifest.Volume {
	mode, uid, gid := "0755", 0, 0
	return manifest.Volume{Name: name, Kind: VolumeEmpty, Mode: &mode, UID: &uid, GID: &gid}
}

// EmptyVolumeAttrs returns the mode, owner and group of an empty volume's
// directory (defaults 0755, 0, 0: reference VOL-03).
func EmptyVolumeAttrs(v manifest.Volume) (mode uint32, uid, gid int, err error) {
	mode, uid, gid = 0o755, 0, 0
	if v.Mode != nil && *v.Mode != "" {
		m, perr := strconv.ParseUint(*v.Mode, 8, 32)
		if perr != nil || m > 0o7777 {
			return 0, 0, 0, fmt.Errorf("empty volume %q: invalid mode %q", v.Name, *v.Mode)
		}
		mode = uint32(m)
	}
	if v.UID != nil {
		uid = *v.UID
	}
	if v.GID != nil {
		gid = *v.GID
	}
	if uid < 0 || gid < 0 {
		return 0, 0, 0, fmt.Errorf("empty volume %q: negative uid or gid", v.Name)
	}
	return mode, uid, gid, nil
}

// cleanTarget checks a mount target is absolute and cleans it.
func cleanTarget(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("target %q is not an absolute path", p)
	}
	p = path.Clean(p)
	if p == "/" {
		return "", fmt.Errorf("can't mount a volume on the app's root")
	}
	return p, nil
}

// depth is the number of components of a clean absolute path.
func depth(p string) int { return strings.Count(p, "/") }

// PrepareEmptyVolume creates (or re-owns) an empty volume's directory
// <pod>/sharedVolumes/<name> and returns its path.
func PrepareEmptyVolume(podDir, name string, mode uint32, uid, gid int) (string, error) {
	parent := filepath.Join(podDir, stage1abi.SharedVolumesDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	if err := unix.Chmod(parent, 0o755); err != nil {
		return "", fmt.Errorf("chmod %s: %w", parent, err)
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("create empty volume %q: %w", name, err)
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return "", fmt.Errorf("chown empty volume %q: %w", name, err)
	}
	if err := unix.Chmod(dir, mode); err != nil {
		return "", fmt.Errorf("chmod empty volume %q: %w", name, err)
	}
	return dir, nil
}

// VolumeSource returns the host path to bind for the volume v of the pod
// in podDir: an empty volume's directory, prepared with its mode and
// owner, or a host volume's source with its symlinks resolved.
func VolumeSource(podDir string, v manifest.Volume) (string, error) {
	if v.Kind == VolumeEmpty {
		mode, uid, gid, err := EmptyVolumeAttrs(v)
		if err != nil {
			return "", err
		}
		return PrepareEmptyVolume(podDir, v.Name, mode, uid, gid)
	}
	src, err := filepath.EvalSymlinks(v.Source)
	if err != nil {
		return "", fmt.Errorf("host volume %q: source: %w", v.Name, err)
	}
	return src, nil
}
