package store

import (
	"bufio"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/aci/compression"
	"github.com/rkt/rkt/common/flock"
)

// Docker and OCI images are kept as their layers, not as an ACI:
//
//	layers/sha256-<hex>      one layer blob exactly as the registry served
//	                         it (compressed or not), verified against its
//	                         digest; shared by every image that lists it
//	images/<key>/layers      JSON []Layer, lowest first
//	images/<key>/oci-manifest, oci-config   the original manifest and config
//	images/<key>/manifest    the appc manifest converted from the config
//
// The image ID is "sha512-" and the SHA-512 of the converted manifest,
// which names the manifest digest it came from: the same content under
// another name or tag is another image, as with docker2aci, but its
// layers are stored once. Rendering applies the layers in order into
// one tree per image (see docs/design.md for why not one overlay lower
// dir per layer).
const (
	layersDirName  = "layers"
	layersFile     = "layers"
	ociManifestRaw = "oci-manifest"
	ociConfigRaw   = "oci-config"
	// layersLockKey is the image-lock key that import (shared) and layer
	// gc (exclusive) take, so that gc never removes a layer an import
	// is about to reference.
	layersLockKey = "layers"
)

// Layer is one layer of a Docker or OCI image.
type Layer struct {
	// Digest is the digest of the blob as stored ("sha256:<hex>").
	Digest string `json:"digest"`
	// DiffID is the digest of the uncompressed tar from the image config
	// ("" when the config does not list it); render checks it.
	DiffID string `json:"diffID,omitempty"`
	// MediaType is the blob's media type from the manifest.
	MediaType string `json:"mediaType,omitempty"`
	// Size is the blob's size in bytes.
	Size int64 `json:"size"`
}

// ErrBadDigest is returned for a digest that is not sha256:<64 hex>.
var ErrBadDigest = errors.New("invalid layer digest")

// ErrMissingLayer is returned when an image references a layer the
// store does not have.
var ErrMissingLayer = errors.New("layer not in the store")

func layerName(digest string) (string, error) {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexPart) != 64 {
		return "", fmt.Errorf("%w: %q", ErrBadDigest, digest)
	}
	if _, err := hex.DecodeString(hexPart); err != nil || strings.ToLower(hexPart) != hexPart {
		return "", fmt.Errorf("%w: %q", ErrBadDigest, digest)
	}
	return "sha256-" + hexPart, nil
}

func (s *Store) layersDir() string { return filepath.Join(s.root.CAS(), layersDirName) }

// LayerPath returns the file of a stored (or to be stored) layer.
func (s *Store) LayerPath(digest string) (string, error) {
	n, err := layerName(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.layersDir(), n), nil
}

