// Package prepare is stage0's preparation of a pod (`rkt prepare`, and
// the first half of `rkt run`): resolve the stage1 and app images, render
// their trees, write the pod manifest and the pod directory, and leave the
// pod in prepare/ under its lock for the caller to move on.
package prepare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/config"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/fscopy"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/podspec"
	"github.com/rkt/rkt/common/quantity"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/store"
)

// Options is everything prepare needs from the command line.
type Options struct {
	Root         dirs.Root
	Globals      *cli.Globals
	Config       *config.Config
	Pod          podspec.Pod
	Apps         []*podspec.App
	PodManifest  string // --pod-manifest
	PullPolicy   string
	NoOverlay    bool
	PrivateUsers bool
	Stage1       Stage1Flags
	UUIDFileSave string
	Stderr       io.Writer
	// Written, if set, is called once the pod directory is written, with
	// the pod's outline, while the ondisk checks of its trees may still
	// be running (rkt run works out the pod's start there). Its error
	// fails the prepare.
	Written func(p *pod.Pod, o *pod.Outline) error
}

type preparer struct {
	opts Options
	cfg  *config.Config
	res  *resolver
	st   *store.Store
}

// Prepare makes a pod ready to run. On success the pod is in prepare/,
// locked by the returned Pod; on failure after the pod was created it is
// left in prepare/, unlocked, for gc (reference CLI-PREP-02).
func Prepare(opts Options) (*pod.Pod, error) {
	st, err := store.Open(opts.Root)
	if err != nil {
		return nil, err
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = &config.Config{}
	}
	p := &preparer{opts: opts, cfg: cfg, st: st,
		res: &resolver{st: st, globals: opts.Globals, policy: opts.PullPolicy, stderr: opts.Stderr}}
	return p.prepare()
}

type appTree struct {
	name     string
	key      string
	treeID   string
	manifest []byte
}

