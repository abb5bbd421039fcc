package registry

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/rkt/rkt/common/download"
	"github.com/rkt/rkt/common/ociimage"
)

// Credentials are a user name and password for one registry.
type Credentials struct {
	User, Password string
}

// Options say how to reach a registry.
type Options struct {
	// InsecureHTTP allows plain http (--insecure-options=http).
	InsecureHTTP bool
	// InsecureTLS accepts any certificate (--insecure-options=tls).
	InsecureTLS bool
	// Auth holds credentials per registry host[:port] (dockerAuth.d).
	// They win over the user's ~/.docker/config.json.
	Auth map[string]Credentials
	// Progress receives download progress (a bar on a terminal).
	Progress io.Writer
}

// Remote is a reference to an image in a registry.
type Remote struct {
	ref  name.Reference
	opts Options
	base http.RoundTripper
	kc   authn.Keychain
}

// dockerHub is the registry host docker2aci named Docker Hub images
// after (reference IMG-DOCK-01); go-containerregistry says index.docker.io.
const dockerHub = "registry-1.docker.io"

// OpenRemote parses a docker reference ([REGISTRY/]REPO[:TAG|@DIGEST];
// Docker Hub and library/ by default, tag latest) without contacting
// the registry.
func OpenRemote(ref string, opts Options) (*Remote, error) {
	var nopts []name.Option
	if opts.InsecureHTTP {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("docker reference %q: %w", ref, err)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   8,
		ResponseHeaderTimeout: 60 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: opts.InsecureTLS, // only with --insecure-options=tls
		},
		// Range offsets must count the bytes as served.
		DisableCompression: true,
	}
	var base http.RoundTripper = tr
	if !opts.InsecureHTTP {
		base = httpsOnly{tr}
	}
	return &Remote{
		ref:  r,
		opts: opts,
		base: base,
		kc:   authn.NewMultiKeychain(configKeychain(opts.Auth), authn.DefaultKeychain),
	}, nil
}

// Key is the canonical form of the reference: the name of its download
// record in the store.
func (r *Remote) Key() string { return "docker://" + r.ref.Name() }

// Origin names the image for conversion.
func (r *Remote) Origin() ociimage.Origin {
	reg := r.ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	o := ociimage.Origin{
		Original:   r.ref.String(),
		Registry:   reg,
		Repository: r.ref.Context().RepositoryStr(),
	}
	if t, ok := r.ref.(name.Tag); ok {
		o.Tag = t.TagStr()
	}
	return o
}

// Latest reports whether the reference asks for the tag latest.
func (r *Remote) Latest() bool {
	t, ok := r.ref.(name.Tag)
	return ok && t.TagStr() == "latest"
}

func (r *Remote) options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(r.base),
		remote.WithAuthFromKeychain(r.kc),
		remote.WithPlatform(hostPlatform()),
		remote.WithUserAgent("rkt"),
	}
}

// Digest asks the registry for the digest of what the reference points
// at now (the manifest, or the manifest list): one HEAD request.
func (r *Remote) Digest(ctx context.Context) (string, error) {
	d, err := remote.Head(r.ref, r.options(ctx)...)
	if err != nil {
		return "", r.explain(err)
	}
	return d.Digest.String(), nil
}

// Image fetches the manifest (resolving a manifest list to the host's
// platform) and the config. top is the digest of what the reference
// points at (the list for a multi-platform image).
func (r *Remote) Image(ctx context.Context) (im *Image, top string, err error) {
	desc, err := remote.Get(r.ref, r.options(ctx)...)
	if err != nil {
		return nil, "", r.explain(err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w: %w", r.ref, ErrNoImage, r.explain(err))
	}
	im, err = fromV1(img, r.Origin())
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", r.ref, r.explain(err))
	}
	tr, err := r.blobTransport(ctx)
	if err != nil {
		return nil, "", err
	}
	im.copyLayer = func(ctx context.Context, l Layer, partial string) error {
		return r.copyLayer(ctx, tr, l, partial)
	}
	return im, desc.Digest.String(), nil
}

