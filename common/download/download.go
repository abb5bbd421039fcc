// Package download fetches images, signatures and public keys over HTTP(S)
// for rkt fetch and rkt trust.
//
// Images are large and registries flaky, so Get is built to survive an
// unreliable network: transient failures are retried with exponential
// backoff, an interrupted transfer is resumed with a validated Range request
// instead of starting over, and the partial file is flock(2)ed so that two
// rkt processes fetching the same URL never write it at the same time.
//
// Get never decides where a download ends up: it fills the file it is given
// and the caller verifies it and moves it into the store.
package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Header is a set of HTTP header fields, as sent to one host.
type Header = http.Header

// DefaultRetries is the number of retries Get makes after a transient failure
// when Options.Retries is zero.
const DefaultRetries = 4

var (
	// ErrNotFound is wrapped by errors for a 404 answer, which is never
	// retried.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized is wrapped by errors for 401 and 403 answers: the
	// credentials in auth.d are missing or wrong for this host.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInsecureHTTP is returned for an http:// URL, or a redirect to one,
	// when Options.AllowHTTP is not set.
	ErrInsecureHTTP = errors.New("plain http is not allowed")
	// ErrUnsupportedScheme is returned for URLs other than http(s)://.
	ErrUnsupportedScheme = errors.New("unsupported URL scheme")
	// ErrNotReady is wrapped by the error of a 202 Accepted answer, which a
	// server sends for a signature that is not ready yet (a "deferred"
	// signature). Get retries it like a transient failure; a caller that
	// wants rkt's order (download the image first, then ask for the
	// signature again) passes Retries < 0 for the first try and checks for
	// ErrNotReady.
	ErrNotReady = errors.New("server deferred the download (202 Accepted)")
	// ErrTooManyRetries is wrapped, together with the last failure, by the
	// error Get returns when its retry budget is spent.
	ErrTooManyRetries = errors.New("too many retries")
)

// StatusError is the error for an HTTP answer Get cannot use. It matches
// ErrNotFound (404) and ErrUnauthorized (401, 403) with errors.Is, so most
// callers need not look at the code.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d %s", e.Code, http.StatusText(e.Code))
}

// Is lets errors.Is match the sentinel errors for the status codes that
// callers react to.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == http.StatusNotFound
	case ErrUnauthorized:
		return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
	}
	return false
}

// Options tune Get. The zero value downloads over https only, verifies
// certificates, retries DefaultRetries times and shows no progress.
type Options struct {
	// InsecureTLS accepts any server certificate.
	InsecureTLS bool
	// AllowHTTP permits http:// URLs and redirects to them.
	AllowHTTP bool
	// Auth holds extra headers per host[:port], typically built from
	// auth.d with AuthHeaders. A host without a port also matches URLs
	// that use the scheme's default port.
	Auth map[string]Header
	// AWS holds AWS Signature Version 4 credentials per host[:port],
	// typically built from auth.d with AWSAuth. Requests to these hosts
	// are signed for S3.
	AWS map[string]AWSCredentials
	// Progress receives progress output: a bar when it is a terminal,
	// nothing per chunk otherwise. It also receives the notice printed
	// when another process is downloading the same file. Nil is silent.
	Progress io.Writer
	// Label names what is downloaded in the progress bar ("ACI",
	// "signature", "key").
	Label string
	// Retries is how many times a transient failure (connection refused
	// or reset, timeout, stalled transfer, 5xx, 429, 202) is retried, with
	// exponential backoff. Zero means DefaultRetries, negative means none.
	Retries int
	// UserAgent is sent with every request; empty means "rkt".
	UserAgent string
	// Transport, when set, replaces the HTTP transport Get builds (and
	// with it InsecureTLS): a registry client's transport, which adds
	// the registry's token authentication to each request.
	Transport http.RoundTripper
}

// Cache holds the validators of a copy of the URL the caller already has.
// Get sends them so that an unchanged resource costs a 304 and no body.
type Cache struct {
	// ETag is the entity tag of the cached copy.
	ETag string
	// LastModified is the Last-Modified header of the cached copy.
	LastModified string
}

// Result describes a finished Get.
type Result struct {
	// Path is the complete downloaded file (the partial argument of Get);
	// empty when NotModified.
	Path string
	// NotModified reports that the server answered 304: the caller's
	// cached copy is current.
	NotModified bool
	// ETag and LastModified are the validators to store for next time.
	ETag, LastModified string
	// MaxAge is the Cache-Control max-age; zero when absent or when the
	// answer says no-cache or no-store.
	MaxAge time.Duration
	// Size is the size of the file in bytes.
	Size int64
}

// Timings of the retry loop. They are variables so that tests can make them
// short.
var (
	backoffStart = 200 * time.Millisecond
	backoffMax   = 5 * time.Second
	// stallTimeout bounds the wait for the next bytes of an answer: a
	// connection that goes silent is dropped and retried rather than
	// waited on forever.
	stallTimeout = 60 * time.Second
	// lockPoll is how often a waiting Get retries the lock on the partial
	// file; polling, rather than a blocking flock(2), lets the wait end
	// when the context is cancelled.
	lockPoll = 100 * time.Millisecond
)

