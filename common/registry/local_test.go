package registry

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rkt/rkt/common/imagename"
)

type testLayout struct {
	t     *testing.T
	dir   string
	files map[string][]byte // path in the layout -> content
}

func (l *testLayout) blob(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	l.files["blobs/sha256/"+h] = data
	return "sha256:" + h
}

func (l *testLayout) json(v any) (string, int) {
	b, err := json.Marshal(v)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.blob(b), len(b)
}

// image adds an image for arch (one layer) and returns its manifest
// descriptor.
func (l *testLayout) image(arch, layer string) map[string]any {
	ld := l.blob([]byte(layer))
	cd, cs := l.json(map[string]any{"architecture": arch, "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/" + arch}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}}})
	md, ms := l.json(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}}})
	return map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
		"platform": map[string]any{"os": "linux", "architecture": arch}}
}

func newTestLayout(t *testing.T) *testLayout {
	l := &testLayout{t: t, dir: t.TempDir(), files: map[string][]byte{}}
	l.files["oci-layout"] = []byte(`{"imageLayoutVersion":"1.0.0"}`)
	// A manifest list of two platforms, named "multi", and one image "one".
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	listD, listS := l.json(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{l.image(other, "other layer"), l.image(runtime.GOARCH, "host layer")}})
	one := l.image(runtime.GOARCH, "one layer")
	one["annotations"] = map[string]string{refNameAnnotation: "one"}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{
		map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": listD, "size": listS,
			"annotations": map[string]string{refNameAnnotation: "multi"}},
		one,
	}})
	l.files["index.json"] = idx
	return l
}

func (l *testLayout) writeDir() string {
	for p, b := range l.files {
		full := filepath.Join(l.dir, "layout", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			l.t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
	return filepath.Join(l.dir, "layout")
}

func (l *testLayout) writeTar(name string, files map[string][]byte) string {
	p := filepath.Join(l.dir, name)
	f, err := os.Create(p)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for n, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			l.t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		l.t.Fatal(err)
	}
	return p
}

func copyAll(t *testing.T, im *Image) []string {
	t.Helper()
	var out []string
	for _, ly := range im.Layers {
		p := filepath.Join(t.TempDir(), "layer")
		if err := im.CopyLayer(context.Background(), ly, p); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		out = append(out, string(b))
	}
	return out
}

func TestOpenLayoutAndArchive(t *testing.T) {
	l := newTestLayout(t)
	dir := l.writeDir()
	archive := l.writeTar("layout.tar", l.files)
	for _, src := range []imagename.Source{
		{Transport: imagename.OCILayout, Path: dir, Ref: "multi"},
		{Transport: imagename.OCIArchive, Path: archive, Ref: "multi"},
	} {
		im, err := OpenLocal(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := copyAll(t, im); len(got) != 1 || got[0] != "host layer" {
			t.Errorf("%s: the manifest list resolved to %q, want the host's image", src, got)
		}
		if im.Origin.Tag != "multi" || im.Origin.Repository == "" || im.Config.Config.Cmd[0] != "/bin/"+runtime.GOARCH {
			t.Errorf("%s: origin %+v", src, im.Origin)
		}
		im.Close()
	}
	// Without REF a layout of two images is ambiguous; a missing REF says
	// what there is.
	if _, err := OpenLocal(imagename.Source{Transport: imagename.OCILayout, Path: dir}); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "multi, one") {
		t.Errorf("no ref: %v", err)
	}
	if _, err := OpenLocal(imagename.Source{Transport: imagename.OCILayout, Path: dir, Ref: "nosuch"}); !errors.Is(err, ErrNoImage) {
		t.Errorf("missing ref: %v", err)
	}
}

func TestLayoutBadBlob(t *testing.T) {
	l := newTestLayout(t)
	dir := l.writeDir()
	im, err := OpenLocal(imagename.Source{Transport: imagename.OCILayout, Path: dir, Ref: "one"})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(im.Layers[0].Digest, "sha256:"))
	if err := os.WriteFile(p, []byte("one layeR"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "layer")
	if err := im.CopyLayer(context.Background(), im.Layers[0], out); !errors.Is(err, ErrDigest) {
		t.Fatalf("corrupt layer copied: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the corrupt copy was left behind")
	}
}

func TestDockerArchive(t *testing.T) {
	l := &testLayout{t: t, dir: t.TempDir(), files: map[string][]byte{}}
	layer := []byte("a layer tar")
	sum := sha256.Sum256(layer)
	diff := "sha256:" + hex.EncodeToString(sum[:])
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diff}}})
	man, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": []string{"example.com:5000/team/app:v2"}, "Layers": []string{"abc/layer.tar"}}})
	archive := l.writeTar("app.tar", map[string][]byte{"manifest.json": man, "cfg.json": cfg, "abc/layer.tar": layer})
	im, err := OpenLocal(imagename.Source{Transport: imagename.DockerArchive, Path: archive})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	o := im.Origin
	if o.Registry != "example.com:5000" || o.Repository != "team/app" || o.Tag != "v2" {
		t.Errorf("origin %+v", o)
	}
	if im.Layers[0].Digest != diff || im.Layers[0].DiffID != diff {
		t.Errorf("layer %+v", im.Layers[0])
	}
	if got := copyAll(t, im); got[0] != string(layer) {
		t.Errorf("layer content %q", got)
	}
	if _, err := OpenLocal(imagename.Source{Transport: imagename.DockerArchive, Path: archive, Ref: "other:tag"}); !errors.Is(err, ErrNoImage) {
		t.Errorf("unknown tag: %v", err)
	}
}

func TestSplitDockerName(t *testing.T) {
	for in, want := range map[string][3]string{
		"busybox":                       {"", "busybox", ""},
		"library/busybox:latest":        {"", "library/busybox", "latest"},
		"localhost/x:1":                 {"localhost", "x", "1"},
		"127.0.0.1:5000/a/b":            {"127.0.0.1:5000", "a/b", ""},
		"quay.io/coreos/etcd:v3.5.0":    {"quay.io", "coreos/etcd", "v3.5.0"},
		"registry:5000/path/to/img:tag": {"registry:5000", "path/to/img", "tag"},
	} {
		r, p, tag := splitDockerName(in)
		if [3]string{r, p, tag} != want {
			t.Errorf("%s: %q %q %q, want %q", in, r, p, tag, want)
		}
	}
}
