package podctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/mdsclient"
	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/userns"
)

// ErrStage1GC means the stage1's gc entrypoint is missing or failed; the
// pod is kept so that the next gc can try again.
var ErrStage1GC = errors.New("stage1 gc failed")

// remover deletes pods the caller holds the exclusive lock of, as gc's
// sweep and rm do: stage1 gc for pods that ran, unmount leftovers,
// remove the directory. It is safe for concurrent use.
type remover struct {
	env    *cli.Env
	root   dirs.Root
	stdout *syncWriter
	stderr *syncWriter

	mountsOnce sync.Once
	mounts     mount.Table // under $dir/pods, read once
	mountsErr  error
}

func newRemover(env *cli.Env, root dirs.Root) *remover {
	return &remover{
		env:    env,
		root:   root,
		stdout: &syncWriter{w: env.Stdout},
		stderr: &syncWriter{w: env.Stderr},
	}
}

// podMounts returns the mounts left in pod p, from one snapshot of the
// mount table taken the first time any pod asks. A pod moved since the
// snapshot (rm moves each pod before deleting it) has its mounts listed
// under its old place: they are translated to where it is now.
func (r *remover) podMounts(p *pod.Pod) (mount.Table, error) {
	r.mountsOnce.Do(func() {
		t, err := mount.Read()
		r.mounts, r.mountsErr = t.Under(r.root.Pods()), err
	})
	if r.mountsErr != nil {
		return nil, r.mountsErr
	}
	var out mount.Table
	for _, m := range r.mounts {
		rel, err := filepath.Rel(r.root.Pods(), m.MountPoint)
		if err != nil {
			continue
		}
		parts := strings.SplitN(rel, "/", 3) // place, uuid, rest
		if len(parts) < 2 || parts[1] != p.UUID {
			continue
		}
		m.MountPoint = p.Dir()
		if len(parts) == 3 {
			m.MountPoint = filepath.Join(p.Dir(), parts[2])
		}
		out = append(out, m)
	}
	return out, nil
}

// remove deletes pod p, whose exclusive lock the caller holds. ran says
// the pod was started, so its stage1 gc entrypoint must run first
// (exited pods; not pods whose prepare failed or that never ran).
// A pod whose stage1 gc is missing or fails is kept (ErrStage1GC) unless
// its stage1 is gone altogether, which can never get better: it is then
// removed with a warning.
func (r *remover) remove(p *pod.Pod, ran bool) error {
	if _, err := os.Stat(p.Path(mdsclient.RegisteredFile)); err == nil {
		// The pod's stage1 did not unregister it (MDS-03).
		if err := (&mdsclient.Client{}).Unregister(p.UUID); err != nil && !errors.Is(err, mdsclient.ErrNotRegistered) {
			r.stderr.Printf("rkt: warning: pod %q: %v", p.UUID, err)
		}
	}
	if ran {
		if err := r.stage1GC(p); err != nil {
			return err
		}
	}
	// The id range of a --private-users pod is freed once the pod is
	// gone: read it while the pod's file is still there.
	ids, idsErr := podIDRange(p)
	if idsErr != nil {
		r.stderr.Printf("rkt: warning: pod %q: %v", p.UUID, idsErr)
	}
	mounts, err := r.podMounts(p)
	if err != nil {
		return err
	}
	if err := mounts.UnmountUnder(p.Dir()); err != nil {
		r.stderr.Printf("rkt: warning: pod %q: unmounting leftovers: %v", p.UUID, err)
	}
	err = r.removeDir(p)
	if errors.Is(err, errMountPoint) {
		// Mounted after the snapshot, or not seen in it: ask the kernel
		// again for this pod only.
		if uerr := mount.UnmountAll(p.Dir()); uerr != nil {
			return fmt.Errorf("pod %q: unmounting leftovers: %w", p.UUID, uerr)
		}
		err = r.removeDir(p)
	}
	if err != nil {
		return fmt.Errorf("unable to remove pod %q: %w", p.UUID, err)
	}
	if ids != nil {
		if err := userns.Free(r.root, p.UUID, *ids); err != nil {
			r.stderr.Printf("rkt: warning: pod %q: %v", p.UUID, err)
		}
	}
	return nil
}

