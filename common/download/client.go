package download

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// newClient builds the HTTP client for one Get.
func newClient(opts Options) *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Only with --insecure-options=tls.
			InsecureSkipVerify: opts.InsecureTLS,
		},
		// Transparent gzip would make Range offsets refer to the
		// encoded body while we count decoded bytes.
		DisableCompression: true,
	}
	var base http.RoundTripper = tr
	if opts.Transport != nil {
		base = opts.Transport
	}
	return &http.Client{
		Transport: &authTransport{base: base, headers: opts.Auth, aws: opts.AWS},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			// A redirect must not sneak past the scheme check Get
			// made on the first URL.
			return checkScheme(req.URL.Scheme, opts.AllowHTTP)
		},
	}
}

// isTransient reports whether a request or body-read failure may go away
// on its own: the server restarting, a flaky network, a timeout.
func isTransient(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
		return true
	}
	for _, e := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT,
		// The server closed the connection before or in the middle
		// of its answer.
		io.EOF, io.ErrUnexpectedEOF,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// authTransport adds the configured credentials to each request for the
// request's own host. Doing it here, rather than on the first request, means
// that a redirect to another host never carries them along, and that AWS
// signatures, which cover the host and the time, are made for each request
// actually sent.
type authTransport struct {
	base    http.RoundTripper
	headers map[string]Header
	aws     map[string]AWSCredentials
}

// RoundTrip implements http.RoundTripper.
func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, hasHeaders := forHost(t.headers, req.URL)
	creds, hasAWS := forHost(t.aws, req.URL)
	if !hasHeaders && !hasAWS {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not modify the caller's request.
	r := req.Clone(req.Context())
	for k, vs := range h {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if hasAWS {
		signV4(r, creds, "s3", time.Now())
	}
	return t.base.RoundTrip(r)
}

// forHost looks u's host up in a map keyed by auth.d domains (host[:port]).
// A domain without a port matches the scheme's default port, and a domain
// with the default port matches a URL that leaves it out, because users
// write either.
func forHost[V any](m map[string]V, u *url.URL) (V, bool) {
	if v, ok := m[u.Host]; ok {
		return v, true
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	switch u.Port() {
	case "":
		if v, ok := m[net.JoinHostPort(u.Hostname(), def)]; ok && def != "" {
			return v, true
		}
	case def:
		if v, ok := m[u.Hostname()]; ok {
			return v, true
		}
		// An IPv6 literal is written with brackets in a URL.
		if v, ok := m[fmt.Sprintf("[%s]", u.Hostname())]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}
