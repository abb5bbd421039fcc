package tests

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

func fetchOut(t *testing.T, r *harness.Result) string {
	t.Helper()
	r.OK(t)
	id := strings.TrimSpace(r.Stdout)
	if strings.Contains(id, "\n") || !strings.HasPrefix(id, "sha512-") {
		t.Fatalf("fetch must print exactly one ID: %q", r.Stdout)
	}
	return id
}

func imageCount(t *testing.T, e *harness.Env) int {
	t.Helper()
	out := e.Rkt("image", "list", "--no-legend", "--fields=id").OK(t).Stdout
	return len(strings.Fields(out))
}

func TestFetchFileSigned(t *testing.T) {
	e := harness.NewEnv(t)
	aci := fix(t, "busybox.aci")
	want := fixtureID(t, "busybox.aci")

	// Not trusted yet: refused, with advice, and nothing stored.
	r := e.Rkt("fetch", aci).Fails(t, 254, "rkt trust", "--insecure-options=image")
	if r.Stdout != "" || imageCount(t, e) != 0 {
		t.Fatalf("refused image left output or store entries: %s", r)
	}
	trustFixtureKey(t, e, "example.com/busybox")
	id := fetchOut(t, e.Rkt("fetch", aci))
	if id != want[:len("sha512-")+32] {
		t.Errorf("fetch printed %s, want short form of %s", id, want)
	}
	if !strings.Contains(e.Rkt("fetch", aci).Stderr, "signature verified") {
		t.Error("no 'signature verified' message")
	}
	full := fetchOut(t, e.Rkt("fetch", "--full", aci))
	if len(full) != 71 || !strings.HasPrefix(want, full) {
		t.Errorf("--full printed %s", full)
	}
	// The same image fetched again (also as file://) is one store entry.
	fetchOut(t, e.Rkt("fetch", "file://"+aci))
	if n := imageCount(t, e); n != 1 {
		t.Errorf("%d store entries after fetching one image three times", n)
	}
	// Store-only lookups by ID, short ID and name.
	for _, arg := range []string{want, want[:19], "example.com/busybox", "example.com/busybox:" + busyboxVersion(t)} {
		if got := fetchOut(t, e.Rkt("fetch", "--pull-policy=never", arg)); got != id {
			t.Errorf("fetch --pull-policy=never %s = %s", arg, got)
		}
	}
	e.Rkt("fetch", "--pull-policy=never", "example.com/other").Fails(t, 254, "not found")
}

