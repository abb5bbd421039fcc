package prepare

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/store"
)

// Stage1Flags are the --stage1-* flags; at most one is set.
type Stage1Flags struct {
	URL, Path, Name, Hash, FromDir string
}

func (f Stage1Flags) count() (n int, names []string) {
	for _, x := range []struct{ name, v string }{{"--stage1-url", f.URL}, {"--stage1-path", f.Path}, {"--stage1-name", f.Name}, {"--stage1-hash", f.Hash}, {"--stage1-from-dir", f.FromDir}} {
		if x.v != "" {
			n++
			names = append(names, x.name)
		}
	}
	return n, names
}

// stage1 resolves the stage1 image (reference S1-SEL): a --stage1-*
// flag, else the configured stage1, else the build's default. Images
// from the stage1 images directory are trusted without a signature, as
// the installer put them there.
func (p *preparer) stage1() (string, error) {
	f := p.opts.Stage1
	if n, names := f.count(); n > 1 {
		return "", fmt.Errorf("flags %s and %s are mutually exclusive", names[0], names[1])
	}
	// Stage1 images come from the store or their file whatever the pull
	// policy of the apps.
	res := *p.res
	res.policy = "new"
	imagesDir := p.cfg.Paths.Stage1Images
	if imagesDir == "" {
		imagesDir = buildinfo.Stage1ImagesDir
	}
	switch {
	case f.Hash != "":
		return res.st.ResolveID(f.Hash)
	case f.Name != "":
		return res.resolve(f.Name, "", false)
	case f.URL != "":
		return res.fetch(f.URL, "", false)
	case f.Path != "":
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			return "", err
		}
		return res.fetchFileCached(abs, filepath.Dir(abs) == filepath.Clean(imagesDir))
	case f.FromDir != "":
		return res.fetchFileCached(filepath.Join(imagesDir, f.FromDir), true)
	}
	name, version, location := p.cfg.Stage1.Name, p.cfg.Stage1.Version, p.cfg.Stage1.Location
	if name == "" && location == "" {
		name, version = buildinfo.Stage1Name, buildinfo.DefaultStage1Version()
		location = filepath.Join(imagesDir, "stage1-"+buildinfo.Stage1Flavor+".aci")
	}
	if name != "" {
		labels := map[string]string{}
		if version != "" {
			labels["version"] = version
		}
		if found, err := res.st.FindByName(name, labels); err == nil && len(found) > 0 {
			return found[0].Key, nil
		}
	}
	if location == "" {
		return "", fmt.Errorf("stage1 %s:%s is not in the store and has no configured location", name, version)
	}
	trusted := filepath.Dir(location) == filepath.Clean(imagesDir)
	if filepath.IsAbs(location) {
		return res.fetchFileCached(location, trusted)
	}
	return res.fetch(location, "", trusted)
}

// fetchFileCached imports a stage1 image file once and then reuses it
// while the file is unchanged (same size and mtime), instead of
// importing it again on every run: a stage1 chosen by path is used for
// every pod.
func (r *resolver) fetchFileCached(path string, trusted bool) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("stage1 image %s: %w", path, err)
	}
	url := "file://" + path
	stamp := fmt.Sprintf("%d-%d", fi.Size(), fi.ModTime().UnixNano())
	if rem, err := r.st.GetRemote(url); err == nil && rem != nil && rem.ETag == stamp {
		return rem.Key, nil
	}
	key, err := r.fetch(path, "", trusted)
	if err != nil {
		return "", err
	}
	// The record only saves work: failing to write it is not an error.
	_ = r.st.PutRemote(&store.Remote{URL: url, ETag: stamp, Key: key, DownloadTime: time.Now().UTC()})
	return key, nil
}
