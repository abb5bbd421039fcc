package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/userns"
)

// IDMapper holds what a --private-users pod needs: its id range, and a
// user namespace of that range whose only use is to idmap mounts. The
// apps' trees are never chowned: each app rootfs is an overlay whose
// read-only lower layer is an idmapped mount of the shared tree (host
// uid 0 shows as the range's first id), its upper layer the pod's own
// directory, where what the apps write lands with the shifted ids. The
// kernel (6.x) cannot idmap an overlay mount itself, but takes idmapped
// layers, passed as mount fds ("lowerdir+"). A --no-overlay rootfs is
// the pod's private copy: it is chowned. The volumes are idmapped bind
// mounts.
//
// The supervisor itself stays in the host's user namespace: a Go process
// cannot setns(2) into a user namespace, so every app process is
// started in a new user namespace with the pod's mapping (see
// setUserNS); they all share the pod's other namespaces.
type IDMapper struct {
	ids  userns.Range
	nsfd int
}

// NewIDMapper makes the idmapping user namespace: a child cloned into a
// new user namespace with the range's mapping, stopped by ptrace before
// it runs anything, lends it to us through /proc/PID/ns/user and is
// killed. The namespace lives on as long as the fd is open.
func NewIDMapper(ids userns.Range) (*IDMapper, error) {
	runtime.LockOSThread() // the tracer is this thread
	defer runtime.UnlockOSThread()
	attr := &syscall.SysProcAttr{Ptrace: true}
	setUserNS(attr, ids)
	attr.Credential = nil
	p, err := os.StartProcess("/proc/self/exe", []string{"userns"}, &os.ProcAttr{Sys: attr})
	if err != nil {
		return nil, fmt.Errorf("--private-users: user namespace: %w", err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", p.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	_ = p.Kill()
	_, _ = p.Wait()
	if err != nil {
		return nil, fmt.Errorf("--private-users: user namespace: %w", err)
	}
	return &IDMapper{ids: ids, nsfd: fd}, nil
}

// NSFD is the idmapping user namespace's fd.
func (m *IDMapper) NSFD() int { return m.nsfd }

// Close drops the idmapping user namespace (the mounts keep their
// mapping).
func (m *IDMapper) Close() {
	if m != nil && m.nsfd >= 0 {
		unix.Close(m.nsfd)
		m.nsfd = -1
	}
}

// setUserNS makes a process start as root of a new user namespace with
// the pod's mapping: ids 0..Count-1 inside are Shift.. on the host.
func setUserNS(attr *syscall.SysProcAttr, ids userns.Range) {
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(ids.Shift), Size: int(ids.Count)}}
	attr.Cloneflags |= unix.CLONE_NEWUSER
	attr.UidMappings, attr.GidMappings = m, m
	// The apps may set their supplementary groups.
	attr.GidMappingsEnableSetgroups = true
	// Become the namespace's root, so that the helper starts with the
	// same credentials (and capabilities) as without --private-users.
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
}

// idmapped returns a detached clone of the mount tree at path with the
// pod's idmapping (and read-only if asked), as an O_CLOEXEC mount fd.
func (m *IDMapper) idmapped(path string, recursive, readOnly bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	setFlags := unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(m.nsfd)}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", uint(setFlags), attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmapping %s: %w", path, err)
	}
	return fd, nil
}