func busyboxVersion(t *testing.T) string {
	data, err := os.ReadFile(fix(t, "FIXTURES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), "version=")
	return strings.Fields(string(data)[i+len("version="):])[0]
}

func TestFetchSignatureFailures(t *testing.T) {
	e := harness.NewEnv(t)
	trustFixtureKey(t, e, "example.com/busybox")
	e.Rkt("fetch", fix(t, "busybox-tampered.aci")).Fails(t, 254, "signature")
	e.Rkt("fetch", fix(t, "busybox-untrusted.aci")).Fails(t, 254, "rkt trust")
	// Unsigned: an image without a .asc.
	dir := t.TempDir()
	unsigned := filepath.Join(dir, "busybox.aci")
	copyFile(t, fix(t, "busybox.aci"), unsigned)
	e.Rkt("fetch", unsigned).Fails(t, 254, "no signature found", "--insecure-options=image")
	r := e.Rkt("fetch", "--insecure-options=image", unsigned)
	fetchOut(t, r)
	if !strings.Contains(r.Stderr, "signature verification has been disabled") {
		t.Errorf("no warning for --insecure-options=image: %s", r)
	}
	// --signature names the signature explicitly.
	e2 := harness.NewEnv(t)
	trustFixtureKey(t, e2, "example.com/busybox")
	fetchOut(t, e2.Rkt("fetch", "--signature="+fix(t, "busybox.aci.asc"), unsigned))
	if imageCount(t, e) != 1 || imageCount(t, e2) != 1 {
		t.Error("failed fetches stored something")
	}
}

func TestFetchTrustPrefixes(t *testing.T) {
	aci := fix(t, "busybox.aci")
	t.Run("wrong prefix", func(t *testing.T) {
		e := harness.NewEnv(t)
		trustFixtureKey(t, e, "example.org")
		e.Rkt("fetch", aci).Fails(t, 254, "rkt trust")
	})
	t.Run("parent prefix", func(t *testing.T) {
		e := harness.NewEnv(t)
		trustFixtureKey(t, e, "example.com")
		fetchOut(t, e.Rkt("fetch", aci))
	})
	t.Run("root", func(t *testing.T) {
		e := harness.NewEnv(t)
		trustFixtureKey(t, e, "")
		fetchOut(t, e.Rkt("fetch", aci))
	})
	t.Run("masked", func(t *testing.T) {
		e := harness.NewEnv(t)
		// Trusted by the system config, masked by an empty local file.
		sys := harness.NewEnv(t)
		trustFixtureKey(t, sys, "example.com/busybox")
		src := filepath.Join(sys.LocalConfig, "trustedkeys")
		copyTree(t, src, filepath.Join(e.SystemConfig, "trustedkeys"))
		fetchOut(t, e.Rkt("fetch", aci))
		fpr := strings.ToLower(strings.TrimSpace(readFile(t, fix(t, "signing-key.fpr"))))
		mask := filepath.Join(e.LocalConfig, "trustedkeys", "prefix.d", "example.com", "busybox", fpr)
		if err := os.MkdirAll(filepath.Dir(mask), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mask, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		e.Rkt("image", "rm", "example.com/busybox").OK(t)
		e.Rkt("fetch", aci).Fails(t, 254, "rkt trust")
	})
}

func TestFetchHostileImages(t *testing.T) {
	e := harness.NewEnv(t)
	for _, name := range []string{"path-traversal.aci", "path-traversal-bare.aci", "symlink-escape-abs.aci", "symlink-escape-rel.aci", "invalid-manifest.aci"} {
		t.Run(name, func(t *testing.T) {
			r := e.Rkt("fetch", "--insecure-options=image", fix(t, name))
			r.Fails(t, 254, "rkt: ")
			if r.Stdout != "" {
				t.Errorf("stdout: %q", r.Stdout)
			}
		})
	}
	for _, p := range []string{"/tmp/aci-symlink-escape-abs", "/tmp/aci-symlink-escape-rel", filepath.Join(e.DataDir, "escape"), filepath.Join(e.Root, "escape")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	if n := imageCount(t, e); n != 0 {
		t.Errorf("%d images stored from hostile input", n)
	}
	assertCleanTmp(t, e)
}

// assertCleanTmp checks that no work directory was left in cas/tmp.
func assertCleanTmp(t *testing.T, e *harness.Env) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(e.DataDir, "cas", "tmp"))
	for _, en := range ents {
		t.Errorf("left in cas/tmp: %s", en.Name())
	}
}

func TestFetchHTTPSAndDiscovery(t *testing.T) {
	srv := harness.Serve(t)
	ca := "SSL_CERT_FILE=" + srv.Get("FIXTURES_CA")
	e := harness.NewEnv(t)
	opts := harness.RunOpts{Env: []string{ca}}
	e.RktOpts(opts, "fetch", srv.Get("FIXTURES_ACI_URL")).Fails(t, 254, "rkt trust")
	trustFixtureKey(t, e, "example.com/busybox")
	id := fetchOut(t, e.RktOpts(opts, "fetch", srv.Get("FIXTURES_ACI_URL")))
	// Without the CA the certificate is refused; with tls insecure it is not.
	e2 := harness.NewEnv(t)
	trustFixtureKey(t, e2, "example.com/busybox")
	e2.Rkt("fetch", srv.Get("FIXTURES_ACI_URL")).Fails(t, 254, "certificate")
	fetchOut(t, e2.Rkt("fetch", "--insecure-options=tls", srv.Get("FIXTURES_ACI_URL")))
	// Plain http needs the insecure option.
	e2.Rkt("fetch", "http://127.0.0.1:1/x.aci").Fails(t, 254, "--insecure-options=http")

	// Discovery by name, with example.com resolved to 127.0.0.1.
	e3 := harness.NewEnv(t)
	trustFixtureKey(t, e3, "example.com/busybox")
	disc := harness.RunOpts{Env: []string{ca}, Hosts: srv.Get("FIXTURES_HOSTS_FILE")}
	if got := fetchOut(t, e3.RktOpts(disc, "fetch", "example.com/busybox")); got != id {
		t.Errorf("discovered %s, want %s", got, id)
	}
	if got := fetchOut(t, e3.RktOpts(disc, "fetch", "example.com/busybox:"+srv.Get("FIXTURES_ACI_VERSION"))); got != id {
		t.Errorf("discovered versioned %s", got)
	}
	// new: from the store without asking; never: the store only.
	if got := fetchOut(t, e3.Rkt("fetch", "--pull-policy=new", "example.com/busybox")); got != id {
		t.Errorf("pull policy new: %s", got)
	}
	// --trust-keys-from-https trusts the discovered key.
	e4 := harness.NewEnv(t)
	r := e4.RktOpts(disc, "--trust-keys-from-https", "fetch", "example.com/busybox")
	fetchOut(t, r)
	if _, err := os.Stat(filepath.Join(e4.LocalConfig, "trustedkeys", "prefix.d", "example.com", "busybox")); err != nil {
		t.Errorf("key not trusted: %v\n%s", err, r)
	}
}

// cacheServer serves one ACI over https with cache headers and counts
// what it was asked.
type cacheServer struct {
	*httptest.Server
	aci, asc      []byte
	gets, ranges  atomic.Int32
	dropFirst     atomic.Bool
	maxAge        string
	etag          string
	certFile      string
	bodyBytesSent atomic.Int64
}

func newCacheServer(t *testing.T, aci, asc []byte) *cacheServer {
	cs := &cacheServer{aci: aci, asc: asc, etag: `"v1"`}
	cs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := cs.aci
		if strings.HasSuffix(r.URL.Path, ".asc") {
			body = cs.asc
		} else {
			cs.gets.Add(1)
		}
		isSig := strings.HasSuffix(r.URL.Path, ".asc")
		if cs.maxAge != "" {
			w.Header().Set("Cache-Control", "max-age="+cs.maxAge)
		}
		w.Header().Set("ETag", cs.etag)
		if r.Header.Get("If-None-Match") == cs.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if rg := r.Header.Get("Range"); rg != "" && !strings.HasSuffix(r.URL.Path, ".asc") {
			cs.ranges.Add(1)
			http.ServeContent(w, r, "x.aci", time.Unix(1700000000, 0), strings.NewReader(string(body)))
			return
		}
		if cs.dropFirst.CompareAndSwap(true, false) && !strings.HasSuffix(r.URL.Path, ".asc") {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			half := len(body) / 2
			w.Write(body[:half])
			cs.bodyBytesSent.Add(int64(half))
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		if !isSig {
			cs.bodyBytesSent.Add(int64(len(body)))
		}
	}))
	t.Cleanup(cs.Close)
	cs.certFile = filepath.Join(t.TempDir(), "cert.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cs.Certificate().Raw})
	if err := os.WriteFile(cs.certFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestFetchCacheControlAndETag(t *testing.T) {
	e := harness.NewEnv(t)
	trustFixtureKey(t, e, "example.com/busybox")
	cs := newCacheServer(t, []byte(readFile(t, fix(t, "busybox.aci"))), []byte(readFile(t, fix(t, "busybox.aci.asc"))))
	opts := harness.RunOpts{Env: []string{"SSL_CERT_FILE=" + cs.certFile}}
	u := cs.URL + "/busybox.aci"

	cs.maxAge = "600"
	id := fetchOut(t, e.RktOpts(opts, "fetch", u))
	r := e.RktOpts(opts, "fetch", u)
	if fetchOut(t, r) != id || cs.gets.Load() != 1 || !strings.Contains(r.Stderr, "isn't expired, not fetching") {
		t.Errorf("max-age not honoured: %d GETs\n%s", cs.gets.Load(), r)
	}
	// Without max-age the ETag is revalidated: a 304, no new download.
	e2 := harness.NewEnv(t)
	trustFixtureKey(t, e2, "example.com/busybox")
	cs.maxAge = ""
	sent := cs.bodyBytesSent.Load()
	fetchOut(t, e2.RktOpts(opts, "fetch", u))
	fetchOut(t, e2.RktOpts(opts, "fetch", u))
	if got := cs.bodyBytesSent.Load() - sent; got != int64(len(cs.aci)) {
		t.Errorf("ETag revalidation re-sent the body: %d bytes for two fetches of %d", got, len(cs.aci))
	}
}

func TestFetchResume(t *testing.T) {
	e := harness.NewEnv(t)
	trustFixtureKey(t, e, "example.com/busybox")
	cs := newCacheServer(t, []byte(readFile(t, fix(t, "busybox.aci"))), []byte(readFile(t, fix(t, "busybox.aci.asc"))))
	cs.dropFirst.Store(true)
	opts := harness.RunOpts{Env: []string{"SSL_CERT_FILE=" + cs.certFile}}
	id := fetchOut(t, e.RktOpts(opts, "fetch", cs.URL+"/busybox.aci"))
	if id != fixtureID(t, "busybox.aci")[:39] {
		t.Errorf("resumed image has ID %s", id)
	}
	if cs.ranges.Load() == 0 {
		t.Error("the second attempt did not resume with a Range request")
	}
	if sent := cs.bodyBytesSent.Load(); sent > int64(len(cs.aci))+int64(len(cs.aci))/2+16 {
		t.Errorf("sent %d bytes for a %d byte image: the first half was fetched twice", sent, len(cs.aci))
	}
	assertCleanTmp(t, e)
}

func TestFetchConcurrent(t *testing.T) {
	e := harness.NewEnv(t)
	dir := t.TempDir()
	var acis []string
	for i := 0; i < 4; i++ {
		p, _ := makeACI(t, dir, testImage{Name: "example.com/conc" + strconv.Itoa(i), Version: "1", Files: map[string]string{"f": strings.Repeat("x", i*1000)}})
		acis = append(acis, p)
	}
	var wg sync.WaitGroup
	results := make([]*harness.Result, 16)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			img := fix(t, "busybox.aci")
			if i%2 == 1 {
				img = acis[i/2%4]
			}
			results[i] = e.Rkt("fetch", "--insecure-options=image", img)
		}(i)
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		ids[fetchOut(t, r)] = true
	}
	if len(ids) != 5 || imageCount(t, e) != 5 {
		t.Errorf("%d distinct IDs, %d images; want 5", len(ids), imageCount(t, e))
	}
	checkStore(t, e)
	assertCleanTmp(t, e)
}

// checkStore exports every image and checks that its bytes hash to its ID.
func checkStore(t *testing.T, e *harness.Env) {
	t.Helper()
	out := e.Rkt("image", "list", "--no-legend", "--full", "--fields=id").OK(t).Stdout
	for _, id := range strings.Fields(out) {
		p := filepath.Join(t.TempDir(), "x.aci")
		e.Rkt("image", "export", id, p).OK(t)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		h := sha512.New()
		io.Copy(h, f)
		f.Close()
		if got := "sha512-" + hex.EncodeToString(h.Sum(nil)); !strings.HasPrefix(got, id) {
			t.Errorf("image %s exports as %s", id, got)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.WriteFile(dst, []byte(readFile(t, src)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		copyFile(t, p, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Concurrent fetches of one URL download it once: the others wait and
// reuse the result.
func TestFetchSameURLConcurrently(t *testing.T) {
	e := harness.NewEnv(t)
	trustFixtureKey(t, e, "example.com/busybox")
	cs := newCacheServer(t, []byte(readFile(t, fix(t, "busybox.aci"))), []byte(readFile(t, fix(t, "busybox.aci.asc"))))
	opts := harness.RunOpts{Env: []string{"SSL_CERT_FILE=" + cs.certFile}}
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ids[i] = fetchOut(t, e.RktOpts(opts, "fetch", cs.URL+"/busybox.aci"))
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("IDs differ: %v", ids)
		}
	}
	if sent := cs.bodyBytesSent.Load(); sent != int64(len(cs.aci)) {
		t.Errorf("the image body was sent %d bytes for 4 concurrent fetches of %d", sent, len(cs.aci))
	}
	assertCleanTmp(t, e)
}
