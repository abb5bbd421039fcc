package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/security/paths"
	"github.com/rkt/rkt/stage1/podmount"
	"github.com/rkt/rkt/stage1/readiness"
	"github.com/rkt/rkt/stage1/stage2app"
)

// mounter makes the mounts of an app rootfs (in the supervisor's mount
// namespace, which dies with the pod).
type mounter struct {
	podmount.Rootfs
	log *logger
	// owner is the host uid and gid of the pod's root: the shift of a
	// --private-users pod, else 0. The file systems of /dev belong to it.
	owner uint32
}

// mountFS mounts a kernel file system on the directory p in the rootfs.
func (m *mounter) mountFS(p, fstype, source string, flags uintptr, data string) (string, error) {
	target, err := m.Target(p, true)
	if err != nil {
		return "", err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return target, nil
}

// devNodes are the device files of the app's minimal /dev, the same
// devices as the host's.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// ttyGID is the group of the pod's ptys (the tty group of most images).
const ttyGID = 5

// devSymlinks are the symlinks of the app's /dev.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "fd"},
	{"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"},
	{"pts/ptmx", "ptmx"},
}

// setupDev mounts a minimal /dev: a tmpfs with the host's basic device
// nodes bound in, a new devpts instance, /dev/shm and /dev/mqueue.
func (m *mounter) setupDev() (string, error) {
	own := fmt.Sprintf(",uid=%d,gid=%d", m.owner, m.owner)
	dev, err := m.mountFS("/dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"+own)
	if err != nil {
		return "", err
	}
	// Made with mknod (the supervisor is root of the host) rather than
	// bound from the host's /dev: no mount. Then chmod, since the umask
	// applies (and is per process: not changed here).
	for _, n := range devNodes {
		var st unix.Stat_t
		if err := unix.Stat("/dev/"+n, &st); err != nil {
			return "", fmt.Errorf("the host's /dev/%s: %w", n, err)
		}
		t := filepath.Join(dev, n)
		if err := unix.Mknod(t, unix.S_IFCHR|0o666, int(st.Rdev)); err != nil {
			return "", fmt.Errorf("create %s: %w", t, err)
		}
		if err := unix.Chmod(t, 0o666); err != nil {
			return "", fmt.Errorf("chmod %s: %w", t, err)
		}
	}
	for _, l := range devSymlinks {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return "", fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	if _, err := m.mountFS("/dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC,
		fmt.Sprintf("newinstance,ptmxmode=0666,mode=0620,gid=%d", m.owner+ttyGID)); err != nil {
		return "", err
	}
	if _, err := m.mountFS("/dev/shm", "tmpfs", "shm", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"+own); err != nil {
		return "", err
	}
	if _, err := m.mountFS("/dev/mqueue", "mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		m.log.Warnf("no /dev/mqueue in the app: %v", err)
	}
	return dev, nil
}

// idmapVolume replaces a volume's bind mount in a --private-users pod by
// an idmapped clone of it, so that the pod's root owns what host root
// owns. A volume whose file system cannot be idmapped (devtmpfs: a host
// device passed by a volume) stays as it is, with the host's owners,
// which the apps see as the overflow id.
func (m *mounter) idmapVolume(vm stage2app.VolumeMount, ids *IDMapper) error {
	target, err := stage2app.InRoot(m.Path, vm.Path)
	if err != nil {
		return fmt.Errorf("volume %q: %w", vm.Volume.Name, err)
	}
	fd, err := ids.idmapped(target, vm.Recursive, false)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) {
		m.log.Debugf("volume %q: %v: left without idmapping", vm.Volume.Name, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("volume %q: %w", vm.Volume.Name, err)
	}
	defer unix.Close(fd)
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("volume %q: unmounting %s: %w", vm.Volume.Name, target, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("volume %q: mounting it idmapped on %s: %w", vm.Volume.Name, target, err)
	}
	m.log.Debugf("volume %q idmapped on %s", vm.Volume.Name, target)
	return nil
}

// prepareRootfs makes what an app's rootfs needs before its mounts and
// that no mount changes: /tmp and /etc/mtab when the image lacks them.
// The first write into the image's /etc copies the directory up into the
// app's overlay layer: ~0.15 ms an app, made while the pod's first app
// is mounted (setupAppMounts waits for it).
func prepareRootfs(rootfs string) error {
	if err := stage2app.EnsureTmp(rootfs); err != nil {
		return err
	}
	return ensureMtab(rootfs)
}

// ensureMtab makes /etc/mtab a symlink to ../proc/self/mounts when the
// image has none.
func ensureMtab(rootfs string) error {
	etc, err := stage2app.InRoot(rootfs, "/etc")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return fmt.Errorf("create /etc in the app: %w", err)
	}
	t := filepath.Join(etc, "mtab")
	if _, err := os.Lstat(t); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink("../proc/self/mounts", t); err != nil {
		return fmt.Errorf("create /etc/mtab: %w", err)
	}
	return nil
}

// setupShared mounts /proc, /sys (read-only) and a minimal /dev in the
// rootfs, then masks the sensitive paths of the first two unless the
// pod is run with --insecure-options=paths.
// It returns where the three are mounted, in the order of sharedDirs.
func (m *mounter) setupShared(mask bool) ([]string, error) {
	proc, err := m.mountFS("/proc", "proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err != nil {
		return nil, err
	}
	m.NoCreate = append(m.NoCreate, proc)
	sys, err := m.mountFS("/sys", "sysfs", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, "")
	if err != nil {
		return nil, err
	}
	m.NoCreate = append(m.NoCreate, sys)
	dev, err := m.setupDev()
	if err != nil {
		return nil, err
	}
	if mask {
		if err := paths.Apply(m.Path); err != nil {
			return nil, err
		}
	}
	return []string{proc, sys, dev}, nil
}

