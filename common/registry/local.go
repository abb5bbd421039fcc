package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/imagename"
	"github.com/rkt/rkt/common/ociimage"
)

// Limits on the small JSON documents of a layout or archive, so that a
// hostile file cannot make us read gigabytes into memory.
const maxDocument = 16 << 20

// refNameAnnotation names an image in an OCI layout's index.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// containerdNameAnnotation is the full image name some tools record.
const containerdNameAnnotation = "io.containerd.image.name"

// blobSource opens the files of a layout or archive by their path inside
// it ("index.json", "blobs/sha256/<hex>", "manifest.json", ...).
type blobSource interface {
	open(name string) (io.ReadCloser, int64, error)
	close() error
}

// OpenLocal opens an OCI image layout directory, an oci-archive or a
// docker-archive (src.Transport) and resolves src.Ref to one image of
// the host's platform.
func OpenLocal(src imagename.Source) (*Image, error) {
	var (
		bs  blobSource
		err error
	)
	switch src.Transport {
	case imagename.OCILayout:
		bs = dirSource(src.Path)
	case imagename.OCIArchive, imagename.DockerArchive:
		bs, err = openTarSource(src.Path)
	default:
		return nil, fmt.Errorf("%s: not a local image source", src)
	}
	if err != nil {
		return nil, err
	}
	var im *Image
	if src.Transport == imagename.DockerArchive {
		im, err = openDockerArchive(bs, src)
	} else {
		im, err = openLayout(bs, src)
	}
	if err != nil {
		bs.close()
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	im.close = bs.close
	return im, nil
}

// readDoc reads a small file of the source.
func readDoc(bs blobSource, name string) ([]byte, error) {
	rc, size, err := bs.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > maxDocument {
		return nil, fmt.Errorf("%s: %d bytes is too large", name, size)
	}
	return io.ReadAll(io.LimitReader(rc, maxDocument))
}

// blobName returns the path of a blob in an OCI layout.
func blobName(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return "", fmt.Errorf("unsupported digest %s", h)
	}
	if _, err := hex.DecodeString(h.Hex); err != nil {
		return "", fmt.Errorf("invalid digest %s", h)
	}
	return "blobs/sha256/" + h.Hex, nil
}

// readBlob reads a small blob and checks its digest.
func readBlob(bs blobSource, h v1.Hash) ([]byte, error) {
	n, err := blobName(h)
	if err != nil {
		return nil, err
	}
	b, err := readDoc(bs, n)
	if err != nil {
		return nil, err
	}
	if sha256Hex(b) != h.Hex {
		return nil, fmt.Errorf("blob %s: %w", h, ErrDigest)
	}
	return b, nil
}