// blobTransport is the authenticated transport of the registry client,
// for the layer downloads that common/download makes (it resumes and
// retries, which the registry client does not).
func (r *Remote) blobTransport(ctx context.Context) (http.RoundTripper, error) {
	repo := r.ref.Context()
	auth, err := authn.Resolve(ctx, r.kc, repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, r.base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, r.explain(err)
	}
	return tr, nil
}

func (r *Remote) copyLayer(ctx context.Context, tr http.RoundTripper, l Layer, partial string) error {
	repo := r.ref.Context()
	// The registry transport sets the scheme its ping found; without
	// --insecure-options=http that can only be https.
	scheme := "https"
	if r.opts.InsecureHTTP {
		scheme = repo.Scheme()
	}
	u := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", scheme, repo.RegistryStr(), repo.RepositoryStr(), l.Digest)
	label := "layer " + l.Digest
	if len(label) > 25 {
		label = label[:25]
	}
	_, err := download.Get(ctx, u, partial, nil, download.Options{
		AllowHTTP: r.opts.InsecureHTTP,
		Transport: tr,
		Progress:  r.opts.Progress,
		Label:     label,
	})
	if err != nil {
		return r.explain(err)
	}
	if err := verifyFile(partial, l.Digest, l.Size); err != nil {
		os.Remove(partial)
		return err
	}
	return nil
}

// explain says what to do about an authentication failure.
func (r *Remote) explain(err error) error {
	var te *transport.Error
	unauthorized := errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)
	var se *download.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden) {
		unauthorized = true
	}
	if unauthorized {
		return fmt.Errorf("%w: %w\n(give credentials for %s in a dockerAuth file in auth.d, see docs/configuration.md, or in ~/.docker/config.json)",
			ErrUnauthorized, err, r.ref.Context().RegistryStr())
	}
	return err
}

// configKeychain serves the dockerAuth.d credentials.
type configKeychain map[string]Credentials

// Resolve implements authn.Keychain.
func (k configKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	host := res.RegistryStr()
	names := []string{host}
	if host == name.DefaultRegistry || host == dockerHub || host == "docker.io" {
		names = []string{host, name.DefaultRegistry, dockerHub, "docker.io"}
	}
	for _, n := range names {
		if c, ok := k[n]; ok {
			return authn.FromConfig(authn.AuthConfig{Username: c.User, Password: c.Password}), nil
		}
	}
	return authn.Anonymous, nil
}

// fromV1 reads manifest, config and layer list of img, checking the
// config against its digest and the layer count against the config's
// diff IDs.
func fromV1(img v1.Image, o ociimage.Origin) (*Image, error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image manifest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image manifest: %w", err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	if got := sha256Hex(rawConfig); m.Config.Digest.Algorithm != "sha256" || got != m.Config.Digest.Hex {
		return nil, fmt.Errorf("image config %s: %w", m.Config.Digest, ErrDigest)
	}
	// Checked: the config digest fromParts computes is the manifest's.
	return fromParts(rawManifest, m, rawConfig, o)
}

// verifyFile checks a downloaded file against its digest and size.
func verifyFile(p, digest string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest || (size >= 0 && n != size) {
		return fmt.Errorf("layer %s: got %s (%d bytes): %w", digest, got, n, ErrDigest)
	}
	return nil
}

// ErrPlainHTTP refuses a plain-http request without --insecure-options=http.
var ErrPlainHTTP = errors.New("plain http needs --insecure-options=http")

// httpsOnly refuses plain http. go-containerregistry falls back to http
// by itself for loopback and private addresses (after trying https
// first); rkt allows that only with --insecure-options=http.
type httpsOnly struct{ inner http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("%s: %w", req.URL.Host, ErrPlainHTTP)
	}
	return h.inner.RoundTrip(req)
}
