package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

// ociArchive tars an OCI layout directory into a temporary oci-archive.
func ociArchive(t *testing.T, layout string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(layout)+".tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(layout, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(layout, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

const insecureImage = "--insecure-options=image"

// multilayerScript is what the fixture's CMD checks, run explicitly.
const multilayerOK = "multilayer OK"

func TestDockerLocalSources(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	layout := fix(t, "oci-multilayer")
	sources := []string{
		"oci-layout:" + layout + ":latest",
		"oci-layout:" + layout,
		"oci-archive:" + ociArchive(t, layout),
		"docker-archive:" + fix(t, "multilayer-docker-archive.tar"),
		"docker-archive:" + fix(t, "multilayer-docker-archive.tar") + ":library/multilayer:latest",
	}
	// Unsigned: refused without --insecure-options=image, and says so.
	r := e.Rkt("fetch", sources[0]).Fails(t, 254, "--insecure-options=image")
	if imageCount(t, e) != 0 {
		t.Fatalf("refused image stored: %s", r)
	}
	for _, src := range sources {
		t.Run(strings.SplitN(src, ":", 2)[0], func(t *testing.T) {
			id := fetchOut(t, e.Rkt("fetch", insecureImage, src))
			r := e.Rkt("run", insecureImage, id).OK(t)
			if !strings.Contains(r.Stdout, multilayerOK) || !strings.Contains(r.Stdout, "from-layer3") {
				t.Errorf("the image's CMD did not see the layers right:\n%s", r)
			}
			// run takes the source itself too.
			r = e.Rkt("run", insecureImage, src).OK(t)
			if !strings.Contains(r.Stdout, multilayerOK) {
				t.Errorf("run %s:\n%s", src, r)
			}
		})
	}
	// A ref the layout does not have, and a missing layout.
	e.Rkt("fetch", insecureImage, "oci-layout:"+layout+":nosuch").Fails(t, 254, "no image named")
	e.Rkt("fetch", insecureImage, "oci-layout:/nonexistent/layout").Fails(t, 254, "/nonexistent/layout")

	// The store lists them sensibly: name from the source, version = ref.
	list := e.Rkt("image", "list", "--no-legend", "--fields=name").OK(t).Stdout
	for _, want := range []string{"oci-multilayer:latest", "library/multilayer:latest"} {
		if !strings.Contains(list, want) {
			t.Errorf("image list lacks %s:\n%s", want, list)
		}
	}
	// export makes an ACI of the layers applied; extract lays them out.
	out := filepath.Join(e.Root, "multilayer.aci")
	e.Rkt("image", "export", "oci-multilayer:latest", out).OK(t)
	aciID := fetchOut(t, e.Rkt("fetch", insecureImage, out))
	if r := e.Rkt("run", aciID, "--exec=/bin/cat", "--", "/etc/layer3").OK(t); !strings.Contains(r.Stdout, "layer 3") {
		t.Errorf("exported ACI: %s", r)
	}
	ex := filepath.Join(e.Root, "extracted")
	e.Rkt("image", "extract", "--rootfs-only", "oci-multilayer:latest", ex).OK(t)
	if _, err := os.Stat(filepath.Join(ex, "etc", "layer3")); err != nil {
		t.Errorf("extract: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(ex, "etc", "remove-me")); err == nil {
		t.Error("extract kept a whited-out file")
	}
	m := e.Rkt("image", "cat-manifest", "oci-multilayer:latest").OK(t).Stdout
	for _, want := range []string{`"appc.io/docker/manifesthash"`, `"appc.io/docker/cmd"`, `"os"`, `"arch"`} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %s:\n%s", want, m)
		}
	}
}

// fileListing lists every path under the image's own directories with
// its type, mode, and content checksum, one line each, sorted. The same
// busybox commands run in the rkt pod and in the podman container.
const fileListing = `cd / && find bin etc opt usr sbin lib var root home 2>/dev/null | grep -v -e '^etc/hosts$' -e '^etc/resolv.conf$' -e '^etc/hostname$' -e '^etc/mtab$' | sort | while read -r f; do
  if [ -L "$f" ]; then echo "$f L $(readlink "$f")"
  elif [ -d "$f" ]; then echo "$f D $(stat -c %a "$f")"
  else echo "$f F $(stat -c %a "$f") $(md5sum < "$f" | cut -d' ' -f1)"; fi
done`

func TestDockerMultilayerMatchesPodman(t *testing.T) {
	harness.RequireRoot(t)
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman not installed")
	}
	e := harness.NewEnv(t)
	layout := fix(t, "oci-multilayer")
	r := e.Rkt("run", insecureImage, "oci-layout:"+layout+":latest", "--exec=/bin/sh", "--", "-c", fileListing).OK(t)
	ours := r.Stdout

	theirs := podmanListing(t, podman, "oci:"+layout+":latest")
	if ours != theirs {
		t.Errorf("files in the rkt pod differ from podman's:\n%s", lineDiff(theirs, ours))
	}
	for _, want := range []string{"etc/layer3 F", "opt/opaque/from-layer3 F"} {
		if !strings.Contains(ours, want) {
			t.Errorf("listing lacks %s", want)
		}
	}
	for _, gone := range []string{"etc/remove-me", "opt/opaque/from-layer2"} {
		if strings.Contains(ours, gone) {
			t.Errorf("listing has %s, which a whiteout removed", gone)
		}
	}
}

