package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/klauspost/compress/zstd"
)

// storeLayer stores a gzip layer with the given files (a body of "" is a
// whiteout marker file) and returns its record.
func storeLayer(t *testing.T, s *Store, files map[string]string) Layer {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for p, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	diff := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	sum := sha256.Sum256(gz.Bytes())
	l := Layer{Digest: "sha256:" + hex.EncodeToString(sum[:]), DiffID: "sha256:" + hex.EncodeToString(diff[:]), Size: int64(gz.Len())}
	tmp, err := s.LayerPartial(l.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.InstallLayer(tmp, l.Digest); err != nil {
		t.Fatal(err)
	}
	return l
}

func ociManifest(t *testing.T, name, version string) *schema.ImageManifest {
	t.Helper()
	m := schema.BlankImageManifest()
	m.Name = types.ACIdentifier(name)
	m.Labels, _ = types.LabelsFromMap(map[types.ACIdentifier]string{"version": version})
	m.App = &types.App{Exec: types.Exec{"/bin/true"}, User: "0", Group: "0"}
	return m
}

func TestOCIImportRenderAndLayerGC(t *testing.T) {
	s := newStore(t)
	base := storeLayer(t, s, map[string]string{"etc/a": "base", "etc/b": "base"})
	top := storeLayer(t, s, map[string]string{"etc/.wh.b": "", "etc/c": "top"})
	other := storeLayer(t, s, map[string]string{"only": "other"})

	one, err := s.ImportOCI(&OCIImport{Manifest: ociManifest(t, "example.com/one", "1"), Layers: []Layer{base, top}, RawManifest: []byte("{}"), RawConfig: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	two, err := s.ImportOCI(&OCIImport{Manifest: ociManifest(t, "example.com/two", "1"), Layers: []Layer{base, other}})
	if err != nil {
		t.Fatal(err)
	}
	if one.Key == two.Key || !s.IsOCI(one.Key) {
		t.Fatalf("keys %s %s", one.Key, two.Key)
	}
	if k, err := s.Resolve("example.com/one:1"); err != nil || k != one.Key {
		t.Fatalf("resolve by name: %s %v", k, err)
	}
	id, err := s.Render(one.Key, false, false)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := s.TreeRootfs(id)
	for p, want := range map[string]string{"etc/a": "base", "etc/c": "top"} {
		if b, err := os.ReadFile(filepath.Join(rootfs, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", p, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/b")); err == nil {
		t.Error("the whiteout did not remove etc/b")
	}
	if err := s.VerifyTree(id); err != nil {
		t.Errorf("fresh tree does not verify: %v", err)
	}

	// gc keeps the layers images list.
	var removed []string
	gc := func() {
		removed = nil
		if err := s.GCLayers(func(d string) { removed = append(removed, d) }); err != nil {
			t.Fatal(err)
		}
	}
	gc()
	if len(removed) != 0 {
		t.Fatalf("gc removed used layers %v", removed)
	}
	if err := s.Remove(one.Key); err != nil {
		t.Fatal(err)
	}
	gc()
	if len(removed) != 1 || removed[0] != top.Digest {
		t.Fatalf("gc removed %v, want only %s", removed, top.Digest)
	}
	if !s.HasLayer(base.Digest, base.Size) {
		t.Fatal("shared layer gone")
	}
	// An image whose layer is missing is refused.
	_, err = s.ImportOCI(&OCIImport{Manifest: ociManifest(t, "example.com/three", "1"), Layers: []Layer{top}})
	if !errors.Is(err, ErrMissingLayer) {
		t.Fatalf("import without its layer: %v", err)
	}
}

func TestOCIRenderChecksDiffID(t *testing.T) {
	s := newStore(t)
	l := storeLayer(t, s, map[string]string{"x": "1"})
	l.DiffID = "sha256:" + hex.EncodeToString(make([]byte, 32))
	info, err := s.ImportOCI(&OCIImport{Manifest: ociManifest(t, "example.com/bad", "1"), Layers: []Layer{l}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Render(info.Key, false, false); !errors.Is(err, ErrImageDamaged) {
		t.Fatalf("render with a wrong diff ID: %v", err)
	}
}

func TestLayerDigestNames(t *testing.T) {
	s := newStore(t)
	for _, d := range []string{"sha256:../../x", "sha512:" + hex.EncodeToString(make([]byte, 32)), "sha256:ABCDEF", ""} {
		if _, err := s.LayerPath(d); !errors.Is(err, ErrBadDigest) {
			t.Errorf("%q: %v", d, err)
		}
	}
}

func TestOCIZstdLayer(t *testing.T) {
	s := newStore(t)
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "z", Mode: 0o644, Typeflag: tar.TypeReg, Size: 4})
	tw.Write([]byte("zstd"))
	tw.Close()
	diff := sha256.Sum256(raw.Bytes())
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := enc.EncodeAll(raw.Bytes(), nil)
	enc.Close()
	sum := sha256.Sum256(blob)
	l := Layer{Digest: "sha256:" + hex.EncodeToString(sum[:]), DiffID: "sha256:" + hex.EncodeToString(diff[:]),
		MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", Size: int64(len(blob))}
	tmp, _ := s.LayerPartial(l.Digest)
	if err := os.WriteFile(tmp, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.InstallLayer(tmp, l.Digest); err != nil {
		t.Fatal(err)
	}
	info, err := s.ImportOCI(&OCIImport{Manifest: ociManifest(t, "example.com/zstd", "1"), Layers: []Layer{l}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Render(info.Key, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(s.TreeRootfs(id), "z")); err != nil || string(b) != "zstd" {
		t.Errorf("z = %q, %v", b, err)
	}
}