func isIndex(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

// openLayout resolves an image in an OCI layout (a directory or a tar of
// one).
func openLayout(bs blobSource, src imagename.Source) (*Image, error) {
	layoutDoc, err := readDoc(bs, "oci-layout")
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	var lv struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(layoutDoc, &lv); err != nil || lv.Version != "1.0.0" {
		return nil, fmt.Errorf("not an OCI image layout 1.0.0 (oci-layout says %q)", layoutDoc)
	}
	idxDoc, err := readDoc(bs, "index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(idxDoc))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	desc, err := pickRef(idx.Manifests, src.Ref)
	if err != nil {
		return nil, err
	}
	o := ociimage.Origin{Original: src.String(), Repository: layoutName(src.Path), Tag: src.Ref}
	if full := desc.Annotations[containerdNameAnnotation]; full != "" {
		o.Registry, o.Repository, o.Tag = splitDockerName(full)
	} else if o.Tag == "" {
		o.Tag = desc.Annotations[refNameAnnotation]
	}
	for depth := 0; isIndex(desc.MediaType); depth++ {
		if depth > 4 {
			return nil, errors.New("manifest lists nested too deep")
		}
		b, err := readBlob(bs, desc.Digest)
		if err != nil {
			return nil, err
		}
		sub, err := v1.ParseIndexManifest(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("manifest list %s: %w", desc.Digest, err)
		}
		if desc, err = pickPlatform(sub.Manifests); err != nil {
			return nil, err
		}
	}
	rawManifest, err := readBlob(bs, desc.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	rawConfig, err := readBlob(bs, m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	im, err := fromParts(rawManifest, m, rawConfig, o)
	if err != nil {
		return nil, err
	}
	im.copyLayer = func(_ context.Context, l Layer, partial string) error {
		h, err := v1.NewHash(l.Digest)
		if err != nil {
			return err
		}
		n, err := blobName(h)
		if err != nil {
			return err
		}
		rc, _, err := bs.open(n)
		if err != nil {
			return err
		}
		defer rc.Close()
		return copyVerified(rc, partial, l.Digest, l.Size)
	}
	return im, nil
}

// layoutName is the image name of a layout without a name annotation:
// its directory's (or archive's) base name.
func layoutName(p string) string {
	b := filepath.Base(filepath.Clean(p))
	b = strings.TrimSuffix(b, ".tar")
	if b == "." || b == "/" || b == "" {
		return "image"
	}
	return b
}

// pickRef selects the manifest named ref, or the only one.
func pickRef(ds []v1.Descriptor, ref string) (v1.Descriptor, error) {
	var names []string
	for _, d := range ds {
		n := d.Annotations[refNameAnnotation]
		if ref != "" && (n == ref || d.Annotations[containerdNameAnnotation] == ref) {
			return d, nil
		}
		if n != "" {
			names = append(names, n)
		}
	}
	if ref == "" && len(ds) == 1 {
		return ds[0], nil
	}
	if ref == "" {
		return v1.Descriptor{}, fmt.Errorf("%w: the index holds %d images (%s): name one with :REF", ErrNoImage, len(ds), strings.Join(names, ", "))
	}
	return v1.Descriptor{}, fmt.Errorf("%w: no image named %q (there are: %s)", ErrNoImage, ref, strings.Join(names, ", "))
}

// pickPlatform selects the host's platform from a manifest list.
func pickPlatform(ds []v1.Descriptor) (v1.Descriptor, error) {
	want := hostPlatform()
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%w: no image for %s/%s in the manifest list", ErrNoImage, want.OS, want.Architecture)
}

// hostPlatform is what a manifest list is resolved to.
func hostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// fromParts checks a manifest and config and lists the layers.
func fromParts(rawManifest []byte, m *v1.Manifest, rawConfig []byte, o ociimage.Origin) (*Image, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("decoding the image config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image has %d layers but its config lists %d", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	o.ManifestDigest = "sha256:" + sha256Hex(rawManifest)
	o.ConfigDigest = "sha256:" + sha256Hex(rawConfig)
	im := &Image{Origin: o, RawManifest: rawManifest, RawConfig: rawConfig, Config: cfg}
	for i, d := range m.Layers {
		if d.Digest.Algorithm != "sha256" {
			return nil, fmt.Errorf("layer %s: unsupported digest algorithm", d.Digest)
		}
		if !layerMediaType(d.MediaType) {
			return nil, fmt.Errorf("layer %s: unsupported media type %q", d.Digest, d.MediaType)
		}
		im.Layers = append(im.Layers, Layer{
			Digest:    d.Digest.String(),
			DiffID:    cfg.RootFS.DiffIDs[i].String(),
			MediaType: string(d.MediaType),
			Size:      d.Size,
		})
	}
	return im, nil
}

// splitDockerName splits [REGISTRY/]REPO[:TAG] as docker names images.
func splitDockerName(s string) (registry, repo, tag string) {
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		s, tag = s[:i], s[i+1:]
	}
	if first, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		registry, s = first, rest
	}
	return registry, s, tag
}

// dockerArchiveEntry is one image of a docker-archive's manifest.json.
type dockerArchiveEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// openDockerArchive resolves an image in `docker save` output.
func openDockerArchive(bs blobSource, src imagename.Source) (*Image, error) {
	doc, err := readDoc(bs, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("not a docker-archive: %w", err)
	}
	var entries []dockerArchiveEntry
	if err := json.Unmarshal(doc, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var e *dockerArchiveEntry
	var tags []string
	for i := range entries {
		for _, t := range entries[i].RepoTags {
			tags = append(tags, t)
			if src.Ref != "" && (t == src.Ref || strings.TrimPrefix(t, "docker.io/") == src.Ref) {
				e = &entries[i]
			}
		}
	}
	switch {
	case e != nil:
	case src.Ref == "" && len(entries) == 1:
		e = &entries[0]
	case src.Ref == "":
		return nil, fmt.Errorf("%w: the archive holds %d images (%s): name one with :REF", ErrNoImage, len(entries), strings.Join(tags, ", "))
	default:
		return nil, fmt.Errorf("%w: no image tagged %q (there are: %s)", ErrNoImage, src.Ref, strings.Join(tags, ", "))
	}
	rawConfig, err := readDoc(bs, path.Clean(e.Config))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	o := ociimage.Origin{Original: src.String(), Repository: layoutName(src.Path)}
	name := src.Ref
	if name == "" && len(e.RepoTags) > 0 {
		name = e.RepoTags[0]
	}
	if name != "" {
		o.Registry, o.Repository, o.Tag = splitDockerName(name)
	}
	if o.Registry == "docker.io" {
		o.Registry = ""
	}
	// The archive's manifest.json entry stands in for the manifest; the
	// layers are addressed by the digest of their content as stored.
	rawManifest, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	m := &v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2}
	for _, l := range e.Layers {
		rc, size, err := bs.open(path.Clean(l))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{
			MediaType: types.OCIUncompressedLayer,
			Size:      size,
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))},
		})
	}
	im, err := fromParts(rawManifest, m, rawConfig, o)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for i, l := range im.Layers {
		files[l.Digest] = path.Clean(e.Layers[i])
	}
	im.copyLayer = func(_ context.Context, l Layer, partial string) error {
		rc, _, err := bs.open(files[l.Digest])
		if err != nil {
			return err
		}
		defer rc.Close()
		return copyVerified(rc, partial, l.Digest, l.Size)
	}
	return im, nil
}

// dirSource is an OCI layout directory.
type dirSource string

func (d dirSource) open(name string) (io.ReadCloser, int64, error) {
	if !validPath(name) {
		return nil, 0, fmt.Errorf("invalid path %q in the image", name)
	}
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", name)
	}
	return f, fi.Size(), nil
}

func (d dirSource) close() error { return nil }

// validPath accepts a clean relative slash path without "..".
func validPath(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return false
		}
	}
	return true
}

// tarSource is an archive read in place: its regular files are indexed
// by name once, then read through section readers, so that nothing is
// unpacked to disk.
type tarSource struct {
	f     *os.File
	files map[string]tarFile
}

type tarFile struct{ off, size int64 }

func openTarSource(p string) (*tarSource, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	or := &aci.CountingReader{R: f}
	tr := tar.NewReader(or)
	ts := &tarSource{f: f, files: map[string]tarFile{}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar reads headers block by block, without read-ahead, so
		// the position after Next is where the file's data starts.
		ts.files[path.Clean(strings.TrimPrefix(hdr.Name, "./"))] = tarFile{off: or.N, size: hdr.Size}
	}
	return ts, nil
}

func (t *tarSource) open(name string) (io.ReadCloser, int64, error) {
	tf, ok := t.files[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, tf.off, tf.size)), tf.size, nil
}

func (t *tarSource) close() error { return t.f.Close() }
