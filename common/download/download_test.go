package download

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a second rkt process that runs one
// Get (see TestMain and TestConcurrentProcesses).
const helperEnv = "RKT_DOWNLOAD_TEST_HELPER"

func TestMain(m *testing.M) {
	backoffStart = time.Millisecond
	backoffMax = 10 * time.Millisecond
	lockPoll = 5 * time.Millisecond
	if arg := os.Getenv(helperEnv); arg != "" {
		u, partial, _ := strings.Cut(arg, " ")
		if _, err := Get(context.Background(), u, partial, nil, Options{AllowHTTP: true}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testBody is large enough to span several reads.
var testBody = func() []byte {
	b := make([]byte, 300*1024+17)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}()

// server is a configurable image server that records what it was asked and
// counts the body bytes it sent.
type server struct {
	mu       sync.Mutex
	body     []byte
	etag     string
	modTime  time.Time
	cutAfter int // >0: cut the next full-body answer after this many bytes
	reqs     []http.Header
	served   int64
	// hook, when set, may answer the request itself (returning true).
	hook func(w http.ResponseWriter, r *http.Request, n int) bool
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Header.Clone())
	n := len(s.reqs)
	body, etag, modTime, hook := s.body, s.etag, s.modTime, s.hook
	cut := 0
	if r.Header.Get("Range") == "" {
		cut, s.cutAfter = s.cutAfter, 0
	}
	s.mu.Unlock()

	if hook != nil && hook(w, r, n) {
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	cw := &countingWriter{ResponseWriter: w, s: s}
	if cut > 0 {
		if !modTime.IsZero() {
			w.Header().Set("Last-Modified", modTime.UTC().Format(http.TimeFormat))
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		cw.Write(body[:cut])
		w.(http.Flusher).Flush()
		// Drop the connection in the middle of the body.
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(cw, r, "", modTime, bytes.NewReader(body))
}

func (s *server) requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.reqs...)
}

func (s *server) bytesServed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

type countingWriter struct {
	http.ResponseWriter
	s *server
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.s.mu.Lock()
	c.s.served += int64(n)
	c.s.mu.Unlock()
	return n, err
}

func (c *countingWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

func newServer(t *testing.T, s *server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func httpOpts() Options { return Options{AllowHTTP: true} }

func partialPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "partial")
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes, want %d (contents differ)", path, len(got), len(want))
	}
}

func TestPlainDownload(t *testing.T) {
	s := &server{body: testBody, etag: `"v1"`}
	ts := newServer(t, s)
	partial := partialPath(t)
	res, err := Get(context.Background(), ts.URL+"/app.aci", partial, nil, Options{AllowHTTP: true, UserAgent: "rkt-test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != partial || res.NotModified || res.ETag != `"v1"` || res.Size != int64(len(testBody)) {
		t.Errorf("result = %+v", res)
	}
	assertFile(t, partial, testBody)
	if _, err := os.Stat(metaPath(partial)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("metadata left behind: %v", err)
	}
	if ua := s.requests()[0].Get("User-Agent"); ua != "rkt-test" {
		t.Errorf("User-Agent = %q", ua)
	}
}

func TestNotModified(t *testing.T) {
	s := &server{body: testBody, etag: `"v1"`}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	partial := partialPath(t)
	res, err := Get(context.Background(), ts.URL, partial, &Cache{ETag: `"v1"`}, httpOpts())
	if err != nil {
		t.Fatal(err)
	}
	if !res.NotModified || res.Path != "" || res.ETag != `"v1"` || res.MaxAge != 10*time.Minute {
		t.Errorf("result = %+v", res)
	}
	if got := s.requests()[0].Get("If-None-Match"); got != `"v1"` {
		t.Errorf("If-None-Match = %q", got)
	}
	if s.bytesServed() != 0 {
		t.Errorf("served %d body bytes for a 304", s.bytesServed())
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file left behind after 304: %v", err)
	}

	// A changed resource is downloaded in full.
	res, err = Get(context.Background(), ts.URL, partial, &Cache{ETag: `"v0"`}, httpOpts())
	if err != nil {
		t.Fatal(err)
	}
	if res.NotModified || res.ETag != `"v1"` {
		t.Errorf("result = %+v", res)
	}
	assertFile(t, partial, testBody)
}

func TestMaxAge(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   time.Duration
	}{
		{nil, 0},
		{[]string{"max-age=3600"}, time.Hour},
		{[]string{"public, max-age=60"}, time.Minute},
		{[]string{`MAX-AGE="30"`}, 30 * time.Second},
		{[]string{"no-cache, max-age=60"}, 0},
		{[]string{"max-age=60", "no-store"}, 0},
		{[]string{"max-age=-5"}, 0},
		{[]string{"max-age=abc"}, 0},
		{[]string{"max-age=99999999999999999999"}, 0},
		{[]string{"private"}, 0},
	} {
		h := http.Header{"Cache-Control": tc.header}
		if got := maxAge(h); got != tc.want {
			t.Errorf("maxAge(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestMaxAgeInResult(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=120")
		w.Write([]byte("x"))
	}))
	defer ts.Close()
	res, err := Get(context.Background(), ts.URL, partialPath(t), nil, httpOpts())
	if err != nil {
		t.Fatal(err)
	}
	if res.MaxAge != 2*time.Minute {
		t.Errorf("MaxAge = %v", res.MaxAge)
	}
}

func TestResume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		etag    string
		modTime time.Time
		wantIf  string
	}{
		{"etag", `"abc"`, time.Time{}, `"abc"`},
		{"last-modified", "", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), "Thu, 02 Jan 2020 03:04:05 GMT"},
		{"weak etag falls back to last-modified", `W/"abc"`, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), "Thu, 02 Jan 2020 03:04:05 GMT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			half := len(testBody) / 2
			s := &server{body: testBody, etag: tc.etag, modTime: tc.modTime, cutAfter: half}
			ts := newServer(t, s)
			partial := partialPath(t)
			res, err := Get(context.Background(), ts.URL, partial, nil, httpOpts())
			if err != nil {
				t.Fatal(err)
			}
			assertFile(t, partial, testBody)
			reqs := s.requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			if got, want := reqs[1].Get("Range"), fmt.Sprintf("bytes=%d-", half); got != want {
				t.Errorf("second request Range = %q, want %q", got, want)
			}
			if got := reqs[1].Get("If-Range"); got != tc.wantIf {
				t.Errorf("second request If-Range = %q, want %q", got, tc.wantIf)
			}
			if got := s.bytesServed(); got != int64(len(testBody)) {
				t.Errorf("server sent %d bytes, want %d: the first half was sent again", got, len(testBody))
			}
			if res.Size != int64(len(testBody)) {
				t.Errorf("Size = %d", res.Size)
			}
		})
	}
}