// podmanListing runs fileListing in a podman container of image, with a
// throw-away podman store removed even when the test fails.
func podmanListing(t *testing.T, podman, image string, pullFlags ...string) string {
	t.Helper()
	// podman limits the runroot path to 50 characters: not t.TempDir().
	pdir, err := os.MkdirTemp("/tmp", "rkt-podman-")
	if err != nil {
		t.Fatal(err)
	}
	pargs := []string{"--root", filepath.Join(pdir, "root"), "--runroot", filepath.Join(pdir, "runroot"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	t.Cleanup(func() {
		exec.Command(podman, append(pargs, "system", "reset", "--force")...).Run()
		os.RemoveAll(pdir)
	})
	args := append(append([]string{}, pargs...), "run", "--rm", "--network", "none",
		// This host's limits and hybrid cgroups rule out podman's defaults.
		"--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
	args = append(args, pullFlags...)
	args = append(args, image, "/bin/sh", "-c", fileListing)
	cmd := exec.Command(podman, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("podman run: %v\n%s", err, errb.String())
	}
	return out.String()
}

// lineDiff lists the lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- podman: "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ rkt:    "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// layoutBuilder writes an OCI image layout: busybox's layer from the
// fixtures plus layers and a config made by the test.
type layoutBuilder struct {
	t   *testing.T
	dir string
}

func newLayout(t *testing.T) *layoutBuilder {
	dir := filepath.Join(t.TempDir(), "layout")
	for _, d := range []string{dir, filepath.Join(dir, "blobs", "sha256")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return &layoutBuilder{t: t, dir: dir}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (l *layoutBuilder) blob(mt string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(l.dir, "blobs", "sha256", h), data, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return descriptor{MediaType: mt, Digest: "sha256:" + h, Size: int64(len(data))}
}

type tarFile struct {
	name, body, link string
	mode             int64
	uid, gid         int
	dir, hardlink    bool
}

// layer makes a gzip layer and returns it with its diff ID.
func (l *layoutBuilder) layer(files []tarFile) (descriptor, string) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		switch {
		case f.dir:
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		case f.hardlink:
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, f.link, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			l.t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(f.body))
		}
	}
	tw.Close()
	sum := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return l.blob("application/vnd.oci.image.layer.v1.tar+gzip", gz.Bytes()), "sha256:" + hex.EncodeToString(sum[:])
}

// busyboxLayer copies the busybox layer of the fixtures' OCI layout.
func (l *layoutBuilder) busyboxLayer() (descriptor, string) {
	src := fix(l.t, "oci")
	var idx struct{ Manifests []descriptor }
	readJSON(l.t, filepath.Join(src, "index.json"), &idx)
	var m struct {
		Config descriptor
		Layers []descriptor
	}
	readJSON(l.t, blobFile(src, idx.Manifests[0].Digest), &m)
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	readJSON(l.t, blobFile(src, m.Config.Digest), &cfg)
	data, err := os.ReadFile(blobFile(src, m.Layers[0].Digest))
	if err != nil {
		l.t.Fatal(err)
	}
	return l.blob(m.Layers[0].MediaType, data), cfg.RootFS.DiffIDs[0]
}

func blobFile(layout, digest string) string {
	return filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// image writes the config, manifest and index for layers.
func (l *layoutBuilder) image(ref string, config map[string]any, layers []descriptor, diffIDs []string) string {
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": config,
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	}
	cb, _ := json.Marshal(cfg)
	cd := l.blob("application/vnd.oci.image.config.v1+json", cb)
	mb, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": cd, "layers": layers,
	})
	md := l.blob("application/vnd.oci.image.manifest.v1+json", mb)
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
	ib, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []descriptor{md}})
	if err := os.WriteFile(filepath.Join(l.dir, "index.json"), ib, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return "oci-layout:" + l.dir + ":" + ref
}

// appImage is busybox plus a user, a working dir and a volume with
// content, and a config using every field rkt converts.
func appImage(t *testing.T) string {
	l := newLayout(t)
	base, baseDiff := l.busyboxLayer()
	app, appDiff := l.layer([]tarFile{
		{name: "etc/passwd", mode: 0o644, body: "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:app:/work:/bin/sh\n"},
		{name: "etc/group", mode: 0o644, body: "root:x:0:\napp:x:1234:\n"},
		{name: "work", dir: true, mode: 0o755, uid: 1234, gid: 1234},
		{name: "data", dir: true, mode: 0o750, uid: 1234, gid: 1234},
		{name: "data/seed", mode: 0o644, uid: 1234, gid: 1234, body: "seeded by the image\n"},
		{name: "data/seed-link", hardlink: true, link: "data/seed"},
	})
	return l.image("v1", map[string]any{
		"Entrypoint":   []string{"/bin/echo", "EP"},
		"Cmd":          []string{"CMD1", "CMD2"},
		"Env":          []string{"FOO=bar baz", "PATH=/bin:/usr/bin", "BROKEN"},
		"WorkingDir":   "/work",
		"User":         "app",
		"ExposedPorts": map[string]any{"8080/tcp": map[string]any{}, "53/udp": map[string]any{}},
		"Volumes":      map[string]any{"/data": map[string]any{}},
	}, []descriptor{base, app}, []string{baseDiff, appDiff})
}