func (p *preparer) prepare() (*pod.Pod, error) {
	s1key, err := p.stage1()
	if err != nil {
		return nil, fmt.Errorf("stage1: %w", err)
	}
	// The app images are resolved (fetched if need be) before the
	// prepare lock is taken: a download does not hold up image gc.
	var infos []*store.ImageInfo
	if p.opts.PodManifest == "" {
		if infos, err = p.resolveImages(); err != nil {
			return nil, err
		}
	}
	// Image gc removes trees under the exclusive prepare lock: hold it
	// shared from render until the pod records its trees.
	unlock, err := flock.KeyLock(p.opts.Root.Locks(), dirs.PrepareLockKey, flock.Shared, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The ondisk check of each tree (a walk of fstatat calls, ~0.9 ms
	// for busybox here) runs alongside the rest: the building of the
	// pod manifest and the writing of the pod directory. So the trees
	// are rendered first. A damaged tree is rendered again under the
	// same ID before the pod is handed on, so what was written stays
	// right.
	checks := &treeChecks{st: p.st, renderTree: p.res.render, skip: p.opts.Globals.Insecure.Has(cli.InsecureOnDisk)}
	// A failed prepare leaves no check running (nor renders again: the
	// pod is not used).
	defer checks.wg.Wait()
	s1tree, err := checks.render(s1key)
	if err != nil {
		return nil, fmt.Errorf("rendering stage1: %w", err)
	}
	// Apps of one image share its tree: render and check it once.
	trees := map[string]appTree{}
	for i, info := range infos {
		if _, ok := trees[info.Key]; ok {
			continue
		}
		at, err := p.appTree(checks, info.Key)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", p.opts.Apps[i].Image, err)
		}
		trees[info.Key] = at
	}
	var pm *schema.PodManifest
	if p.opts.PodManifest != "" {
		pm, err = p.readPodManifest()
	} else {
		pm, err = p.buildPodManifest(infos, trees)
	}
	if err != nil {
		return nil, err
	}
	s1manifest, err := p.st.Manifest(s1key)
	if err != nil {
		return nil, err
	}
	var apps []appTree
	for _, ra := range pm.Apps {
		key, err := p.st.ResolveID(ra.Image.ID.String())
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", ra.Name, err)
		}
		at, ok := trees[key]
		if !ok { // --pod-manifest: its images are known only now
			if at, err = p.appTree(checks, key); err != nil {
				return nil, fmt.Errorf("app %s: %w", ra.Name, err)
			}
			trees[key] = at
		}
		at.name = string(ra.Name)
		apps = append(apps, at)
	}
	p.st.Touch(s1key)
	pmJSON, err := json.Marshal(pm)
	if err != nil {
		return nil, err
	}

	pd, err := pod.Create(p.opts.Root)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pod.Pod, error) {
		pd.Close() // an unlocked prepare/ dir is an aborted prepare, for gc
		return nil, err
	}
	if p.opts.UUIDFileSave != "" {
		if err := os.WriteFile(p.opts.UUIDFileSave, []byte(pd.UUID), 0o644); err != nil {
			return fail(fmt.Errorf("--uuid-file-save: %w", err))
		}
	}
	overlay := !p.opts.NoOverlay
	if overlay {
		if why := overlayUnusable(p.opts.Root.Path()); why != "" {
			fmt.Fprintf(p.opts.Stderr, "rkt: warning: disabling overlay support: %q\n", why)
			overlay = false
		}
	}
	if err := p.writePodDir(pd, pmJSON, s1manifest, s1tree, apps, overlay); err != nil {
		return fail(fmt.Errorf("preparing pod %s: %w", pd.UUID, err))
	}
	if p.opts.Written != nil {
		o := &pod.Outline{Ports: len(pm.Ports)}
		for _, a := range apps {
			o.Apps = append(o.Apps, a.name)
		}
		if err := p.opts.Written(pd, o); err != nil {
			return fail(err)
		}
	}
	if err := checks.wait(); err != nil {
		return fail(err)
	}
	return pd, nil
}

// treeChecks renders the trees a pod needs and runs their ondisk checks
// in the background.
type treeChecks struct {
	st *store.Store
	// renderTree renders the tree of an image, checking and replacing
	// it if it is there (rkt-fetch: rkt-prepare links no decompressor).
	renderTree func(key string) error
	skip       bool // --insecure-options=ondisk
	wg         sync.WaitGroup
	mu         sync.Mutex
	fails      []string // keys whose tree failed the check
}

// render returns the tree of key, rendered if missing, and starts its
// check unless it was rendered just now.
func (c *treeChecks) render(key string) (string, error) {
	id, rendered, err := c.st.Tree(key)
	if err != nil {
		return "", err
	}
	if !rendered {
		return id, c.renderTree(key)
	}
	if c.skip {
		return id, nil
	}
	c.wg.Go(func() {
		if c.st.CheckTree(id) != nil {
			c.mu.Lock()
			c.fails = append(c.fails, key)
			c.mu.Unlock()
		}
	})
	return id, nil
}

// wait waits for the checks and renders again each tree that failed
// (the render checks it once more and replaces it if it is still
// damaged).
func (c *treeChecks) wait() error {
	c.wg.Wait()
	for _, key := range c.fails {
		if err := c.renderTree(key); err != nil {
			return fmt.Errorf("rendering %s again: %w", key, err)
		}
	}
	c.fails = nil
	return nil
}

// appTree renders the tree of the image key (starting its check), and
// reads its manifest for the pod directory.
func (p *preparer) appTree(checks *treeChecks, key string) (appTree, error) {
	tree, err := checks.render(key)
	if err != nil {
		return appTree{}, fmt.Errorf("rendering: %w", err)
	}
	m, err := p.st.Manifest(key)
	if err != nil {
		return appTree{}, err
	}
	p.st.Touch(key)
	return appTree{key: key, treeID: tree, manifest: m}, nil
}