// errRestart asks the retry loop to try again at once: the partial file was
// found unusable and has been discarded, which is not a failure of the
// network and costs no retry.
var errRestart = errors.New("partial download discarded")

// errStalled is the cause given to a request cancelled by the watchdog.
var errStalled = errors.New("transfer stalled")

// transientError marks a failure worth retrying.
type transientError struct {
	err error
	// retryAfter is the server's Retry-After, or zero.
	retryAfter time.Duration
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Get downloads rawURL into the file partial and returns once it is
// complete.
//
// partial may hold the beginning of the body from an interrupted earlier
// Get: if the validator saved beside it (in partial+".meta") still matches,
// only the rest is requested, with Range and If-Range; otherwise the
// download starts over. On success Result.Path is partial and the caller
// moves the file where it belongs; on failure partial is left in place so
// that the next Get can resume it.
//
// If cache is not nil its validators are sent and a 304 answer gives a
// Result with NotModified set (partial is then removed).
//
// Get holds an exclusive flock(2) on partial while it writes it. If another
// process (or another Get in this one) holds it, Get prints a notice to
// opts.Progress and waits. Serializing whole downloads of one URL, and the
// rename into the store, remain the caller's business.
func Get(ctx context.Context, rawURL, partial string, cache *Cache, opts Options) (*Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	if err := checkScheme(u.Scheme, opts.AllowHTTP); err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	f, err := lockPartial(ctx, partial, opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	// Closing the file releases the lock.
	defer f.Close()

	d := &downloader{
		url:     rawURL,
		partial: partial,
		f:       f,
		cache:   cache,
		opts:    opts,
		client:  newClient(opts),
	}
	defer d.client.CloseIdleConnections()
	res, err := d.run(ctx)
	if err != nil {
		// An empty partial file holds nothing worth resuming; don't
		// leave it behind after a 404 or a refused certificate.
		if fi, serr := f.Stat(); serr == nil && fi.Size() == 0 {
			d.removePartial()
		}
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	return res, nil
}

func checkScheme(scheme string, allowHTTP bool) error {
	switch scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP {
			return nil
		}
		return ErrInsecureHTTP
	}
	return fmt.Errorf("%w %q", ErrUnsupportedScheme, scheme)
}

// downloader is the state of one Get.
type downloader struct {
	url     string
	partial string
	f       *os.File
	cache   *Cache
	opts    Options
	client  *http.Client
}

// run is the retry loop.
func (d *downloader) run(ctx context.Context) (*Result, error) {
	retries := d.opts.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	delay := backoffStart
	restarts := 0
	for attempt := 0; ; {
		res, err := d.attempt(ctx)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			// err may not say so (a body read cut short by the
			// cancellation), but this is why the attempt failed.
			return nil, ctx.Err()
		}
		// A restart leaves an empty partial file behind, so the next
		// attempt sends no Range and cannot ask for another restart;
		// the bound only guards against a bug turning that into a loop.
		if errors.Is(err, errRestart) && restarts < 2 {
			restarts++
			continue
		}
		var t *transientError
		if !errors.As(err, &t) {
			return nil, err
		}
		if attempt >= retries {
			return nil, fmt.Errorf("%w (%d attempts): %w", ErrTooManyRetries, attempt+1, t.err)
		}
		wait := delay
		if t.retryAfter > 0 {
			wait = min(t.retryAfter, backoffMax)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, backoffMax)
		attempt++
	}
}

// attempt makes one request and, if the answer is usable, stores its body.
func (d *downloader) attempt(ctx context.Context) (*Result, error) {
	offset, err := d.f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("partial file: %w", err)
	}
	var validator string
	saved := readMeta(metaPath(d.partial))
	if offset > 0 && saved.URL == d.url {
		validator = saved.ifRange()
	}
	if validator == "" {
		// Bytes that cannot be validated are worthless: a resumed
		// body could be glued onto the head of another version.
		offset = 0
	}

	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(actx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, err
	}
	ua := d.opts.UserAgent
	if ua == "" {
		ua = "rkt"
	}
	req.Header.Set("User-Agent", ua)
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		req.Header.Set("If-Range", validator)
	}
	if d.cache != nil {
		if d.cache.ETag != "" {
			req.Header.Set("If-None-Match", d.cache.ETag)
		}
		if d.cache.LastModified != "" {
			req.Header.Set("If-Modified-Since", d.cache.LastModified)
		}
	}

	resp, err := d.client.Do(req)
	if err != nil {
		return nil, classify(actx, err)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return d.receive(actx, resp, 0, resp.ContentLength, watchdog)

	case code == http.StatusPartialContent:
		if offset == 0 {
			// We asked for the whole body.
			return nil, &StatusError{Code: code}
		}
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset || !saved.matches(resp.Header) {
			// The server ignored If-Range, or sent another range
			// than asked: trust nothing we have.
			return nil, d.discard()
		}
		return d.receive(actx, resp, offset, total, watchdog)

	case code == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The partial file is as long as the resource or longer: the
		// resource shrank, or an earlier Get completed the file but
		// its caller never moved it away.
		return nil, d.discard()

	case code == http.StatusNotModified && d.cache != nil:
		// The caller's copy is current, so a partial copy of the same
		// resource is of no use.
		d.removePartial()
		return &Result{
			NotModified:  true,
			ETag:         firstNonEmpty(resp.Header.Get("ETag"), d.cache.ETag),
			LastModified: firstNonEmpty(resp.Header.Get("Last-Modified"), d.cache.LastModified),
			MaxAge:       maxAge(resp.Header),
		}, nil

	case code == http.StatusAccepted:
		return nil, &transientError{err: ErrNotReady, retryAfter: retryAfter(resp.Header)}

	case code == http.StatusTooManyRequests || code >= 500:
		return nil, &transientError{err: &StatusError{Code: code}, retryAfter: retryAfter(resp.Header)}

	default:
		return nil, &StatusError{Code: code}
	}
}