// TestResumeAcrossCalls resumes a partial file left by a Get that gave up.
func TestResumeAcrossCalls(t *testing.T) {
	half := len(testBody) / 2
	s := &server{body: testBody, etag: `"abc"`, cutAfter: half}
	ts := newServer(t, s)
	partial := partialPath(t)
	_, err := Get(context.Background(), ts.URL, partial, nil, Options{AllowHTTP: true, Retries: -1})
	if !errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("err = %v, want ErrTooManyRetries", err)
	}
	if fi, err := os.Stat(partial); err != nil || fi.Size() != int64(half) {
		t.Fatalf("partial file after interruption: %v, %v", fi, err)
	}
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
	if got := s.bytesServed(); got != int64(len(testBody)) {
		t.Errorf("server sent %d bytes, want %d", got, len(testBody))
	}
}

func TestRestartWithoutValidator(t *testing.T) {
	half := len(testBody) / 2
	s := &server{body: testBody, cutAfter: half}
	ts := newServer(t, s)
	partial := partialPath(t)
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if r := reqs[1].Get("Range"); r != "" {
		t.Errorf("resumed without a validator: Range %q", r)
	}
	if got, want := s.bytesServed(), int64(half+len(testBody)); got != want {
		t.Errorf("server sent %d bytes, want %d", got, want)
	}
}