func TestDockerConfigSemantics(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	src := appImage(t)
	id := fetchOut(t, e.Rkt("fetch", insecureImage, src))

	// ENTRYPOINT + CMD.
	if r := e.Rkt("run", id).OK(t); !strings.Contains(r.Stdout, "EP CMD1 CMD2") {
		t.Errorf("ENTRYPOINT+CMD: %s", r)
	}
	// Arguments after -- replace CMD, not the entrypoint.
	if r := e.Rkt("run", id, "--", "mine"); !strings.Contains(r.Stdout, "EP mine") || strings.Contains(r.Stdout, "CMD1") {
		t.Errorf("args replacing CMD: %s", r)
	}
	// --exec replaces the entrypoint (and drops CMD, as docker run --entrypoint).
	script := `echo "foo=$FOO"; echo "pwd=$(pwd)"; echo "uid=$(id -u) gid=$(id -g)"; cat /data/seed; stat -c 'data=%a %u:%g' /data; grep -q ' /data ' /proc/mounts && echo data-mounted; [ /data/seed -ef /data/seed-link ] && echo hardlinked`
	r := e.Rkt("run", id, "--exec=/bin/sh", "--", "-c", script).OK(t)
	for _, want := range []string{"foo=bar baz", "pwd=/work", "uid=1234 gid=1234", "seeded by the image", "data=750 1234:1234", "data-mounted", "hardlinked"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("pod output lacks %q:\n%s", want, r)
		}
	}
	if r := e.Rkt("run", id, "--exec=/bin/echo"); strings.Contains(r.Stdout, "CMD1") {
		t.Errorf("--exec kept the image's CMD: %s", r)
	}
	// The exposed port is the app's port 8080-tcp: forwarded from the host.
	port := freePort(t)
	cmd, uuid := startPod(t, e, "--port=8080-tcp:127.0.0.1:"+strconv.Itoa(port), id, "--exec=/bin/sh", "--", "-c",
		`mkdir -p www && echo "port from $(id -un)" > www/index.html && exec httpd -f -p 8080 -h www`)
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port)); got != "port from app\n" {
		t.Errorf("port 8080-tcp answered %q", got)
	}
	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	// Ports and mount points as docker2aci named them.
	m := e.Rkt("image", "cat-manifest", id).OK(t).Stdout
	for _, want := range []string{`"name":"53-udp"`, `"name":"8080-tcp"`, `"name":"volume-data"`, `"user":"app"`, `"group":"app"`} {
		if !strings.Contains(strings.ReplaceAll(m, " ", ""), want) {
			t.Errorf("manifest lacks %s:\n%s", want, m)
		}
	}
}

func TestDockerBadDigest(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	l := newLayout(t)
	base, baseDiff := l.busyboxLayer()
	src := l.image("bad", map[string]any{"Cmd": []string{"/bin/true"}}, []descriptor{base}, []string{baseDiff})
	// Flip one byte of the layer blob: its digest no longer matches.
	p := blobFile(l.dir, base.Digest)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e.Rkt("fetch", insecureImage, src).Fails(t, 254, "does not match its digest")
	if imageCount(t, e) != 0 {
		t.Error("an image with a bad layer was stored")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.DataDir, "cas", "layers")); len(ents) != 0 {
		t.Errorf("a bad layer was stored: %v", ents)
	}
}

func TestDockerLayersSharedAndCollected(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	layout := fix(t, "oci-multilayer")
	a := fetchOut(t, e.Rkt("fetch", "--full", insecureImage, "oci-layout:"+layout+":latest"))
	b := fetchOut(t, e.Rkt("fetch", "--full", insecureImage, "oci-archive:"+ociArchive(t, layout)))
	if a == b {
		t.Fatalf("two names of the same content should be two images (as docker2aci): %s", a)
	}
	layers := filepath.Join(e.DataDir, "cas", "layers")
	count := func() int {
		ents, _ := os.ReadDir(layers)
		return len(ents)
	}
	if n := count(); n != 3 {
		t.Fatalf("3 shared layers should be stored once each, found %d", n)
	}
	e.Rkt("image", "rm", a).OK(t)
	e.Rkt("image", "gc").OK(t)
	if n := count(); n != 3 {
		t.Fatalf("gc removed layers still used by %s: %d left", b, n)
	}
	e.Rkt("run", insecureImage, b).OK(t)
	e.Rkt("image", "rm", b).OK(t)
	e.Rkt("image", "gc").OK(t)
	if n := count(); n != 0 {
		t.Fatalf("gc left %d unused layers", n)
	}
}