func (p *preparer) writePodDir(pd *pod.Pod, pmJSON, s1manifest []byte, s1tree string, apps []appTree, overlay bool) error {
	// The pod directory is new: each directory is made once, with a
	// plain mkdir, its parent first (MkdirAll would stat its way up for
	// every file).
	made := map[string]bool{".": true}
	var mkdir func(rel string, perm os.FileMode) error
	mkdir = func(rel string, perm os.FileMode) error {
		if made[rel] {
			return nil
		}
		if err := mkdir(filepath.Dir(rel), perm); err != nil {
			return err
		}
		if err := os.Mkdir(pd.Path(rel), perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		made[rel] = true
		return nil
	}
	write := func(rel string, data []byte) error {
		if err := mkdir(filepath.Dir(rel), 0o750); err != nil {
			return err
		}
		return os.WriteFile(pd.Path(rel), data, 0o640)
	}
	type podFile struct {
		rel  string
		data []byte
	}
	files := []podFile{
		{stage1abi.PodManifestFile, pmJSON},
		{stage1abi.Stage1ManifestRel, s1manifest},
		{stage1abi.Stage1TreeIDFile, []byte(s1tree)},
	}
	for _, a := range apps {
		dir := filepath.Join(stage1abi.AppsInfoDir, a.name)
		files = append(files,
			podFile{filepath.Join(dir, stage1abi.AppManifestFile), a.manifest},
			podFile{filepath.Join(dir, stage1abi.AppTreeIDFile), []byte(a.treeID)})
	}
	for _, f := range files {
		if err := write(f.rel, f.data); err != nil {
			return err
		}
	}
	if overlay {
		// run-prepared mounts the trees; here only the writable layers.
		for _, name := range append([]string{"stage1"}, appNames(apps)...) {
			for _, sub := range []string{"upper", "work"} {
				if err := mkdir(filepath.Join(stage1abi.OverlayDir, name, sub), 0o755); err != nil {
					return err
				}
			}
		}
		if err := mkdir(stage1abi.Stage1RootfsRel, 0o755); err != nil {
			return err
		}
		for _, a := range apps {
			if err := pd.WriteStage2(a.name); err != nil {
				return err
			}
		}
		return write(stage1abi.OverlayPrepared, nil)
	}
	if err := fscopy.Copy(p.st.TreeRootfs(s1tree), pd.Path(stage1abi.Stage1RootfsRel)); err != nil {
		return err
	}
	for _, a := range apps {
		if err := os.MkdirAll(pd.Path(filepath.Dir(stage1abi.AppRootfsRel(a.name))), 0o755); err != nil {
			return err
		}
		if err := fscopy.Copy(p.st.TreeRootfs(a.treeID), pd.Path(stage1abi.AppRootfsRel(a.name))); err != nil {
			return err
		}
		if err := write(stage1abi.AppManifestRel(a.name), a.manifest); err != nil {
			return err
		}
	}
	return nil
}

func appNames(apps []appTree) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.name)
	}
	return out
}

// resolveImages returns each app's image in the store, in the order of
// the apps, having checked its OS and architecture. An image given for
// several apps is resolved (and fetched) once.
func (p *preparer) resolveImages() ([]*store.ImageInfo, error) {
	if len(p.opts.Apps) == 0 {
		return nil, cli.Usagef("no image given")
	}
	insecure := p.opts.Globals.Insecure.Has(cli.InsecureImage)
	type given struct{ image, signature string }
	seen := map[given]*store.ImageInfo{}
	infos := make([]*store.ImageInfo, len(p.opts.Apps))
	for i, a := range p.opts.Apps {
		g := given{a.Image, a.Signature}
		info, ok := seen[g]
		if !ok {
			key, err := p.res.resolve(a.Image, a.Signature, insecure)
			if err != nil {
				return nil, err
			}
			if info, err = p.st.Info(key); err != nil {
				return nil, err
			}
			if err := checkOSArch(info.Labels); err != nil {
				return nil, fmt.Errorf("image %s: %w", a.Image, err)
			}
			seen[g] = info
		}
		infos[i] = info
	}
	return infos, nil
}