func TestRestartWhenValidatorChanged(t *testing.T) {
	half := len(testBody) / 2
	newBody := bytes.Repeat([]byte("new version "), 1000)
	s := &server{body: testBody, etag: `"v1"`, cutAfter: half}
	s.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 2 {
			// The image was replaced between the two attempts.
			s.mu.Lock()
			s.body, s.etag = newBody, `"v2"`
			s.mu.Unlock()
			w.Header().Set("ETag", `"v2"`)
			http.ServeContent(&countingWriter{w, s}, r, "", time.Time{}, bytes.NewReader(newBody))
			return true
		}
		return false
	}
	ts := newServer(t, s)
	partial := partialPath(t)
	res, err := Get(context.Background(), ts.URL, partial, nil, httpOpts())
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, newBody)
	if res.ETag != `"v2"` {
		t.Errorf("ETag = %q", res.ETag)
	}
	if reqs := s.requests(); len(reqs) != 2 || reqs[1].Get("If-Range") != `"v1"` {
		t.Errorf("requests = %v", reqs)
	}
}

// TestRestartWhenServerIgnoresIfRange covers a server that answers 206 for
// a changed resource.
func TestRestartWhenServerIgnoresIfRange(t *testing.T) {
	partial := partialPath(t)
	if err := os.WriteFile(partial, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{body: testBody, etag: `"v2"`}
	s.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Header.Get("Range") == "" {
			return false
		}
		w.Header().Set("ETag", `"v2"`)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 5-%d/%d", len(testBody)-1, len(testBody)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(testBody[5:])
		return true
	}
	ts := newServer(t, s)
	if err := writeMeta(metaPath(partial), meta{URL: ts.URL, ETag: `"v1"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
}

// TestRangeNotSatisfiable: a partial file that is already complete (its
// caller never moved it away) gets a 416 and is downloaded again.
func TestRangeNotSatisfiable(t *testing.T) {
	partial := partialPath(t)
	if err := os.WriteFile(partial, testBody, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{body: testBody, etag: `"v1"`}
	ts := newServer(t, s)
	if err := writeMeta(metaPath(partial), meta{URL: ts.URL, ETag: `"v1"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
	if reqs := s.requests(); len(reqs) != 2 || reqs[1].Get("Range") != "" {
		t.Errorf("requests = %v", reqs)
	}
}

// TestPartialOfOtherURL: bytes saved for another URL are not resumed.
func TestPartialOfOtherURL(t *testing.T) {
	partial := partialPath(t)
	if err := os.WriteFile(partial, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeMeta(metaPath(partial), meta{URL: "https://elsewhere/x", ETag: `"v1"`}); err != nil {
		t.Fatal(err)
	}
	s := &server{body: testBody, etag: `"v1"`}
	ts := newServer(t, s)
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
	if r := s.requests()[0].Get("Range"); r != "" {
		t.Errorf("Range = %q", r)
	}
}

func TestStalledTransferIsResumed(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 200 * time.Millisecond
	half := len(testBody) / 2
	s := &server{body: testBody, etag: `"v1"`}
	s.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n != 1 {
			return false
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(testBody)))
		(&countingWriter{w, s}).Write(testBody[:half])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // hang until the client gives up
		return true
	}
	ts := newServer(t, s)
	partial := partialPath(t)
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
	if got := s.bytesServed(); got != int64(len(testBody)) {
		t.Errorf("server sent %d bytes, want %d", got, len(testBody))
	}
}

func TestRetryServerErrors(t *testing.T) {
	s := &server{body: testBody}
	s.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 1:
			http.Error(w, "oops", http.StatusInternalServerError)
		case 2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			return false
		}
		return true
	}
	ts := newServer(t, s)
	partial := partialPath(t)
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
	if n := len(s.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestTooManyRetries(t *testing.T) {
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	defer ts.Close()
	_, err := Get(context.Background(), ts.URL, partialPath(t), nil, Options{AllowHTTP: true, Retries: 2})
	var se *StatusError
	if !errors.Is(err, ErrTooManyRetries) || !errors.As(err, &se) || se.Code != http.StatusTooManyRequests {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3", n.Load())
	}
	if !strings.Contains(err.Error(), ts.URL) {
		t.Errorf("error does not name the URL: %v", err)
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	u := ts.URL
	ts.Close()
	_, err := Get(context.Background(), u, partialPath(t), nil, Options{AllowHTTP: true, Retries: 1})
	if !errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("err = %v, want ErrTooManyRetries", err)
	}
}

func TestNotFound(t *testing.T) {
	s := &server{}
	s.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.NotFound(w, r)
		return true
	}
	ts := newServer(t, s)
	_, err := Get(context.Background(), ts.URL+"/missing.aci", partialPath(t), nil, httpOpts())
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "/missing.aci") {
		t.Errorf("error does not name the URL: %v", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (no retry)", n)
	}
}

