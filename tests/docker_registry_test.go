package tests

import (
	"bytes"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rkt/rkt/tests/harness"
)

const insecureRegistry = "--insecure-options=http,image"

func TestDockerRegistryFetchAndRun(t *testing.T) {
	srv := harness.Serve(t)
	reg := srv.Get("FIXTURES_REGISTRY")
	e := harness.NewEnv(t)
	busybox := "docker://" + reg + "/library/busybox"

	// Unsigned, and plain http: each needs its insecure option, and the
	// error says which.
	e.Rkt("fetch", "--insecure-options=http", busybox).Fails(t, 254, "--insecure-options=image")
	e.Rkt("fetch", insecureImage, busybox).Fails(t, 254, "--insecure-options=http")
	if imageCount(t, e) != 0 {
		t.Fatal("refused fetches stored an image")
	}
	for _, ref := range []string{busybox, busybox + ":oci", "docker:" + reg + "/library/busybox:latest"} {
		id := fetchOut(t, e.Rkt("fetch", insecureRegistry, ref))
		r := e.Rkt("run", insecureRegistry, id, "--exec=/bin/sh", "--", "-c", "echo hello from $(cat /etc/motd 2>/dev/null | head -c 0)docker").OK(t)
		if !strings.Contains(r.Stdout, "hello from docker") {
			t.Errorf("%s: %s", ref, r)
		}
	}
	// Schema 2 and OCI manifests of one layer share it.
	if ents, _ := os.ReadDir(filepath.Join(e.DataDir, "cas", "layers")); len(ents) != 1 {
		t.Errorf("busybox:latest and :oci should share their layer: %d layers stored", len(ents))
	}
	list := e.Rkt("image", "list", "--no-legend", "--fields=name").OK(t).Stdout
	wantName := strings.ReplaceAll(reg, ":", "_") + "/library/busybox:oci"
	if !strings.Contains(list, wantName) {
		t.Errorf("image list lacks %s:\n%s", wantName, list)
	}

	// run with the reference fetches through rkt-fetch.
	e2 := harness.NewEnv(t)
	r := e2.Rkt("run", insecureRegistry, "docker://"+reg+"/library/multilayer").OK(t)
	if !strings.Contains(r.Stdout, multilayerOK) {
		t.Errorf("multilayer from the registry: %s", r)
	}
}

func TestDockerRegistryMultilayerMatchesPodman(t *testing.T) {
	srv := harness.Serve(t)
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman not installed")
	}
	reg := srv.Get("FIXTURES_REGISTRY")
	e := harness.NewEnv(t)
	for _, tag := range []string{"latest", "oci"} {
		ref := reg + "/library/multilayer:" + tag
		ours := e.Rkt("run", insecureRegistry, "docker://"+ref, "--exec=/bin/sh", "--", "-c", fileListing).OK(t).Stdout
		theirs := podmanListing(t, podman, "docker://"+ref, "--tls-verify=false")
		if ours != theirs || !strings.Contains(ours, "etc/layer3 F") {
			t.Errorf("%s: files in the rkt pod differ from podman's:\n%s", tag, lineDiff(theirs, ours))
		}
	}
}

func TestDockerRegistryPullPolicies(t *testing.T) {
	srv := harness.Serve(t)
	reg := srv.Get("FIXTURES_REGISTRY")
	e := harness.NewEnv(t)
	ref := "docker://" + reg + "/library/multilayer"
	first := e.Rkt("fetch", insecureRegistry, ref)
	id := fetchOut(t, first)
	if !strings.Contains(first.Stderr, "Copying 3 of 3 layers") {
		t.Errorf("first fetch: %s", first)
	}
	// update (fetch's default): the registry is asked for the digest only.
	start := time.Now()
	again := e.Rkt("fetch", insecureRegistry, ref)
	took := time.Since(start)
	if got := fetchOut(t, again); got != id || strings.Contains(again.Stderr, "Copying") {
		t.Errorf("unchanged image fetched again: %s", again)
	}
	t.Logf("update re-fetch of an unchanged image took %v", took)
	for _, p := range []string{"new", "never"} {
		if got := fetchOut(t, e.Rkt("fetch", insecureRegistry, "--pull-policy="+p, ref)); got != id {
			t.Errorf("pull policy %s: %s, want %s", p, got, id)
		}
	}
	e.Rkt("fetch", insecureRegistry, "--pull-policy=never", "docker://"+reg+"/library/busybox").Fails(t, 254, "not found in the store")
}

