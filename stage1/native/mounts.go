package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/fly"
)

// depth is the number of components of a clean absolute path.
func depth(p string) int { return strings.Count(p, "/") }

// mounter makes the mounts of an app rootfs (in the supervisor's mount
// namespace, which dies with the pod).
type mounter struct {
	rootfs string
	// noCreate are host paths under rootfs (binds of host file systems,
	// kernel file systems) below which no mount target may be created.
	noCreate []string
	log      *logger
}

// target resolves p inside the rootfs and creates it when missing.
func (m *mounter) target(p string, dir bool) (string, error) {
	return fly.PrepareTarget(m.rootfs, p, dir, m.noCreate)
}

// bindInto binds the host path src onto p inside the rootfs.
func (m *mounter) bindInto(src, p string, recursive, readOnly bool) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("bind %s: %w", src, err)
	}
	target, err := m.target(p, fi.IsDir())
	if err != nil {
		return "", err
	}
	if err := bindMount(src, target, recursive, readOnly); err != nil {
		return "", err
	}
	m.log.Debugf("bound %s on %s (recursive=%v, read-only=%v)", src, target, recursive, readOnly)
	return target, nil
}

// mountFS mounts a kernel file system on the directory p in the rootfs.
func (m *mounter) mountFS(p, fstype, source string, flags uintptr, data string) (string, error) {
	target, err := m.target(p, true)
	if err != nil {
		return "", err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return target, nil
}

// bindMount binds src onto target, read-only if asked.
func bindMount(src, target string, recursive, readOnly bool) error {
	flags := uintptr(unix.MS_BIND)
	if recursive {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(src, target, "", flags, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	if !readOnly {
		return nil
	}
	targets := []string{target}
	if recursive {
		mps, err := readMountPoints()
		if err != nil {
			return err
		}
		targets = append(targets, mountsUnder(mps, target)...)
	}
	for _, t := range targets {
		if err := remountReadOnly(t); err != nil {
			return err
		}
	}
	return nil
}

// remountReadOnly makes the bind mount at target read-only, keeping its
// other flags.
func remountReadOnly(target string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", target, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// devNodes are the device files of the app's minimal /dev, bound from the
// host's.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

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
func (m *mounter) setupDev() error {
	dev, err := m.mountFS("/dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k")
	if err != nil {
		return err
	}
	for _, n := range devNodes {
		t := filepath.Join(dev, n)
		f, err := os.OpenFile(t, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return fmt.Errorf("create %s: %w", t, err)
		}
		f.Close()
		if err := bindMount("/dev/"+n, t, false, false); err != nil {
			return err
		}
	}
	for _, l := range devSymlinks {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	if _, err := m.mountFS("/dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC,
		"newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	shm, err := m.mountFS("/dev/shm", "tmpfs", "shm", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k")
	if err != nil {
		return err
	}
	_ = shm
	if _, err := m.mountFS("/dev/mqueue", "mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		m.log.Warnf("no /dev/mqueue in the app: %v", err)
	}
	return nil
}

// ensureTmp gives the app a /tmp (mode 1777) when its image has none.
func ensureTmp(rootfs string) error {
	t, err := fly.InRoot(rootfs, "/tmp")
	if err != nil {
		return err
	}
	if _, err := os.Lstat(t); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(t, 0o755); err != nil {
		return fmt.Errorf("create /tmp in the app: %w", err)
	}
	if err := unix.Chmod(t, 0o1777); err != nil {
		return fmt.Errorf("chmod /tmp in the app: %w", err)
	}
	return nil
}

// ensureMtab makes /etc/mtab a symlink to ../proc/self/mounts when the
// image has none.
func ensureMtab(rootfs string) error {
	etc, err := fly.InRoot(rootfs, "/etc")
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

// prepareEmptyVolume creates (or re-owns) an empty volume's directory
// <pod>/sharedVolumes/<name> and returns its path.
func prepareEmptyVolume(podDir, name string, mode uint32, uid, gid int) (string, error) {
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

// mountVolume mounts one volume into the app.
func mountVolume(m *mounter, p *Pod, vm fly.VolumeMount) error {
	v := vm.Volume
	var src string
	if v.Kind == fly.VolumeEmpty {
		mode, uid, gid, err := fly.EmptyVolumeAttrs(v)
		if err != nil {
			return err
		}
		if src, err = prepareEmptyVolume(p.Dir, v.Name.String(), mode, uid, gid); err != nil {
			return err
		}
	} else {
		var err error
		if src, err = filepath.EvalSymlinks(v.Source); err != nil {
			return fmt.Errorf("host volume %q: source: %w", v.Name, err)
		}
	}
	target, err := m.bindInto(src, vm.Path, vm.Recursive, vm.ReadOnly)
	if err != nil {
		return fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if v.Kind == fly.VolumeHost {
		m.noCreate = append(m.noCreate, target)
	}
	return nil
}

// podFiles are the per-pod files the supervisor binds into every app.
type podFiles struct {
	hostname string // file holding the hostname
	dns      fly.DNSModes
}

// setupAppMounts makes every mount of one app: /proc of the pod's PID
// namespace, /sys read-only, a minimal /dev, /tmp, /etc/mtab, hostname,
// DNS files, volumes, and a read-only root when asked.
func setupAppMounts(p *Pod, a *App, pf *podFiles, l *logger) error {
	rootfs := p.AppRootfs(a.Name())
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return fmt.Errorf("app %q has no rootfs at %s", a.Name(), rootfs)
	}
	m := &mounter{rootfs: rootfs, log: l}
	ro := a.RuntimeApp.ReadOnlyRootFS
	if ro {
		if err := bindMount(rootfs, rootfs, true, false); err != nil {
			return err
		}
	}
	proc, err := m.mountFS("/proc", "proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err != nil {
		return err
	}
	m.noCreate = append(m.noCreate, proc)
	sys, err := m.mountFS("/sys", "sysfs", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY, "")
	if err != nil {
		return err
	}
	m.noCreate = append(m.noCreate, sys)
	if err := m.setupDev(); err != nil {
		return err
	}
	if err := ensureTmp(rootfs); err != nil {
		return err
	}
	if err := ensureMtab(rootfs); err != nil {
		return err
	}
	if _, err := m.bindInto(pf.hostname, "/etc/hostname", false, true); err != nil {
		return fmt.Errorf("/etc/hostname: %w", err)
	}
	if err := setupDNS(m, p, pf); err != nil {
		return err
	}
	vms, warnings, err := fly.PlanVolumes(p.Manifest, a.RuntimeApp, a.App)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		l.Warnf("app %q: %s", a.Name(), w)
	}
	for _, vm := range vms {
		if err := mountVolume(m, p, vm); err != nil {
			return err
		}
	}
	if ro {
		if err := remountReadOnly(rootfs); err != nil {
			return err
		}
	}
	return nil
}