func TestFailureLeavesNoEmptyPartial(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	partial := partialPath(t)
	if _, err := Get(context.Background(), ts.URL, partial, nil, httpOpts()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty partial file left behind: %v", err)
	}
}

func TestUnauthorized(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "who are you", http.StatusUnauthorized)
	}))
	defer ts.Close()
	_, err := Get(context.Background(), ts.URL, partialPath(t), nil, httpOpts())
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestHTTPRefused(t *testing.T) {
	s := &server{body: testBody}
	ts := newServer(t, s)
	_, err := Get(context.Background(), ts.URL, partialPath(t), nil, Options{})
	if !errors.Is(err, ErrInsecureHTTP) {
		t.Fatalf("err = %v, want ErrInsecureHTTP", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests made", n)
	}
	_, err = Get(context.Background(), "ftp://127.0.0.1/x", partialPath(t), nil, httpOpts())
	if !errors.Is(err, ErrUnsupportedScheme) {
		t.Fatalf("err = %v, want ErrUnsupportedScheme", err)
	}
}

func TestRedirectToHTTPRefused(t *testing.T) {
	plain := newServer(t, &server{body: testBody})
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x", http.StatusFound))
	defer tlsSrv.Close()
	_, err := Get(context.Background(), tlsSrv.URL, partialPath(t), nil, Options{InsecureTLS: true})
	if !errors.Is(err, ErrInsecureHTTP) {
		t.Fatalf("err = %v, want ErrInsecureHTTP", err)
	}
	if _, err := Get(context.Background(), tlsSrv.URL, partialPath(t), nil, Options{InsecureTLS: true, AllowHTTP: true}); err != nil {
		t.Fatal(err)
	}
}

func TestAuthHeadersOnlyToConfiguredHost(t *testing.T) {
	other := &server{body: testBody}
	otherTS := newServer(t, other)
	mine := &server{body: testBody}
	mine.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, otherTS.URL+"/x", http.StatusFound)
			return true
		}
		return false
	}
	mineTS := newServer(t, mine)
	host := strings.TrimPrefix(mineTS.URL, "http://")
	opts := Options{AllowHTTP: true, Auth: map[string]Header{host: {"Authorization": {"Bearer s3cret"}}}}

	if _, err := Get(context.Background(), mineTS.URL+"/x", partialPath(t), nil, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(context.Background(), otherTS.URL+"/x", partialPath(t), nil, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(context.Background(), mineTS.URL+"/redirect", partialPath(t), nil, opts); err != nil {
		t.Fatal(err)
	}
	for i, h := range mine.requests() {
		if got := h.Get("Authorization"); got != "Bearer s3cret" {
			t.Errorf("configured host, request %d: Authorization = %q", i, got)
		}
	}
	for i, h := range other.requests() {
		if got := h.Get("Authorization"); got != "" {
			t.Errorf("other host, request %d: Authorization = %q leaked", i, got)
		}
	}
	if n := len(other.requests()); n != 2 {
		t.Errorf("other host got %d requests, want 2", n)
	}
}

func TestForHost(t *testing.T) {
	m := map[string]int{"a.example": 1, "b.example:5000": 2, "c.example:443": 3}
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"https://a.example/x", 1},
		{"https://a.example:443/x", 1},
		{"http://a.example:80/x", 1},
		{"https://a.example:5000/x", 0},
		{"https://b.example:5000/x", 2},
		{"https://b.example/x", 0},
		{"https://c.example/x", 3},
		{"http://c.example/x", 0},
		{"https://d.example/x", 0},
	} {
		u, _ := url.Parse(tc.url)
		if got, _ := forHost(m, u); got != tc.want {
			t.Errorf("forHost(%s) = %d, want %d", tc.url, got, tc.want)
		}
	}
}

