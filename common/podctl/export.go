package podctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/klauspost/compress/gzip"
	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/mount"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// PrivateUsersFile holds a --private-users pod's "SHIFT:COUNT"
// (reference PODF-09).
const PrivateUsersFile = stage1abi.PrivateUsersFile

// ExportCommand is `rkt export` (reference CLI-EXP-01).
func ExportCommand() *cli.Command {
	var o ExportOptions
	return &cli.Command{
		Name:      "export",
		Summary:   "Export an app from an exited pod to an ACI file",
		Usage:     "[--app=APPNAME] [--overwrite] UUID OUTPUT.aci",
		NeedsRoot: true,
		Description: `Writes the app's image manifest and its root filesystem as the app left
it to a gzip-compressed ACI. Only exited pods can be exported; a pod of
several apps needs --app.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.App, "app", "", "name of the app to export within the specified pod")
			fs.BoolVar(&o.Overwrite, "overwrite", false, "overwrite output ACI")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 2 {
				return cli.Usagef("export needs a pod UUID and an output file")
			}
			o.Output = args[1]
			if ext := filepath.Ext(o.Output); ext != schema.ACIExtension {
				return fmt.Errorf("extension must be %s (given %s)", schema.ACIExtension, o.Output)
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			p, err := pod.Lookup(root, args[0])
			if err != nil {
				return err
			}
			return Export(env, root, p, o)
		},
	}
}

// ExportOptions say what to export where.
type ExportOptions struct {
	App       string
	Output    string
	Overwrite bool
}

// Export writes an app of exited pod p to an ACI.
func Export(env *cli.Env, root dirs.Root, p *pod.Pod, o ExportOptions) error {
	if p.State != pod.StateExited && p.State != pod.StateExitedGarbage {
		return fmt.Errorf("pod %q is not exited (state %s): only exited pods can be exported", p.UUID, p.State)
	}
	app, err := appName(env, p, o.App, "export")
	if err != nil {
		return err
	}
	if !o.Overwrite {
		if _, err := os.Lstat(o.Output); err == nil {
			return errTargetExists
		}
	}
	// A shared lock keeps gc and rm from deleting the pod meanwhile (they
	// only try the lock). gc may still move it from run/ to
	// exited-garbage/, so everything is read through the open directory
	// (/proc/self/fd/N), which follows the rename.
	l, err := lockShared(p)
	if err != nil {
		return err
	}
	defer l.Close()
	dir := fmt.Sprintf("/proc/self/fd/%d", l.Fd())
	src, err := exportSource(root, dir, app)
	if err != nil {
		return fmt.Errorf("pod %q: %w", p.UUID, err)
	}
	if err := src.writeTo(root, o); err != nil {
		return fmt.Errorf("exporting app %q of pod %q: %w", app, p.UUID, err)
	}
	return nil
}

// lockShared takes a shared lock on the pod directory, following a pod
// that a concurrent gc marks meanwhile.
func lockShared(p *pod.Pod) (*flock.Lock, error) {
	for range 3 {
		l, err := flock.OpenDir(p.Dir())
		if isNotExist(err) {
			if err := p.Refresh(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := l.TryShared(); err != nil {
			l.Close()
			if errors.Is(err, flock.ErrLocked) {
				return nil, fmt.Errorf("pod %q is currently being deleted", p.UUID)
			}
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("pod %q keeps moving", p.UUID)
}

// exportSrc is what an app's image is made of.
type exportSrc struct {
	manifest []byte
	ids      idShift
	rootfs   string // the app's copied rootfs (non-overlay pods)
	// Overlay pods: the image's tree, and the pod's upper dir for the app
	// (relative to the pod directory; "" if the app never wrote), mounted
	// together read-only to read the merged view.
	tree     string
	upperRel string
	podDir   string // /proc/self/fd/N of the locked pod directory
}

// exportSource finds the parts of app's image in the pod directory dir.
func exportSource(root dirs.Root, dir, app string) (*exportSrc, error) {
	info := filepath.Join(dir, stage1abi.AppsInfoDir, app)
	data, err := os.ReadFile(filepath.Join(info, stage1abi.AppManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		data, err = os.ReadFile(filepath.Join(dir, stage1abi.AppManifestRel(app)))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the app's image manifest: %w", err)
	}
	src := &exportSrc{}
	if src.manifest, err = exportManifest(data); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, PrivateUsersFile)); err == nil {
		if src.ids, err = parseIDShift(string(b)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, stage1abi.OverlayPrepared)); err != nil {
		src.rootfs = filepath.Join(dir, stage1abi.AppRootfsRel(app))
		if _, err := os.Stat(src.rootfs); err != nil {
			return nil, err
		}
		return src, noMountsUnder(dir, stage1abi.AppRootfsRel(app))
	}
	b, err := os.ReadFile(filepath.Join(info, stage1abi.AppTreeIDFile))
	if err != nil {
		return nil, fmt.Errorf("overlay pod without the app's tree ID: %w", err)
	}
	tree := filepath.Join(root.Trees(), strings.TrimSpace(string(b)), "rootfs")
	if _, err := os.Stat(tree); err != nil {
		return nil, fmt.Errorf("the app's image tree is gone: %w", err)
	}
	src.tree, src.podDir = tree, dir
	upperRel := filepath.Join(stage1abi.OverlayDir, app, "upper")
	if _, err := os.Stat(filepath.Join(dir, upperRel)); err == nil {
		src.upperRel = upperRel
	}
	return src, nil
}

// noMountsUnder refuses to export a copied rootfs that still has mounts
// on it (a stage1 left them): the image would hold the host's files.
func noMountsUnder(dir, rel string) error {
	real, err := os.Readlink(dir)
	if err != nil {
		return err
	}
	t, err := mount.Read()
	if err != nil {
		return err
	}
	if m := t.Under(filepath.Join(real, rel)); len(m) > 0 {
		return fmt.Errorf("%s is still mounted; run 'rkt gc' first", m[len(m)-1].MountPoint)
	}
	return nil
}

// writeTo writes the ACI to o.Output, atomically: the file appears
// complete or not at all.
func (s *exportSrc) writeTo(root dirs.Root, o ExportOptions) error {
	f, err := atomicfile.Create(o.Output, "", 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	gz := gzip.NewWriter(f)
	if s.upperRel == "" {
		rootfs := s.rootfs
		if rootfs == "" {
			rootfs = s.tree
		}
		err = writeACI(gz, s.manifest, rootfs, s.ids)
	} else {
		err = s.writeOverlay(root, gz)
	}
	if err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if !o.Overwrite {
		if _, err := os.Lstat(o.Output); err == nil {
			return errTargetExists
		}
	}
	return f.Commit()
}

// writeOverlay mounts the app's layers read-only on a directory under
// $dir/tmp, in a mount namespace of its own so that nothing can leak onto
// the host, and archives the merged tree. The pod's upper dir is
// mounted as a lower layer: no work dir is touched, and no "upperdir in
// use" conflict with a mount a stage1 may have left (WEAK-03).
func (s *exportSrc) writeOverlay(root dirs.Root, w io.Writer) error {
	if err := os.MkdirAll(root.Tmp(), 0o750); err != nil {
		return err
	}
	target, err := os.MkdirTemp(root.Tmp(), "rkt-export-")
	if err != nil {
		return err
	}
	defer os.Remove(target)
	return mount.InPrivateNamespace(func() error {
		// overlayfs takes only layers from its own mount namespace, so
		// not the /proc/self/fd path (which leads to the host's mount):
		// the pod directory's current path. Should gc move the pod right
		// now, the mount fails and the user runs export again.
		dir, err := os.Readlink(s.podDir)
		if err != nil {
			return err
		}
		layers := []string{filepath.Join(dir, s.upperRel), s.tree}
		if err := mount.MountOverlay(layers, "", "", target, true); err != nil {
			return err
		}
		werr := writeACI(w, s.manifest, target, s.ids)
		uerr := mount.Unmount(target, true)
		if werr != nil {
			return werr
		}
		return uerr
	})
}
