// Package runpod starts a prepared pod: it moves the pod to run/, gives it
// a private mount namespace with its trees mounted, and execs the stage1
// `run` entrypoint with the pod lock, so that the stage1 holds the lock
// for the pod's life and the pod's exit status is rkt's.
package runpod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// Exec starts a pod whose lock the caller holds: from prepare/ (rkt run)
// or prepared/ (rkt run-prepared). files are written into the stage1
// rootfs (paths relative to it) once it is mounted: the DNS files of
// --dns-conf-mode=...stage0. apps are the names of the pod's apps
// (pod.ManifestOutline), whose overlays it mounts. It returns only on
// failure; the pod is then left in run/, unlocked, as an exited pod for
// gc.
func Exec(p *pod.Pod, apps []string, args stage1abi.RunArgs, files map[string][]byte, warn func(string)) error {
	s1, err := p.Stage1Manifest()
	if err != nil {
		return fmt.Errorf("pod %s: stage1 manifest: %w", p.UUID, err)
	}
	ep, err := s1.Entrypoint(stage1abi.AnnotationRun)
	if err != nil {
		return err
	}
	version, err := s1.InterfaceVersion()
	if err != nil {
		return err
	}
	args.UUID = p.UUID
	argv, dropped := args.Args(version)
	for _, d := range dropped {
		warn(d.String())
	}
	if err := p.MoveTo(pod.Run); err != nil {
		return err
	}
	fd, err := p.LockFD()
	if err != nil {
		return err
	}
	// The mount namespace belongs to this OS thread until exec, which
	// hands it to the stage1: everything mounted below dies with the pod.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("pod %s: new mount namespace: %w", p.UUID, err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("pod %s: making mounts slave: %w", p.UUID, err)
	}
	if p.Overlay() {
		if err := mountTrees(p, apps); err != nil {
			return fmt.Errorf("pod %s: %w", p.UUID, err)
		}
	}
	rootfs := p.Path(stage1abi.Stage1RootfsRel)
	for rel, data := range files {
		target, err := securejoin.SecureJoin(rootfs, rel)
		if err != nil {
			return fmt.Errorf("pod %s: %s: %w", p.UUID, rel, err)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			return fmt.Errorf("pod %s: writing %s: %w", p.UUID, rel, err)
		}
	}
	path, err := securejoin.SecureJoin(rootfs, ep)
	if err != nil {
		return fmt.Errorf("pod %s: stage1 run entrypoint: %w", p.UUID, err)
	}
	if err := os.Chdir(p.Dir()); err != nil {
		return err
	}
	env := append(os.Environ(), stage1abi.LockFDEnv+"="+strconv.Itoa(fd))
	// argv[0] is the entrypoint as the stage1 named it: a multi-call
	// stage1 binary tells its entrypoints apart by it.
	err = syscall.Exec(path, append([]string{filepath.Join(rootfs, ep)}, argv...), env)
	return fmt.Errorf("pod %s: executing stage1 %s: %w", p.UUID, path, err)
}

// mountTrees mounts the stage1 overlay and those of apps: the read-only
// tree as the lower layer, the pod's own upper and work directories
// above it.
func mountTrees(p *pod.Pod, apps []string) error {
	s1tree, err := p.Stage1TreeID()
	if err != nil {
		return fmt.Errorf("stage1 tree: %w", err)
	}
	trees := p.Root().Trees()
	s1root := p.Path(stage1abi.Stage1RootfsRel)
	if err := overlay(filepath.Join(trees, s1tree, "rootfs"), p.Path(filepath.Join(stage1abi.OverlayDir, "stage1")), s1root); err != nil {
		return err
	}
	for _, app := range apps {
		info := filepath.Join(stage1abi.AppsInfoDir, app)
		tree, err := os.ReadFile(p.Path(filepath.Join(info, stage1abi.AppTreeIDFile)))
		if err != nil {
			return fmt.Errorf("app %s: tree: %w", app, err)
		}
		manifest, err := os.ReadFile(p.Path(filepath.Join(info, stage1abi.AppManifestFile)))
		if err != nil {
			return fmt.Errorf("app %s: manifest: %w", app, err)
		}
		target := p.Path(stage1abi.AppRootfsRel(app))
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p.Path(stage1abi.AppManifestRel(app)), manifest, 0o644); err != nil {
			return err
		}
		lower := filepath.Join(trees, strings.TrimSpace(string(tree)), "rootfs")
		if err := overlay(lower, p.Path(filepath.Join(stage1abi.OverlayDir, app)), target); err != nil {
			return fmt.Errorf("app %s: %w", app, err)
		}
	}
	return nil
}

// overlay mounts the tree lower with the pod's layers (upper and work
// below the directory layers) on target.
//
// The overlay is volatile (Linux 5.10; plain before that): it skips
// every sync of the upper file system, the one overlayfs does when it is
// unmounted included. That one commits the journal of the file system
// the data directory is on, and the exit of the pod's last process waited
// for it: ~2 ms of every `rkt run` here. Writes to an app's root
// filesystem are written back like any others, but an fsync in the app
// does not make them durable: data that must survive a crash of the host
// goes to a volume (podman does the same for --rm containers, CRI-O for
// all). rkt mounts each upper directory as an upper layer once, so
// overlayfs's refusal to mount a volatile one again (its
// work/work/incompat/volatile marker) never applies; the stage1 that
// replaces the mount under --private-users clears it first.
func overlay(lower, layers, target string) error {
	upper, work := filepath.Join(layers, "upper"), filepath.Join(layers, "work")
	if !noVolatile.Load() {
		if err := mount.MountOverlay([]string{lower}, upper, work, target, false, "volatile"); !errors.Is(err, unix.EINVAL) {
			return err
		}
		// An unknown option, or a refused one: plain overlays from now.
		noVolatile.Store(true)
	}
	return mount.MountOverlay([]string{lower}, upper, work, target, false)
}

// noVolatile is set once overlayfs refused the volatile option.
var noVolatile atomic.Bool