func TestInsecureTLS(t *testing.T) {
	var n atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write(testBody)
	}))
	// The server logs the client's refused handshake; keep the output clean.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	partial := partialPath(t)
	_, err := Get(context.Background(), ts.URL, partial, nil, Options{})
	if err == nil || errors.Is(err, ErrTooManyRetries) {
		t.Fatalf("untrusted certificate: err = %v, want a non-retried TLS error", err)
	}
	if n.Load() != 0 {
		t.Errorf("request reached the handler despite the bad certificate")
	}
	if _, err := Get(context.Background(), ts.URL, partial, nil, Options{InsecureTLS: true}); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, testBody)
}

func TestDeferredSignature(t *testing.T) {
	sig := []byte("-----BEGIN PGP SIGNATURE-----\n...\n")
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Write(sig)
	}))
	defer ts.Close()
	partial := partialPath(t)

	// Without retries the caller learns that the signature is deferred.
	_, err := Get(context.Background(), ts.URL+"/app.aci.asc", partial, nil, Options{AllowHTTP: true, Retries: -1})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
	if _, err := Get(context.Background(), ts.URL+"/app.aci.asc", partial, nil, httpOpts()); err != nil {
		t.Fatal(err)
	}
	assertFile(t, partial, sig)
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3", n.Load())
	}
}

func TestContextCancelled(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer ts.Close()
	defer func(d time.Duration) { backoffStart = d }(backoffStart)
	backoffStart = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Get(ctx, ts.URL, partialPath(t), nil, Options{AllowHTTP: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

// blockingServer holds the first request until release is closed, and
// records how many requests were in flight at once.
type blockingServer struct {
	entered chan struct{}
	release chan struct{}
	active  atomic.Int32
	maxSeen atomic.Int32
	count   atomic.Int32
}

func newBlockingServer(t *testing.T) (*blockingServer, *httptest.Server) {
	b := &blockingServer{entered: make(chan struct{}), release: make(chan struct{})}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := b.active.Add(1)
		defer b.active.Add(-1)
		for {
			m := b.maxSeen.Load()
			if a <= m || b.maxSeen.CompareAndSwap(m, a) {
				break
			}
		}
		if b.count.Add(1) == 1 {
			close(b.entered)
			<-b.release
		}
		w.Write(testBody)
	}))
	t.Cleanup(ts.Close)
	return b, ts
}

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	b, ts := newBlockingServer(t)
	partial := partialPath(t)

	errc := make(chan error, 2)
	go func() {
		_, err := Get(context.Background(), ts.URL, partial, nil, httpOpts())
		errc <- err
	}()
	<-b.entered
	var progress syncBuffer
	go func() {
		_, err := Get(context.Background(), ts.URL, partial, nil, Options{AllowHTTP: true, Progress: &progress})
		errc <- err
	}()
	waitFor(t, "the waiting notice", func() bool { return strings.Contains(progress.String(), WaitingMessage) })
	close(b.release)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if b.maxSeen.Load() != 1 {
		t.Errorf("%d requests in flight at once, want 1", b.maxSeen.Load())
	}
	if b.count.Load() != 2 {
		t.Errorf("%d requests, want 2", b.count.Load())
	}
	assertFile(t, partial, testBody)
}

