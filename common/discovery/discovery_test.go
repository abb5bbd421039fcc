package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// site is a discovery server: pages maps a path to the meta tags it
// serves (without a page the answer is 404), and it records the requests.
type site struct {
	mu    sync.Mutex
	pages map[string][]string
	reqs  []*http.Request
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	metas, ok := s.pages[r.URL.Path]
	s.mu.Unlock()
	if !ok || r.URL.Query().Get("ac-discovery") != "1" {
		http.NotFound(w, r)
		return
	}
	fmt.Fprint(w, "<!DOCTYPE html>\n<html><head>\n")
	for _, m := range metas {
		fmt.Fprintln(w, m)
	}
	fmt.Fprint(w, "</head><body>hello</body></html>\n")
}

func (s *site) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.reqs {
		out = append(out, r.URL.Path)
	}
	return out
}

func meta(name, prefix, uri string) string {
	return fmt.Sprintf(`<meta name=%q content="%s %s">`, name, prefix, uri)
}

// startTLS serves s over https on 127.0.0.1 and returns the server with
// its base URL and port. Handshake failures are not logged: some tests
// provoke them on purpose.
func startTLS(t *testing.T, s *site) (base string, port uint) {
	t.Helper()
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL, portOf(t, ts.URL)
}

func portOf(t *testing.T, raw string) uint {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint(p)
}