// RemountRootfs replaces the app rootfs stage0 made with an idmapped
// one: an overlay again, its lower layers idmapped, or, for a
// --no-overlay pod, an idmapped bind of the pod's copy onto itself.
func (m *IDMapper) RemountRootfs(rootfs string) error {
	opts, isOverlay, err := overlayOptions(rootfs)
	if err != nil {
		return err
	}
	if !isOverlay {
		// The copy is the pod's own: shift its owners. (An idmapped
		// bind would do without the walk, but then nothing could be
		// created in it by host root, such as the supervisor's mount
		// targets: host uid 0 has no id in that mount.)
		return m.chownTree(rootfs)
	}
	lowers, upper, work := opts.lowers, opts.upper, opts.work
	if len(lowers) == 0 || upper == "" || work == "" {
		return fmt.Errorf("overlay on %s: no lower, upper or work directory in its options", rootfs)
	}
	// The overlay's root is the upper directory's inode: give it the
	// owner the tree's root has inside, the first layer's shifted.
	// (The upper directory is the pod's own; the tree is not touched.)
	var st unix.Stat_t
	if err := unix.Stat(lowers[0], &st); err != nil {
		return fmt.Errorf("overlay lower %s: %w", lowers[0], err)
	}
	if err := os.Lchown(upper, int(m.shift(st.Uid)), int(m.shift(st.Gid))); err != nil {
		return fmt.Errorf("overlay upper %s: %w", upper, err)
	}
	if err := unix.Unmount(rootfs, 0); err != nil {
		return fmt.Errorf("unmounting %s: %w", rootfs, err)
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer unix.Close(fsfd)
	for _, l := range lowers {
		fd, err := m.idmapped(l, false, true)
		if err != nil {
			return err
		}
		// The detached mount lives as long as its fd: keep it open
		// until the overlay holds the layer.
		defer unix.Close(fd)
		if err := unix.FsconfigSetFd(fsfd, "lowerdir+", fd); err != nil {
			return fmt.Errorf("overlay on %s: idmapped lower layer %s: %w", rootfs, l, err)
		}
	}
	for _, kv := range [][2]string{{"upperdir", upper}, {"workdir", work}} {
		if err := unix.FsconfigSetString(fsfd, kv[0], kv[1]); err != nil {
			return fmt.Errorf("overlay on %s: %s=%s: %w", rootfs, kv[0], kv[1], err)
		}
	}
	if opts.volatile {
		// Stage0's volatile overlay on the same layers was unmounted
		// cleanly just now: its marker, which would make overlayfs
		// refuse the layers, can go (see runpod).
		if err := os.RemoveAll(filepath.Join(work, "work", "incompat", "volatile")); err != nil {
			return fmt.Errorf("overlay on %s: %w", rootfs, err)
		}
		if err := unix.FsconfigSetFlag(fsfd, "volatile"); err != nil {
			return fmt.Errorf("overlay on %s: volatile: %w", rootfs, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("overlay on %s with idmapped lower layers: %w", rootfs, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("overlay on %s: %w", rootfs, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, rootfs, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting the overlay on %s: %w", rootfs, err)
	}
	return nil
}

// chownTree shifts the owners of everything below dir into the pod's
// range, keeping the setuid and setgid bits chown clears.
func (m *IDMapper) chownTree(dir string) error {
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner", p)
		}
		if err := os.Lchown(p, int(m.shift(st.Uid)), int(m.shift(st.Gid))); err != nil {
			return fmt.Errorf("shifting owners: %w", err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 && fi.Mode()&os.ModeSymlink == 0 {
			if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
				return fmt.Errorf("shifting owners: %w", err)
			}
		}
		return nil
	})
}

// shift maps an id of the tree to the host id it has inside the pod's
// range; ids outside the range are the overflow id.
func (m *IDMapper) shift(id uint32) uint32 {
	if id >= m.ids.Count {
		return 65534
	}
	return m.ids.Shift + id
}

// overlayLayers are the layer directories of an overlay mount.
type overlayLayers struct {
	lowers      []string
	upper, work string
	volatile    bool // mounted with the volatile option
}

// overlayOptions reads the layers of the mount at target from
// /proc/self/mountinfo; isOverlay is false when target is not the mount
// point of an overlay.
func overlayOptions(target string) (overlayLayers, bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return overlayLayers{}, false, err
	}
	defer f.Close()
	return parseOverlayOptions(f, target)
}

// parseOverlayOptions is overlayOptions on a mountinfo table.
func parseOverlayOptions(r io.Reader, target string) (overlayLayers, bool, error) {
	var out overlayLayers
	target = filepath.Clean(target)
	var super string
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, rest := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(rest) < 3 || mount.Unescape(fields[4]) != target {
			continue
		}
		// The last mount on target is the one in use.
		found = rest[0] == "overlay"
		super = rest[2]
	}
	if err := sc.Err(); err != nil {
		return out, false, fmt.Errorf("reading mountinfo: %w", err)
	}
	if !found {
		return out, false, nil
	}
	// The kernel escapes ',' and '\' in option values, so a plain split
	// is safe.
	for _, o := range strings.Split(super, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if l != "" {
					out.lowers = append(out.lowers, mount.Unescape(l))
				}
			}
		case "lowerdir+":
			out.lowers = append(out.lowers, mount.Unescape(v))
		case "upperdir":
			out.upper = mount.Unescape(v)
		case "workdir":
			out.work = mount.Unescape(v)
		case "volatile": // shown as fsync=volatile since Linux 6.2
			out.volatile = true
		case "fsync":
			out.volatile = v == "volatile"
		}
	}
	return out, true, nil
}

// allowUnprivilegedNet lets the apps bind ports below 1024 and open ICMP
// echo sockets in the pod's network namespace: that namespace belongs to
// the host's user namespace (the supervisor's), so the apps' root, root
// of its own user namespace only, has no CAP_NET_BIND_SERVICE there.
// Docker does the same by default. Only for a namespace of the pod's own.
func allowUnprivilegedNet() error {
	for _, kv := range [][2]string{
		{"/proc/sys/net/ipv4/ip_unprivileged_port_start", "0"},
		{"/proc/sys/net/ipv4/ping_group_range", "0 2147483647"},
	} {
		if err := os.WriteFile(kv[0], []byte(kv[1]), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--private-users: %s: %w", kv[0], err)
		}
	}
	return nil
}