func TestConcurrentProcesses(t *testing.T) {
	b, ts := newBlockingServer(t)
	partial := partialPath(t)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+ts.URL+" "+partial)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.entered:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper process never reached the server")
	}
	var progress syncBuffer
	errc := make(chan error, 1)
	go func() {
		_, err := Get(context.Background(), ts.URL, partial, nil, Options{AllowHTTP: true, Progress: &progress})
		errc <- err
	}()
	waitFor(t, "the waiting notice", func() bool { return strings.Contains(progress.String(), WaitingMessage) })
	close(b.release)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v: %s", err, stderr.String())
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if b.maxSeen.Load() != 1 {
		t.Errorf("%d requests in flight at once, want 1", b.maxSeen.Load())
	}
	assertFile(t, partial, testBody)
}

// TestLockFollowsRename: a waiter whose file was renamed away while it
// waited must not write the renamed file.
func TestLockFollowsRename(t *testing.T) {
	dir := t.TempDir()
	partial := filepath.Join(dir, "partial")
	holder, err := lockPartial(context.Background(), partial, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *os.File, 1)
	go func() {
		f, err := lockPartial(context.Background(), partial, nil)
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	time.Sleep(20 * time.Millisecond)
	moved := filepath.Join(dir, "store-blob")
	if err := os.Rename(partial, moved); err != nil {
		t.Fatal(err)
	}
	holder.Close()
	f := <-got
	if f == nil {
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	mi, _ := os.Stat(moved)
	if os.SameFile(fi, mi) {
		t.Fatal("waiter locked the file that was moved into the store")
	}
}

func TestNoProgressOnNonTerminal(t *testing.T) {
	ts := newServer(t, &server{body: testBody})
	var progress bytes.Buffer
	if _, err := Get(context.Background(), ts.URL, partialPath(t), nil, Options{AllowHTTP: true, Progress: &progress, Label: "ACI"}); err != nil {
		t.Fatal(err)
	}
	if progress.Len() != 0 {
		t.Errorf("progress output on a non-terminal: %q", progress.String())
	}
}

func TestBarRendering(t *testing.T) {
	var out bytes.Buffer
	b := newBarOn(&out, "ACI", 3_400_000, 0)
	b.add(1_200_000)
	b.add(2_200_000)
	b.finish()
	s := out.String()
	for _, want := range []string{"Downloading ACI:", "[=====", "=>", "1.2/3.4 MB", "3.4/3.4 MB", "\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("bar output %q lacks %q", s, want)
		}
	}
	out.Reset()
	b = newBarOn(&out, "signature", 3_000_000, 1_000_000)
	b.add(2_000_000)
	b.finish()
	if s := out.String(); !strings.Contains(s, "Downloading signature (resuming):") || !strings.Contains(s, "2.0/2.0 MB") {
		t.Errorf("resumed bar output %q", s)
	}
	if newBarOn(&out, "ACI", 0, 0) != nil {
		t.Error("bar for an empty body")
	}
	var nilBar *bar
	nilBar.add(1)
	nilBar.finish()
	nilBar.abort()
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 10-99/100", 10, 100, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 10-99/*", 10, -1, true},
		{"bytes 10-99/50", 0, 0, false},
		{"bytes 10-5/50", 0, 0, false},
		{"bytes */100", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, total, ok := parseContentRange(tc.in)
		if start != tc.start || total != tc.total || ok != tc.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tc.in, start, total, ok)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	if got := retryAfter(http.Header{"Retry-After": {"3"}}); got != 3*time.Second {
		t.Errorf("seconds: %v", got)
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(http.Header{"Retry-After": {future}}); got < 59*time.Minute {
		t.Errorf("date: %v", got)
	}
	if got := retryAfter(http.Header{"Retry-After": {"soon"}}); got != 0 {
		t.Errorf("garbage: %v", got)
	}
}