func TestImageTemplates(t *testing.T) {
	s := &site{}
	base, port := startTLS(t, s)
	s.pages = map[string][]string{
		"/example/app": {
			meta("ac-discovery", "127.0.0.1/example", base+"/{name}-{version}-{os}-{arch}.{ext}"),
			// Needs a label the request lacks: skipped.
			meta("ac-discovery", "127.0.0.1/example", base+"/{name}/{channel}.{ext}"),
			meta("ac-discovery", "127.0.0.1/example/app", "https://mirror.invalid/{name}/{version}.{ext}"),
			// Another prefix: ignored.
			meta("ac-discovery", "127.0.0.1/other", base+"/other.{ext}"),
			meta("ac-discovery-pubkeys", "127.0.0.1/example", base+"/pubkeys.gpg"),
		},
	}
	eps, err := Image(context.Background(), "127.0.0.1/example/app", nil, Options{InsecureTLS: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	hostOS, hostArch := HostOSArch()
	want := &Endpoints{
		ACIs: []ACIEndpoint{
			{
				ACI: fmt.Sprintf("%s/127.0.0.1/example/app-latest-%s-%s.aci", base, hostOS, hostArch),
				ASC: fmt.Sprintf("%s/127.0.0.1/example/app-latest-%s-%s.aci.asc", base, hostOS, hostArch),
			},
			{ACI: "https://mirror.invalid/127.0.0.1/example/app/latest.aci", ASC: "https://mirror.invalid/127.0.0.1/example/app/latest.aci.asc"},
		},
		Keys: []string{base + "/pubkeys.gpg"},
	}
	if !reflect.DeepEqual(eps, want) {
		t.Errorf("endpoints:\n got %+v\nwant %+v", eps, want)
	}
	if got := s.paths(); !reflect.DeepEqual(got, []string{"/example/app"}) {
		t.Errorf("requests = %v", got)
	}
}

func TestImageLabels(t *testing.T) {
	s := &site{}
	base, port := startTLS(t, s)
	s.pages = map[string][]string{
		"/example/app": {
			meta("ac-discovery", "127.0.0.1/example/app", base+"/{channel}/{version}/{os}/{arch}.{ext}"),
			meta("ac-discovery", "127.0.0.1/example/app", base+"/plain/{version}.{ext}"),
		},
	}
	labels := map[string]string{"version": "1.2.3", "os": "linux", "arch": "aarch64", "channel": "beta"}
	eps, err := Image(context.Background(), "127.0.0.1/example/app", labels, Options{InsecureTLS: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps.ACIs) != 2 || eps.ACIs[0].ACI != base+"/beta/1.2.3/linux/aarch64.aci" || eps.ACIs[1].ASC != base+"/plain/1.2.3.aci.asc" {
		t.Errorf("endpoints = %+v", eps.ACIs)
	}
	if len(labels) != 4 {
		t.Errorf("caller's labels modified: %v", labels)
	}

	// Without the channel label only the second template can be filled.
	eps, err = Image(context.Background(), "127.0.0.1/example/app", map[string]string{"version": "2"}, Options{InsecureTLS: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps.ACIs) != 1 || eps.ACIs[0].ACI != base+"/plain/2.aci" {
		t.Errorf("endpoints = %+v", eps.ACIs)
	}
}

func TestImageWalksToParent(t *testing.T) {
	s := &site{}
	base, port := startTLS(t, s)
	s.pages = map[string][]string{
		// The image's own page exists but has nothing for it.
		"/example/app": {meta("ac-discovery", "127.0.0.1/elsewhere", base+"/x.{ext}")},
		"/":            {meta("ac-discovery", "127.0.0.1", base+"/all/{name}.{ext}")},
	}
	eps, err := Image(context.Background(), "127.0.0.1/example/app", nil, Options{InsecureTLS: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps.ACIs) != 1 || eps.ACIs[0].ACI != base+"/all/127.0.0.1/example/app.aci" {
		t.Errorf("endpoints = %+v", eps.ACIs)
	}
	if got, want := s.paths(), []string{"/example/app", "/example", "/"}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestNoMetaTags(t *testing.T) {
	s := &site{pages: map[string][]string{"/example/app": nil}}
	_, port := startTLS(t, s)
	_, err := Image(context.Background(), "127.0.0.1/example/app", nil, Options{InsecureTLS: true, Port: port})
	if !errors.Is(err, ErrNoMetaTags) {
		t.Fatalf("err = %v, want ErrNoMetaTags", err)
	}
	for _, want := range []string{"found no ACI meta tags", "127.0.0.1/example/app: no matching meta tag", "127.0.0.1/example: expected a 200 OK got 404"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = PublicKeys(context.Background(), "127.0.0.1/example", Options{InsecureTLS: true, Port: port})
	if !errors.Is(err, ErrNoMetaTags) {
		t.Fatalf("PublicKeys: err = %v, want ErrNoMetaTags", err)
	}
}

func TestPublicKeys(t *testing.T) {
	s := &site{}
	base, port := startTLS(t, s)
	s.pages = map[string][]string{
		"/example": {
			meta("ac-discovery", "127.0.0.1/example", base+"/{name}.{ext}"),
			meta("ac-discovery-pubkeys", "127.0.0.1/example", base+"/k1.gpg"),
			meta("ac-discovery-pubkeys", "127.0.0.1/example", base+"/k2.gpg"),
		},
	}
	keys, err := PublicKeys(context.Background(), "127.0.0.1/example/app", Options{InsecureTLS: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{base + "/k1.gpg", base + "/k2.gpg"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestCertificateChecked(t *testing.T) {
	s := &site{}
	base, port := startTLS(t, s)
	s.pages = map[string][]string{"/example/app": {meta("ac-discovery", "127.0.0.1/example/app", base+"/{name}.{ext}")}}
	_, err := Image(context.Background(), "127.0.0.1/example/app", nil, Options{Port: port})
	if !errors.Is(err, ErrNoMetaTags) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate failure", err)
	}
	if n := len(s.paths()); n != 0 {
		t.Errorf("%d requests got through", n)
	}
}

func TestInsecureHTTP(t *testing.T) {
	s := &site{}
	ts := httptest.NewServer(s)
	defer ts.Close()
	s.pages = map[string][]string{"/example/app": {meta("ac-discovery", "127.0.0.1/example/app", ts.URL+"/{name}.{ext}")}}
	port := portOf(t, ts.URL)

	_, err := Image(context.Background(), "127.0.0.1/example/app", nil, Options{Port: port})
	if !errors.Is(err, ErrNoMetaTags) {
		t.Fatalf("err = %v, want ErrNoMetaTags without AllowHTTP", err)
	}
	if n := len(s.paths()); n != 0 {
		t.Errorf("plain http used without AllowHTTP: %d requests", n)
	}
	eps, err := Image(context.Background(), "127.0.0.1/example/app", nil, Options{AllowHTTP: true, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps.ACIs) != 1 || eps.ACIs[0].ACI != ts.URL+"/127.0.0.1/example/app.aci" {
		t.Errorf("endpoints = %+v", eps.ACIs)
	}
}

func TestHeadersPerHost(t *testing.T) {
	s := &site{}
	base, port := startTLS(t, s)
	s.pages = map[string][]string{"/example/app": {meta("ac-discovery", "127.0.0.1/example/app", base+"/{name}.{ext}")}}
	opts := Options{
		InsecureTLS: true,
		Port:        port,
		Headers: map[string]http.Header{
			fmt.Sprintf("127.0.0.1:%d", port): {"Authorization": {"Bearer tok"}},
			"127.0.0.2":                       {"Authorization": {"Bearer other"}},
		},
	}
	if _, err := Image(context.Background(), "127.0.0.1/example/app", nil, opts); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	got := s.reqs[0].Header.Get("Authorization")
	s.mu.Unlock()
	if got != "Bearer tok" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestHostHeaders(t *testing.T) {
	h := func(v string) http.Header { return http.Header{"X": {v}} }
	got := hostHeaders(map[string]http.Header{
		"a.example":      h("a"),
		"b.example:443":  h("b"),
		"c.example:5000": h("c"),
		"d.example":      h("d-bare"),
		"d.example:443":  h("d-port"),
	})
	for k, want := range map[string]string{
		"a.example": "a", "a.example:443": "a", "a.example:80": "a",
		"b.example": "b", "b.example:443": "b",
		"c.example:5000": "c",
		"d.example":      "d-bare", "d.example:443": "d-port",
	} {
		if v := got[k].Get("X"); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if _, ok := got["c.example"]; ok {
		t.Error("a non-default port was dropped")
	}
}

func TestContextCancelled(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Image(ctx, "127.0.0.1/example/app", nil, Options{InsecureTLS: true, Port: portOf(t, ts.URL)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestInvalidNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"", nil},
		{"Example.com/App", nil},
		{"example.com/app", map[string]string{"Bad Label": "x"}},
		{"example.com/app", map[string]string{"name": "x"}},
	} {
		_, err := Image(context.Background(), tc.name, tc.labels, Options{})
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("Image(%q, %v): err = %v, want ErrInvalidName", tc.name, tc.labels, err)
		}
	}
	if _, err := PublicKeys(context.Background(), "https://example.com", Options{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("PublicKeys with a scheme: err = %v", err)
	}
}

func TestHostOSArch(t *testing.T) {
	hostOS, hostArch := HostOSArch()
	if hostOS == "" || hostArch == "" {
		t.Fatalf("HostOSArch() = %q, %q", hostOS, hostArch)
	}
	want := map[string]string{"amd64": "amd64", "386": "i386", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}
	if w, ok := want[runtime.GOARCH]; ok && hostOS == "linux" && hostArch != w {
		t.Errorf("arch = %q, want %q", hostArch, w)
	}
}