// buildPodManifest makes the pod manifest of the apps, whose images are
// infos (resolveImages), with the manifests that trees read.
func (p *preparer) buildPodManifest(infos []*store.ImageInfo, trees map[string]appTree) (*schema.PodManifest, error) {
	images := make([]podspec.Image, len(infos))
	parsed := map[string]podspec.Image{}
	for i, info := range infos {
		img, ok := parsed[info.Key]
		if !ok {
			m, err := aci.ParseManifest(trees[info.Key].manifest)
			if err != nil {
				return nil, err
			}
			h, err := types.NewHash(info.ID)
			if err != nil {
				return nil, err
			}
			img = podspec.Image{ID: *h, Manifest: m}
			parsed[info.Key] = img
		}
		images[i] = img
	}
	pp := p.opts.Pod
	pp.ParentEnv = os.Environ()
	return podspec.Build(&pp, p.opts.Apps, images)
}

// checkOSArch refuses images for another system (reference CLI-RUN-22).
func checkOSArch(labels types.Labels) error {
	os, okOS := labels.Get("os")
	arch, okArch := labels.Get("arch")
	if !okOS || !okArch {
		return errors.New("missing os or arch label")
	}
	if os != "linux" {
		return fmt.Errorf("bad os %q: this host runs linux", os)
	}
	switch arch {
	case "amd64", "i386":
		return nil
	}
	return fmt.Errorf("bad arch %q: this host runs amd64", arch)
}

// readPodManifest reads --pod-manifest: its apps must name images that
// are in the store.
func (p *preparer) readPodManifest() (*schema.PodManifest, error) {
	data, err := os.ReadFile(p.opts.PodManifest)
	if err != nil {
		return nil, fmt.Errorf("--pod-manifest: %w", err)
	}
	// A quantity the schema's parser would compute for minutes is
	// refused first.
	if err := quantity.CheckManifest(data); err != nil {
		return nil, fmt.Errorf("--pod-manifest %s: %w", p.opts.PodManifest, err)
	}
	var pm schema.PodManifest
	if err := json.Unmarshal(data, &pm); err != nil {
		return nil, fmt.Errorf("--pod-manifest %s: %w", p.opts.PodManifest, err)
	}
	for i, ra := range pm.Apps {
		key, err := p.st.ResolveID(ra.Image.ID.String())
		if err != nil {
			return nil, fmt.Errorf("--pod-manifest: app %s: %w", ra.Name, err)
		}
		info, err := p.st.Info(key)
		if err != nil {
			return nil, err
		}
		h, _ := types.NewHash(info.ID)
		pm.Apps[i].Image.ID = *h
		if ra.App == nil {
			m, err := p.st.ParsedManifest(key)
			if err != nil {
				return nil, err
			}
			pm.Apps[i].App = m.App
		}
	}
	if _, ok := pm.Annotations.Get(stage1abi.AnnotationMutable); !ok {
		pm.Annotations.Set(stage1abi.AnnotationMutable, "false")
	}
	return &pm, nil
}

// overlayUnusable says why overlayfs cannot hold pods on the data dir's
// filesystem, or "" if it can (reference CLI-RUN-10).
func overlayUnusable(dir string) string {
	fsys, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(fsys), "\toverlay\n") {
		return "overlay filesystem is not supported by the kernel"
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err.Error()
	}
	switch st.Type {
	case 0x794c7630:
		return "the data directory is on overlayfs"
	case 0x61756673:
		return "the data directory is on aufs"
	case 0x2fc12fc1:
		return "the data directory is on zfs"
	}
	return ""
}