// bindShared binds the template app's /proc, /sys and /dev (shared, as
// setupShared returned them), with every mount below them (masks,
// devpts, shm, mqueue), into this rootfs. The
// copies keep each mount's flags, read-only included; mounts made in
// the template later (its volumes) do not reach them, the supervisor's
// mount namespace being private.
func (m *mounter) bindShared(shared []string) error {
	for i, d := range sharedDirs {
		if shared[i] == "" { // not shared (see devShared): its own
			if _, err := m.setupDev(); err != nil {
				return err
			}
			continue
		}
		target, err := m.Target(d, true)
		if err != nil {
			return err
		}
		if err := unix.Mount(shared[i], target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s of the pod on %s: %w", d, target, err)
		}
		m.NoCreate = append(m.NoCreate, target)
	}
	return nil
}

// devShared reports whether the apps can share one /dev, given each
// one's volume mounts: not when one mounts a volume below it, whose mount
// point would appear in the others' /dev.
func devShared(vols [][]stage2app.VolumeMount) bool {
	for _, vms := range vols {
		for _, vm := range vms {
			if t := path.Clean(vm.Path); t == "/dev" || strings.HasPrefix(t, "/dev/") {
				return false
			}
		}
	}
	return true
}

// podFiles are the per-pod files the supervisor binds into every app.
type podFiles struct {
	hostname string // file holding the hostname
	dns      stage2app.DNSModes
	// roFiles are the read-only binds of files (hostname, hosts,
	// resolv.conf) that the pod's first app got: source → where it is
	// mounted in that app. The other apps bind that mount instead of the
	// source: a bind of a read-only mount is read-only, so each file
	// costs them one mount, not a bind and a remount. Only the first
	// app's setup writes it, before the others' start.
	roFiles map[string]string
}

// bindFileRO binds the file src read-only on p in the rootfs: in the
// pod's first app (first set) with a bind and a remount, recorded in
// pf.roFiles; in the others, when the first app bound the same src, as
// a bind of its mount.
func (m *mounter) bindFileRO(pf *podFiles, first bool, src, p string) error {
	if !first {
		if ro, ok := pf.roFiles[src]; ok {
			_, err := m.BindInto(ro, p, false, false)
			return err
		}
	}
	target, err := m.BindInto(src, p, false, true)
	if err != nil {
		return err
	}
	if first {
		if pf.roFiles == nil {
			pf.roFiles = map[string]string{}
		}
		pf.roFiles[src] = target
	}
	return nil
}

// sharedDirs are the kernel file systems every app of a pod sees alike:
// /proc of the pod's PID namespace with its masked paths, /sys, /dev.
var sharedDirs = []string{"/proc", "/sys", "/dev"}

// setupAppMounts makes every mount of one app: /proc of the pod's PID
// namespace, /sys read-only, a minimal /dev, hostname, DNS files, the volume mounts vms (stage2app.PlanVolumes), the sd_notify
// socket at notify (when not ""), and a read-only root when asked. With
// ids (a --private-users pod) the volumes are idmapped. rootfsReady
// waits for prepareRootfs, started in the background, and returns its
// error. The first app's /proc, /sys and /dev are made
// here, masked when mask is set (paths.Apply), and returned; every other
// app gets them (shared) as recursive binds: three mounts instead of some
// forty. The first app must be set up before the others start.
func setupAppMounts(p *Pod, a *App, vms []stage2app.VolumeMount, pf *podFiles, ids *IDMapper, notify string, shared []string, mask bool, rootfsReady func() error, l *logger) ([]string, error) {
	rootfs := p.AppRootfs(a.Name())
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("app %q has no rootfs at %s", a.Name(), rootfs)
	}
	m := &mounter{Rootfs: podmount.Rootfs{Path: rootfs, Debugf: l.Debugf}, log: l}
	if ids != nil {
		m.owner = ids.ids.Shift
	}
	ro := a.RuntimeApp.ReadOnlyRootFS
	if ro {
		if err := podmount.Bind(rootfs, rootfs, true, false); err != nil {
			return nil, err
		}
	}
	first := shared == nil
	if !first {
		if err := m.bindShared(shared); err != nil {
			return nil, err
		}
	} else {
		var err error
		if shared, err = m.setupShared(mask); err != nil {
			return nil, err
		}
	}
	// /tmp and /etc/mtab (prepareRootfs) were made in the background.
	if err := rootfsReady(); err != nil {
		return nil, err
	}
	if err := m.bindFileRO(pf, first, pf.hostname, "/etc/hostname"); err != nil {
		return nil, fmt.Errorf("/etc/hostname: %w", err)
	}
	if err := setupDNS(m, p, pf, first); err != nil {
		return nil, err
	}
	for _, vm := range vms {
		if err := m.MountVolume(p.Dir, vm); err != nil {
			return nil, err
		}
		if ids != nil {
			if err := m.idmapVolume(vm, ids); err != nil {
				return nil, err
			}
		}
	}
	if notify != "" {
		if _, err := m.BindInto(notify, readiness.AppSocket, false, false); err != nil {
			return nil, fmt.Errorf("the sd_notify socket: %w", err)
		}
	}
	if ro {
		if err := podmount.RemountReadOnly(rootfs); err != nil {
			return nil, err
		}
	}
	return shared, nil
}