// testRegistry is an in-process registry on 127.0.0.1 holding the
// fixtures' OCI busybox image as library/busybox:latest, behind hooks
// that can demand basic auth, cut a blob short or corrupt it.
type testRegistry struct {
	srv   *httptest.Server
	inner http.Handler
	host  string
	layer string // digest of the image's layer

	user, password string
	dropAfter      int64 // cut the first GET of the layer after this many bytes
	corrupt        bool  // flip a byte of the layer
	mu             sync.Mutex
	ranges         []string // Range headers of layer GETs
	dropped        atomic.Bool
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{inner: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	tr.srv = httptest.NewServer(tr)
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	idx, err := layout.ImageIndexFromPath(fix(t, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(tr.host+"/library/busybox:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ls[0].Digest()
	tr.layer = d.String()
	return tr
}

func (tr *testRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tr.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != tr.user || p != tr.password {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "auth needed", http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+tr.layer) {
		tr.inner.ServeHTTP(w, r)
		return
	}
	// The layer: served with Range support (as registries do), and cut
	// short or corrupted when the test asks.
	rec := httptest.NewRecorder()
	whole := r.Clone(r.Context())
	whole.Header.Del("Range")
	whole.Header.Del("If-Range")
	tr.inner.ServeHTTP(rec, whole)
	body := rec.Body.Bytes()
	if tr.corrupt {
		body = append([]byte{}, body...)
		body[len(body)/2] ^= 0xff
	}
	tr.mu.Lock()
	tr.ranges = append(tr.ranges, r.Header.Get("Range"))
	tr.mu.Unlock()
	if tr.dropAfter > 0 && !tr.dropped.Swap(true) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("ETag", `"`+tr.layer+`"`)
		w.WriteHeader(http.StatusOK)
		w.Write(body[:tr.dropAfter])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("ETag", `"`+tr.layer+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func TestDockerRegistryBasicAuth(t *testing.T) {
	harness.RequireRoot(t)
	tr := newTestRegistry(t)
	tr.user, tr.password = "rkt-user", "s3cret"
	e := harness.NewEnv(t)
	ref := "docker://" + tr.host + "/library/busybox"
	e.Rkt("fetch", insecureRegistry, ref).Fails(t, 254, "dockerAuth", tr.host)
	writeConfig(t, e.LocalConfig, "auth.d", "wrong.json",
		`{"rktKind":"dockerAuth","rktVersion":"v1","registries":["`+tr.host+`"],"credentials":{"user":"rkt-user","password":"wrong"}}`)
	e.Rkt("fetch", insecureRegistry, ref).Fails(t, 254, "refused access")
	writeConfig(t, e.LocalConfig, "auth.d", "wrong.json",
		`{"rktKind":"dockerAuth","rktVersion":"v1","registries":["`+tr.host+`"],"credentials":{"user":"rkt-user","password":"s3cret"}}`)
	id := fetchOut(t, e.Rkt("fetch", insecureRegistry, ref))
	e.Rkt("run", insecureRegistry, id, "--exec=/bin/true").OK(t)

	// The invoking user's ~/.docker/config.json serves too.
	home := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("rkt-user:s3cret"))
	writeConfig(t, home, ".docker", "config.json", `{"auths":{"`+tr.host+`":{"auth":"`+auth+`"}}}`)
	e2 := harness.NewEnv(t)
	e2.Rkt("fetch", insecureRegistry, ref).Fails(t, 254, "refused access")
	fetchOut(t, e2.RktOpts(harness.RunOpts{Env: []string{"HOME=" + home}}, "fetch", insecureRegistry, ref))
}

func TestDockerRegistryTLS(t *testing.T) {
	harness.RequireRoot(t)
	tr := newTestRegistry(t)
	tls := httptest.NewTLSServer(tr) // a self-signed certificate
	t.Cleanup(tls.Close)
	host := strings.TrimPrefix(tls.URL, "https://")
	e := harness.NewEnv(t)
	ref := "docker://" + host + "/library/busybox"
	e.Rkt("fetch", insecureImage, ref).Fails(t, 254, "certificate")
	id := fetchOut(t, e.Rkt("fetch", "--insecure-options=tls,image", ref))
	e.Rkt("run", insecureImage, id, "--exec=/bin/true").OK(t)
	// A plain-http registry is refused without http, though https was not.
	e.Rkt("fetch", "--insecure-options=tls,image", "docker://"+tr.host+"/library/busybox").Fails(t, 254, "--insecure-options=http")
}

func TestDockerRegistryResumesLayer(t *testing.T) {
	harness.RequireRoot(t)
	tr := newTestRegistry(t)
	tr.dropAfter = 300 << 10
	e := harness.NewEnv(t)
	id := fetchOut(t, e.Rkt("fetch", insecureRegistry, "docker://"+tr.host+"/library/busybox"))
	e.Rkt("run", insecureRegistry, id, "--exec=/bin/true").OK(t)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.ranges) != 2 || tr.ranges[0] != "" || tr.ranges[1] != "bytes=307200-" {
		t.Errorf("layer requests had Range headers %q, want a full request then bytes=307200-", tr.ranges)
	}
}

func TestDockerRegistryBadDigest(t *testing.T) {
	harness.RequireRoot(t)
	tr := newTestRegistry(t)
	tr.corrupt = true
	e := harness.NewEnv(t)
	e.Rkt("fetch", insecureRegistry, "docker://"+tr.host+"/library/busybox").Fails(t, 254, "does not match its digest")
	if imageCount(t, e) != 0 {
		t.Error("an image with a corrupt layer was stored")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.DataDir, "cas", "layers")); len(ents) != 0 {
		t.Errorf("a corrupt layer was stored: %d", len(ents))
	}
	ents, _ := os.ReadDir(filepath.Join(e.DataDir, "cas", "tmp"))
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), "layer-") {
			t.Errorf("the corrupt download was kept: %s", en.Name())
		}
	}
}
