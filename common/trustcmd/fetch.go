package trustcmd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/appc/spec/discovery"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/download"
)

// maxKeySize bounds what is read for one key: keys are a few KB, and a
// wrong URL must not fill memory.
const maxKeySize = 1 << 20

// keyTimeout bounds one key download, connection and TLS handshake
// included: keys are small, so a slow one means something is wrong.
const keyTimeout = 2 * time.Minute

var (
	// ErrHTTPNotAllowed refuses a plain http key without
	// --insecure-allow-http.
	ErrHTTPNotAllowed = errors.New("--insecure-allow-http required for http URLs")
	// ErrUnsupportedLocation refuses a key location that is neither a file
	// nor an http(s) URL.
	ErrUnsupportedLocation = errors.New("only local files and http or https URLs supported")
	// ErrKeyTooLarge refuses a key download over maxKeySize.
	ErrKeyTooLarge = errors.New("key too large")
)

// fetchKey reads the key at loc: a local path, a file:// URL, or an https
// (or, when allowed, http) URL. verified reports whether the key came over
// https with a checked certificate, the condition for
// --trust-keys-from-https.
func (r *runner) fetchKey(loc string) (key []byte, verified bool, err error) {
	if !strings.Contains(loc, "://") {
		return readFile(loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, false, err
	}
	switch u.Scheme {
	case "file":
		return readFile(u.Path)
	case "http":
		if !r.opts.allowHTTP {
			return nil, false, ErrHTTPNotAllowed
		}
	case "https":
	default:
		return nil, false, ErrUnsupportedLocation
	}
	insecureTLS := r.env.Globals.Insecure.Has(cli.InsecureTLS)
	res, err := newClient(insecureTLS, r.opts.allowHTTP).Get(u.String())
	if err != nil {
		return nil, false, fmt.Errorf("error getting key: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("bad HTTP status code: %d", res.StatusCode)
	}
	key, err = readLimited(res.Body)
	if err != nil {
		return nil, false, err
	}
	// res.Request is the last request, after any redirects.
	return key, res.Request.URL.Scheme == "https" && !insecureTLS, nil
}

func readFile(path string) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	key, err := readLimited(f)
	return key, false, err
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("error reading key: %w", err)
	}
	if len(b) > maxKeySize {
		return nil, fmt.Errorf("%w (over %d bytes)", ErrKeyTooLarge, maxKeySize)
	}
	return b, nil
}

// newClient returns the client for key downloads. Go's default transport
// brings the proxy settings from the environment and the system
// certificate pool, which honours $SSL_CERT_FILE.
func newClient(insecureTLS, allowHTTP bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if insecureTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // asked for: --insecure-options=tls
	}
	return &http.Client{
		Transport: tr,
		Timeout:   keyTimeout,
		// Go follows a redirect from https to http; that would get round
		// the refusal of http keys.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" && !(allowHTTP && req.URL.Scheme == "http") {
				return fmt.Errorf("redirect to %s: %w", req.URL, ErrHTTPNotAllowed)
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
}

// discoverKeys finds the key locations of prefix by appc meta discovery
// (the ac-discovery-pubkeys tag), walking up the prefix's path as the
// spec says.
func (r *runner) discoverKeys(prefix string) ([]string, error) {
	app, err := discovery.NewApp(prefix, nil)
	if err != nil {
		return nil, err
	}
	insecure := discovery.InsecureNone
	if r.opts.allowHTTP {
		insecure |= discovery.InsecureHTTP
	}
	if r.env.Globals.Insecure.Has(cli.InsecureTLS) {
		insecure |= discovery.InsecureTLS
	}
	headers, err := r.hostHeaders()
	if err != nil {
		return nil, err
	}
	keys, attempts, err := discovery.DiscoverPublicKeys(*app, headers, insecure, 0)
	for _, a := range attempts {
		r.env.Debugf("meta tag 'ac-discovery-pubkeys' not found on %s: %v", a.Prefix, a.Error)
	}
	if err != nil || len(keys) == 0 {
		// The library's own error is a bare "discovery failed"; what
		// went wrong at each level is in the attempts, shown with --debug.
		return nil, ErrNoMetaTags
	}
	return keys, nil
}

// hostHeaders is the auth.d credentials as discovery's per-host headers.
// AWS signatures depend on the whole request, which discovery builds
// itself, so they are not applied (rkt did not apply them either).
func (r *runner) hostHeaders() (map[string]http.Header, error) {
	cfg, err := r.env.Config()
	if err != nil {
		return nil, err
	}
	return download.AuthHeaders(cfg.AuthPerHost), nil
}