// podIDRange returns the id range of a --private-users pod, nil for
// other pods.
func podIDRange(p *pod.Pod) (*userns.Range, error) {
	b, err := os.ReadFile(p.Path(stage1abi.PrivateUsersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := userns.Parse(string(b))
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// removeDir removes the stage1 tree first and then the rest, as rkt did:
// if removal fails half-way, the pod manifest is still there and the
// next gc finds a pod it can retry.
func (r *remover) removeDir(p *pod.Pod) error {
	if err := removeTree(p.Path(stage1abi.Stage1Dir)); err != nil {
		return err
	}
	return removeTree(p.Dir())
}

// stage1GC runs the stage1's gc entrypoint (reference S1-GC): argv per
// the stage1's interface version, cwd the pod directory, its output on
// our stderr (stdout is for gc's own answers).
func (r *remover) stage1GC(p *pod.Pod) error {
	m, err := p.Stage1Manifest()
	if err != nil {
		r.stderr.Printf("rkt: warning: pod %q: stage1 is gone (%v), removing the pod without stage1 gc", p.UUID, err)
		return nil
	}
	if _, err := m.Entrypoint(stage1abi.AnnotationGC); errors.Is(err, stage1abi.ErrNoEntrypoint) {
		r.env.Debugf("pod %q: stage1 has no gc entrypoint", p.UUID)
		return nil
	}
	rootfs, err := p.Stage1Rootfs()
	if err == nil {
		_, err = os.Stat(rootfs)
	}
	if err != nil {
		r.stderr.Printf("rkt: warning: pod %q: stage1 tree is gone (%v), removing the pod without stage1 gc", p.UUID, err)
		return nil
	}
	ep, err := p.Stage1Entrypoint(stage1abi.AnnotationGC)
	if err == nil {
		_, err = os.Stat(ep.Path)
	}
	if err != nil {
		return fmt.Errorf("pod %q: %w: %v", p.UUID, ErrStage1GC, err)
	}
	args := (&stage1abi.GCArgs{
		Debug:       r.env.Globals.Debug,
		LocalConfig: r.env.Globals.LocalConfig,
		UUID:        p.UUID,
	}).Args(ep.Version)
	cmd := entrypointCmd(p, ep, args)
	cmd.Stdout = childWriter(r.stderr)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pod %q: %w: %v", p.UUID, ErrStage1GC, err)
	}
	return nil
}

// errMountPoint means removeTree met a mount point and did not descend.
var errMountPoint = errors.New("mount point inside the pod")

// removeTree removes path and everything below it, like os.RemoveAll,
// but never crosses into another mount: a host directory bind-mounted
// into a pod and left there by a foreign stage1 must not lose its files
// when the pod is deleted. A missing path is not an error.
func removeTree(path string) error {
	parent, err := unix.Open(filepath.Dir(path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	defer unix.Close(parent)
	return removeAt(parent, filepath.Base(path), path)
}

// removeAt removes name in the directory open as dirfd; path is for
// errors.
func removeAt(dirfd int, name, path string) error {
	err := unlinkat(dirfd, name, 0)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM):
		return &os.PathError{Op: "unlink", Path: path, Err: err}
	}
	fd, err := openDirBeneath(dirfd, name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%s: %w", path, errMountPoint)
	case errors.Is(err, unix.ENOTDIR):
		// Not a directory after all: the EPERM was real.
		return &os.PathError{Op: "unlink", Path: path, Err: unix.EPERM}
	case err != nil:
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	dir := os.NewFile(uintptr(fd), path)
	defer dir.Close()
	for {
		names, err := dir.Readdirnames(1024)
		for _, n := range names {
			if err := removeAt(fd, n, filepath.Join(path, n)); err != nil {
				return err
			}
		}
		if err != nil { // io.EOF at the end
			break
		}
	}
	for range 3 {
		err = unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("%s: %w", path, errMountPoint)
		case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
			// Something was created meanwhile: read the rest and retry.
			if _, serr := dir.Seek(0, 0); serr != nil {
				return &os.PathError{Op: "rmdir", Path: path, Err: err}
			}
			names, _ := dir.Readdirnames(-1)
			for _, n := range names {
				if err := removeAt(fd, n, filepath.Join(path, n)); err != nil {
					return err
				}
			}
			continue
		}
		return &os.PathError{Op: "rmdir", Path: path, Err: err}
	}
	return &os.PathError{Op: "rmdir", Path: path, Err: err}
}

func unlinkat(dirfd int, name string, flags int) error {
	for {
		err := unix.Unlinkat(dirfd, name, flags)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// noOpenat2 is set once openat2(2) turned out not to exist (Linux
// before 5.6).
var noOpenat2 atomic.Bool

// openDirBeneath opens the directory name in dirfd without following a
// symlink and, where the kernel can tell (openat2, Linux 5.6+), without
// crossing a mount point: EXDEV then.
func openDirBeneath(dirfd int, name string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if !noOpenat2.Load() {
		for {
			fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
				Flags:   flags,
				Resolve: unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
			})
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			if !errors.Is(err, unix.ENOSYS) {
				return fd, err
			}
			noOpenat2.Store(true)
			break
		}
	}
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