// HasLayer reports whether the layer is stored with the given size.
func (s *Store) HasLayer(digest string, size int64) bool {
	p, err := s.LayerPath(digest)
	if err != nil {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && (size < 0 || fi.Size() == size)
}

// LayerPartial returns the cas/tmp file a download of the layer goes to.
// Its name is stable, so that a fetch run again resumes it; `image gc`
// removes it once it is old.
func (s *Store) LayerPartial(digest string) (string, error) {
	n, err := layerName(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.root.CASTmp(), "layer-"+n), nil
}

// InstallLayer moves a downloaded layer into the store. The caller has
// checked its content against digest while writing it.
func (s *Store) InstallLayer(tmp, digest string) error {
	dst, err := s.LayerPath(digest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.layersDir(), 0o770); err != nil {
		return fmt.Errorf("storing layer %s: %w", digest, err)
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return fmt.Errorf("storing layer %s: %w", digest, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("storing layer %s: %w", digest, err)
	}
	return nil
}

// HoldLayers keeps layer gc away until release is called: a fetch holds
// it from the moment it decides which layers it needs until its image is
// stored.
func (s *Store) HoldLayers() (release func() error, err error) {
	release, err = flock.KeyLock(s.root.ImageLocks(), layersLockKey, flock.Shared, true)
	if err != nil {
		return nil, fmt.Errorf("locking the layer store: %w", err)
	}
	return release, nil
}

// OCIImport is a Docker or OCI image whose layers are all stored.
type OCIImport struct {
	// Manifest is the appc manifest converted from the config.
	Manifest *schema.ImageManifest
	// RawManifest and RawConfig are the image manifest and config as
	// fetched.
	RawManifest, RawConfig []byte
	// Layers are the image's layers, lowest first.
	Layers []Layer
	// Latest marks an image fetched without a tag or with tag latest.
	Latest bool
}

// OCIImageID is the image ID of a converted manifest.
func OCIImageID(manifestJSON []byte) string {
	sum := sha512.Sum512(manifestJSON)
	return idPrefix + hex.EncodeToString(sum[:])
}

// ImportOCI adds a Docker or OCI image whose layers are stored (Render
// makes its tree). Nothing is visible until the image directory is
// renamed into place.
func (s *Store) ImportOCI(imp *OCIImport) (*ImageInfo, error) {
	manifestJSON, err := json.Marshal(imp.Manifest)
	if err != nil {
		return nil, fmt.Errorf("encoding image manifest: %w", err)
	}
	id := OCIImageID(manifestJSON)
	key, err := KeyOf(id)
	if err != nil {
		return nil, err
	}
	release, err := s.HoldLayers()
	if err != nil {
		return nil, err
	}
	defer release()
	var size int64
	for _, l := range imp.Layers {
		if !s.HasLayer(l.Digest, l.Size) {
			return nil, fmt.Errorf("image %s: %s: %w", imp.Manifest.Name, l.Digest, ErrMissingLayer)
		}
		size += l.Size
	}
	layersJSON, err := json.Marshal(imp.Layers)
	if err != nil {
		return nil, err
	}
	info := &ImageInfo{
		ID:          id,
		Key:         key,
		Name:        imp.Manifest.Name.String(),
		Labels:      imp.Manifest.Labels,
		ImportTime:  time.Now().UTC(),
		Size:        size,
		Compression: "layers",
		Latest:      imp.Latest,
	}
	if _, err := os.Stat(s.imageDir(key)); err == nil {
		// Same manifest, same layers: already stored.
		if old, err := s.Info(key); err == nil {
			info = old
		}
	} else {
		if err := s.writeOCIImage(info, manifestJSON, layersJSON, imp); err != nil {
			return nil, err
		}
	}
	return info, nil
}

func (s *Store) writeOCIImage(info *ImageInfo, manifestJSON, layersJSON []byte, imp *OCIImport) error {
	work, lk, err := s.lockedWorkDir()
	if err != nil {
		return fmt.Errorf("importing %s: %w", info.Name, err)
	}
	defer func() {
		os.RemoveAll(work)
		lk.Close()
	}()
	imgDir := filepath.Join(work, "image")
	if err := os.Mkdir(imgDir, 0o770); err != nil {
		return err
	}
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		manifestFile:   manifestJSON,
		infoFile:       infoJSON,
		lastUsedFile:   nil,
		layersFile:     layersJSON,
		ociManifestRaw: imp.RawManifest,
		ociConfigRaw:   imp.RawConfig,
	}
	if size, err := os.ReadFile(filepath.Join(s.TreePath(TreeID([]string{info.Key})), treeSizeFile)); err == nil {
		// Rendered while its layers arrived (RenderOCI).
		files[treeSizeFile] = size
	}
	for name, data := range files {
		if err := writeFileIn(imgDir, name, data); err != nil {
			return err
		}
	}
	if err := markUnsynced(imgDir); err != nil {
		return err
	}
	if err := s.indexName(info.Name, info.Key); err != nil {
		return err
	}
	unlock, err := s.lockImage(info.Key)
	if err != nil {
		return err
	}
	_, err = syncAndRename(imgDir, s.imageDir(info.Key))
	unlock()
	if err != nil {
		return fmt.Errorf("storing image %s: %w", info.Key, err)
	}
	return nil
}

// OCILayers returns the layers of a Docker or OCI image, or nil for an
// ACI.
func (s *Store) OCILayers(key string) ([]Layer, error) {
	data, err := os.ReadFile(filepath.Join(s.imageDir(key), layersFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ls []Layer
	if err := json.Unmarshal(data, &ls); err != nil {
		return nil, fmt.Errorf("image %s: corrupt layers file: %w", key, err)
	}
	if ls == nil {
		ls = []Layer{}
	}
	return ls, nil
}

// IsOCI reports whether an image is stored as layers.
func (s *Store) IsOCI(key string) bool {
	_, err := os.Stat(filepath.Join(s.imageDir(key), layersFile))
	return err == nil
}

// ApplyLayers extracts the layers of a Docker or OCI image, in order,
// into dir, checking each layer's diff ID, and returns the digests of
// the files in place at the end.
func (s *Store) ApplyLayers(key, dir string, root bool) (map[string]aci.FileDigest, error) {
	layers, err := s.OCILayers(key)
	if err != nil {
		return nil, err
	}
	return s.applyLayers(layers, dir, root, nil)
}

// applyLayers applies layers in order; wait, when set, is called before
// layer i is read and returns once it is stored (or why it never will).
func (s *Store) applyLayers(layers []Layer, dir string, root bool, wait func(i int) error) (map[string]aci.FileDigest, error) {
	files := map[string]aci.FileDigest{}
	for i, l := range layers {
		if wait != nil {
			if err := wait(i); err != nil {
				return nil, err
			}
		}
		p, err := s.LayerPath(l.Digest)
		if err != nil {
			return nil, err
		}
		got, err := applyLayer(p, dir, root)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("layer %s: %w", l.Digest, ErrMissingLayer)
			}
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if l.DiffID != "" && got.DiffID != l.DiffID {
			return nil, fmt.Errorf("layer %s: uncompressed digest %s, the config says %s: %w", l.Digest, got.DiffID, l.DiffID, ErrImageDamaged)
		}
		for _, r := range got.Removed {
			delete(files, r)
			prefix := r + "/"
			for f := range files {
				if strings.HasPrefix(f, prefix) {
					delete(files, f)
				}
			}
		}
		for f, d := range got.Files {
			files[f] = d
		}
	}
	return files, nil
}

func applyLayer(blob, dir string, root bool) (*aci.Layer, error) {
	f, err := os.Open(blob)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec, _, err := compression.Decompress(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return aci.ReadLayer(dec, dir, aci.ExtractOptions{Root: root})
}

// RenderOCI renders the tree of the Docker or OCI image whose converted
// manifest is manifestJSON while its layers are still arriving: wait(i)
// returns once layer i is stored. A fetch calls it alongside the layer
// downloads, so that extraction overlaps the network; the tree is
// installed under the ID Render will look for once the image itself is
// stored (ImportOCI), and Render then finds it done.
func (s *Store) RenderOCI(manifestJSON []byte, layers []Layer, root bool, wait func(i int) error) error {
	key, err := KeyOf(OCIImageID(manifestJSON))
	if err != nil {
		return err
	}
	id := TreeID([]string{key})
	if s.CheckTree(id) == nil {
		return nil
	}
	work, err := os.MkdirTemp(s.root.CASTmp(), "render-")
	if err != nil {
		return fmt.Errorf("rendering %s: %w", key, err)
	}
	defer os.RemoveAll(work)
	rootfs := filepath.Join(work, treeRootfs)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	files, err := s.applyLayers(layers, rootfs, root, wait)
	if err != nil {
		return fmt.Errorf("rendering %s: %w", key, err)
	}
	return s.installTree(work, []string{key}, files)
}

// checkOCIImage verifies, after a reboot, that every layer of an image
// written without a sync still has its digest.
func (s *Store) checkOCIImage(key string) error {
	layers, err := s.OCILayers(key)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
	}
	buf := make([]byte, 1<<20)
	for _, l := range layers {
		p, err := s.LayerPath(l.Digest)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
		}
		h := sha256.New()
		_, err = io.CopyBuffer(hashWriter{h}, f, buf)
		f.Close()
		if err != nil || "sha256:"+hex.EncodeToString(h.Sum(nil)) != l.Digest {
			// A damaged layer is dropped so that the next fetch gets it
			// again instead of finding it stored.
			os.Remove(p)
			return fmt.Errorf("%s: layer %s: %w", key, l.Digest, ErrImageDamaged)
		}
	}
	return settle(s.imageDir(key))
}

// GCLayers removes the stored layers no image lists, and reports each.
func (s *Store) GCLayers(removed func(digest string)) error {
	unlock, err := flock.KeyLock(s.root.ImageLocks(), layersLockKey, flock.Exclusive, true)
	if err != nil {
		return fmt.Errorf("locking the layer store: %w", err)
	}
	defer unlock()
	ents, err := os.ReadDir(s.layersDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keys, err := s.Keys()
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, k := range keys {
		ls, err := s.OCILayers(k)
		if err != nil {
			if _, serr := os.Stat(s.imageDir(k)); serr != nil {
				continue // removed meanwhile
			}
			return err
		}
		for _, l := range ls {
			if n, err := layerName(l.Digest); err == nil {
				used[n] = true
			}
		}
	}
	var errs []error
	for _, e := range ents {
		if used[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(s.layersDir(), e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed("sha256:" + strings.TrimPrefix(e.Name(), "sha256-"))
	}
	return errors.Join(errs...)
}

// OCIRaw returns the original manifest and config of a Docker or OCI
// image.
func (s *Store) OCIRaw(key string) (manifest, config []byte, err error) {
	if manifest, err = os.ReadFile(filepath.Join(s.imageDir(key), ociManifestRaw)); err != nil {
		return nil, nil, err
	}
	if config, err = os.ReadFile(filepath.Join(s.imageDir(key), ociConfigRaw)); err != nil {
		return nil, nil, err
	}
	return manifest, config, nil
}

// WriteACI writes a Docker or OCI image as one uncompressed ACI: its
// converted manifest and the rootfs its layers add up to (applied in a
// work directory in cas/tmp). The ACI's ID is not the stored image's:
// that one names the manifest, not a tar.
func (s *Store) WriteACI(key string, w io.Writer, root bool) error {
	manifest, err := s.Manifest(key)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(s.root.CASTmp(), "render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if _, err := s.ApplyLayers(key, work, root); err != nil {
		return fmt.Errorf("exporting %s: %w", key, err)
	}
	if err := aci.WriteTree(w, manifest, work, nil, time.Unix(0, 0)); err != nil {
		return fmt.Errorf("exporting %s: %w", key, err)
	}
	return nil
}