// receive writes the body of resp into the partial file from offset on.
// total is the size of the complete resource, or -1 if unknown.
func (d *downloader) receive(ctx context.Context, resp *http.Response, offset, total int64, watchdog *time.Timer) (*Result, error) {
	m := meta{URL: d.url, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if offset == 0 {
		// Truncate before recording the new validator: a crash in
		// between leaves an empty file, never old bytes under a new
		// validator.
		if err := d.f.Truncate(0); err != nil {
			return nil, fmt.Errorf("partial file: %w", err)
		}
		if err := writeMeta(metaPath(d.partial), m); err != nil {
			return nil, err
		}
	} else {
		saved := readMeta(metaPath(d.partial))
		m.ETag = firstNonEmpty(m.ETag, saved.ETag)
		m.LastModified = firstNonEmpty(m.LastModified, saved.LastModified)
	}
	if _, err := d.f.Seek(offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("partial file: %w", err)
	}

	bar := newBar(d.opts.Progress, d.opts.Label, total, offset)
	size := offset
	buf := make([]byte, 64*1024)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(stallTimeout)
			if _, err := d.f.Write(buf[:n]); err != nil {
				bar.abort()
				return nil, fmt.Errorf("partial file: %w", err)
			}
			size += int64(n)
			bar.add(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			bar.abort()
			// Whatever arrived stays in the partial file, to be
			// resumed by the next attempt.
			return nil, classify(ctx, rerr)
		}
	}
	if total >= 0 && size != total {
		bar.abort()
		return nil, &transientError{err: fmt.Errorf("got %d of %d bytes: %w", size, total, io.ErrUnexpectedEOF)}
	}
	bar.finish()
	if err := d.f.Sync(); err != nil {
		return nil, fmt.Errorf("partial file: %w", err)
	}
	// The file is complete: a validator for resuming it is no longer
	// needed, and would only be litter once the caller moves the file.
	if err := os.Remove(metaPath(d.partial)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove download metadata: %w", err)
	}
	return &Result{
		Path:         d.partial,
		ETag:         m.ETag,
		LastModified: m.LastModified,
		MaxAge:       maxAge(resp.Header),
		Size:         size,
	}, nil
}

// discard empties the partial file and forgets its validator, then asks the
// retry loop to start over.
func (d *downloader) discard() error {
	if err := d.f.Truncate(0); err != nil {
		return fmt.Errorf("partial file: %w", err)
	}
	if err := os.Remove(metaPath(d.partial)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove download metadata: %w", err)
	}
	return errRestart
}

// removePartial deletes the partial file and its metadata; failures only
// leave litter behind, so they are ignored.
func (d *downloader) removePartial() {
	_ = os.Remove(metaPath(d.partial))
	_ = os.Remove(d.partial)
}

// classify marks err as transient when retrying might help. ctx is the
// attempt's context, whose cause tells a stall from a cancellation.
func classify(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errStalled) {
		return &transientError{err: errStalled}
	}
	if ctx.Err() != nil {
		return err
	}
	if isTransient(err) {
		return &transientError{err: err}
	}
	return err
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); zero
// when absent or unparsable.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// maxAge returns the Cache-Control max-age of an answer. no-cache and
// no-store win over max-age because they forbid using the copy unchecked,
// which is what a max-age would allow.
func maxAge(h http.Header) time.Duration {
	var age time.Duration
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache", "no-store":
				return 0
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err == nil && secs > 0 && secs < int64(1<<62/time.Second) {
					age = time.Duration(secs) * time.Second
				}
			}
		}
	}
	return age
}

// parseContentRange parses "bytes start-end/total"; total is -1 for "*".
func parseContentRange(v string) (start, total int64, ok bool) {
	unit, spec, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !strings.EqualFold(unit, "bytes") {
		return 0, 0, false
	}
	rng, size, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, false
	}
	first, last, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	if size == "*" {
		return start, -1, true
	}
	total, err := strconv.ParseInt(size, 10, 64)
	if err != nil || total <= end {
		return 0, 0, false
	}
	return start, total, true
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
