// Package fetch resolves an image argument (a path, a URL, an appc name,
// an ID) to an image in the store, downloading and verifying it when the
// pull policy says so. It is the only package with network image-fetching
// code, and only rkt-fetch links it: the privileged binaries run rkt-fetch
// as a child process instead.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema/types"

	// Images are decompressed here (imports, renders): the decoders.
	_ "github.com/rkt/rkt/common/aci/compression/codecs"
	"github.com/rkt/rkt/common/config"
	"github.com/rkt/rkt/common/discovery"
	"github.com/rkt/rkt/common/download"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/imagename"
	"github.com/rkt/rkt/common/store"
	"github.com/rkt/rkt/common/trust"
)

// PullPolicy says when to go to the network (reference CLI-RUN-11).
type PullPolicy string

// The pull policies.
const (
	PullNever  PullPolicy = "never"  // the store only
	PullNew    PullPolicy = "new"    // the store if it has the image, else fetch
	PullUpdate PullPolicy = "update" // ask the remote each time (ETag, max-age)
)

// ParsePullPolicy checks a --pull-policy value.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(s); p {
	case PullNever, PullNew, PullUpdate:
		return p, nil
	}
	return "", fmt.Errorf("invalid pull policy %q: must be never, new or update", s)
}

// Errors the caller may want to tell apart.
var (
	ErrNotInStore     = errors.New("image not found in the store")
	ErrUnsigned       = errors.New("image is not signed")
	ErrDockerNotReady = errors.New("docker images are not supported yet")
	ErrNameMismatch   = errors.New("image does not match the requested name and labels")
)

// Fetcher fetches images into a store.
type Fetcher struct {
	Store  *store.Store
	Trust  *trust.Store
	Config *config.Config
	Policy PullPolicy
	// InsecureImage skips signature checks; InsecureTLS, InsecureHTTP and
	// InsecurePubKey relax transport checks (--insecure-options).
	InsecureImage, InsecureTLS, InsecureHTTP, InsecurePubKey bool
	// TrustKeysFromHTTPS trusts keys discovered over https without review.
	TrustKeysFromHTTPS bool
	// Render renders fetched images into the tree store (root only).
	Render bool
	// Root extracts with ownership and devices (the caller is root).
	Root bool
	// SkipTreeCheck trusts a rendered tree without the ondisk check
	// (--insecure-options=ondisk).
	SkipTreeCheck bool
	// Stderr gets progress and messages.
	Stderr io.Writer
	// now is time.Now, replaceable in tests.
	now func() time.Time
}

func (f *Fetcher) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

func (f *Fetcher) warnf(format string, a ...any) {
	fmt.Fprintf(f.Stderr, "rkt: warning: "+format+"\n", a...)
}

func (f *Fetcher) infof(format string, a ...any) {
	fmt.Fprintf(f.Stderr, format+"\n", a...)
}

// Fetch resolves one image argument and returns the store key of the
// image. signature is a local detached signature (--signature) or "".
func (f *Fetcher) Fetch(ctx context.Context, arg, signature string) (string, error) {
	key, release, err := f.fetchAndHold(ctx, arg, signature)
	if err != nil {
		return "", err
	}
	defer release()
	if err := f.fetchDependencies(ctx, key, 0); err != nil {
		return "", err
	}
	if f.Render {
		if _, err := f.Store.Render(key, f.Root, f.SkipTreeCheck); err != nil {
			return "", fmt.Errorf("rendering %s: %w", arg, err)
		}
	}
	f.Store.Touch(key)
	return key, nil
}

// fetchAndHold fetches an image and holds it against removal while the
// rest of the fetch (dependencies, render) runs: an `image gc` racing
// with the fetch may remove it right after, but not in the middle.
func (f *Fetcher) fetchAndHold(ctx context.Context, arg, signature string) (string, func() error, error) {
	for attempt := 0; ; attempt++ {
		key, err := f.fetch(ctx, arg, signature)
		if err != nil {
			return "", nil, err
		}
		release, err := f.Store.Hold(key)
		if err == nil {
			return key, release, nil
		}
		if errors.Is(err, store.ErrImageDamaged) && attempt < 2 {
			// Lost writes after a crash: drop the copy and fetch again.
			f.warnf("%v; removing it and fetching again", err)
			if rerr := f.Store.Remove(key); rerr != nil {
				return "", nil, rerr
			}
			continue
		}
		if !errors.Is(err, store.ErrNotFound) || attempt == 2 {
			return "", nil, err
		}
	}
}

func (f *Fetcher) fetch(ctx context.Context, arg, signature string) (string, error) {
	switch {
	case store.IsID(arg):
		key, err := f.Store.ResolveID(arg)
		if err != nil {
			return "", err
		}
		return key, nil
	case strings.HasPrefix(arg, "docker://") || strings.HasPrefix(arg, "docker:"):
		src, _, err := imagename.ParseSource(arg)
		if err != nil {
			return "", err
		}
		return f.fetchDocker(ctx, src)
	case isLocalSource(arg):
		src, _, err := imagename.ParseSource(arg)
		if err != nil {
			return "", err
		}
		return f.fetchLocal(ctx, src)
	case strings.HasPrefix(arg, "file://"):
		u, err := url.Parse(arg)
		if err != nil {
			return "", fmt.Errorf("bad URL %q: %w", arg, err)
		}
		return f.fetchFile(u.Path, signature)
	case strings.HasPrefix(arg, "https://") || strings.HasPrefix(arg, "http://"):
		return f.fetchURL(ctx, arg, "", signature, "", nil)
	case isPath(arg):
		return f.fetchFile(arg, signature)
	}
	return f.fetchName(ctx, arg, signature)
}

// isPath tells a file argument from an appc name (reference CLI-RUN-21):
// an existing file, an absolute path, or anything with "./" in it.
func isPath(arg string) bool {
	if filepath.IsAbs(arg) || strings.Contains(arg, "./") {
		return true
	}
	fi, err := os.Stat(arg)
	return err == nil && fi.Mode().IsRegular()
}

func (f *Fetcher) fetchFile(path, signature string) (string, error) {
	if f.Policy == PullNever {
		// rkt's store-only policy never reads files: only the store.
		return "", fmt.Errorf("%s: pull policy never: %w", path, ErrNotInStore)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("image file %s: %w", path, err)
	}
	if signature == "" {
		if _, err := os.Stat(path + ".asc"); err == nil {
			signature = path + ".asc"
		}
	}
	opts, err := f.importOptions(signature, path)
	if err != nil {
		return "", err
	}
	info, err := f.Store.ImportFile(path, opts)
	if err != nil {
		return "", explain(err)
	}
	return info.Key, nil
}

// importOptions sets up the signature check for an import.
func (f *Fetcher) importOptions(signature, what string) (store.ImportOptions, error) {
	opts := store.ImportOptions{Render: f.Render && f.Root, Root: f.Root}
	if f.InsecureImage {
		f.warnf("signature verification has been disabled (--insecure-options=image): %s is not checked", what)
		return opts, nil
	}
	if signature == "" {
		return opts, fmt.Errorf("%s: %w: no signature found; get its signature (NAME.aci.asc or --signature), or skip the check with --insecure-options=image", what, ErrUnsigned)
	}
	sig, err := os.ReadFile(signature)
	if err != nil {
		return opts, fmt.Errorf("reading signature: %w", err)
	}
	opts.Verify = func(name string) (store.Verifier, error) {
		v, err := f.Trust.NewVerifier(name, sig)
		if err != nil {
			return nil, err
		}
		return &verifier{v: v, name: name, stderr: f.Stderr}, nil
	}
	return opts, nil
}

// verifier adapts trust.Verifier to the store's interface and reports the
// signer, as rkt did.
type verifier struct {
	v      trust.Verifier
	name   string
	stderr io.Writer
}

func (v *verifier) Write(p []byte) (int, error) { return v.v.Write(p) }
func (v *verifier) Abort()                      { v.v.Abort() }
func (v *verifier) Done() error {
	e, err := v.v.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(v.stderr, "signature verified:\n")
	for id := range e.Identities {
		fmt.Fprintf(v.stderr, "  %s\n", id)
	}
	return nil
}

// explain turns store errors into what the user should do.
func explain(err error) error {
	if errors.Is(err, store.ErrSignature) {
		return fmt.Errorf("%w\n(trust the signer's key with `rkt trust --prefix=NAME KEY`, or, at your own risk, skip the check with --insecure-options=image)", err)
	}
	return err
}

func (f *Fetcher) downloadOptions(label string) download.Options {
	o := download.Options{
		InsecureTLS: f.InsecureTLS,
		AllowHTTP:   f.InsecureHTTP,
		Progress:    f.Stderr,
		Label:       label,
	}
	if f.Config != nil {
		o.Auth = download.AuthHeaders(f.Config.AuthPerHost)
	}
	return o
}

// lockFetch takes the lock that lets one rkt at a time fetch key (a URL,
// a registry reference), saying so when it has to wait for another.
// release drops it.
func (f *Fetcher) lockFetch(key string) (release func(), waited bool, err error) {
	lockDir, lockKey := f.Store.Root().CASTmp(), "fetch-"+store.URLHash(key)
	unlock, err := flock.KeyLock(lockDir, lockKey, flock.Exclusive, false)
	if errors.Is(err, flock.ErrLocked) {
		f.infof("another rkt instance is fetching %s, waiting...", key)
		waited = true
		unlock, err = flock.KeyLock(lockDir, lockKey, flock.Exclusive, true)
	}
	if err != nil {
		return nil, false, fmt.Errorf("locking the fetch of %s: %w", key, err)
	}
	return func() {
		// Removed while still held: a waiter finds its file gone and takes
		// a new one (the key-lock protocol), so cas/tmp keeps no lock files.
		os.Remove(filepath.Join(lockDir, lockKey))
		unlock()
	}, waited, nil
}

// fetchURL downloads an image (and its signature) from u unless the pull
// policy and the remote's cache headers say the stored copy will do.
// name/labels, when set, are what discovery was asked for: the image must
// match them.
func (f *Fetcher) fetchURL(ctx context.Context, u, sigURL, signature, name string, labels map[string]string) (string, error) {
	// One fetch per URL at a time: a second rkt waits for the first and
	// then uses what it stored instead of downloading again.
	started := f.clock()
	release, waited, err := f.lockFetch(u)
	if err != nil {
		return "", err
	}
	defer release()
	rem, err := f.Store.GetRemote(u)
	if err != nil {
		return "", err
	}
	if waited && rem != nil && !rem.DownloadTime.Before(started.Add(-time.Second)) {
		return rem.Key, nil
	}
	switch {
	case f.Policy == PullNever:
		if rem == nil {
			return "", fmt.Errorf("%s: pull policy never: %w", u, ErrNotInStore)
		}
		return rem.Key, nil
	case f.Policy == PullNew && rem != nil:
		return rem.Key, nil
	case rem != nil && rem.Fresh(f.clock()):
		f.infof("image for %s isn't expired, not fetching", u)
		return rem.Key, nil
	}
	if strings.HasPrefix(u, "http://") && !f.InsecureHTTP {
		return "", fmt.Errorf("%s: plain http needs --insecure-options=http", u)
	}
	partial := filepath.Join(f.Store.Root().CASTmp(), "dl-"+store.URLHash(u))
	var cache *download.Cache
	if rem != nil {
		cache = &download.Cache{ETag: rem.ETag, LastModified: rem.LastModified}
	}
	res, err := download.Get(ctx, u, partial, cache, f.downloadOptions("ACI"))
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", u, err)
	}
	if res.NotModified && rem != nil {
		rem.DownloadTime, rem.MaxAge = f.clock().UTC(), res.MaxAge
		if err := f.Store.PutRemote(rem); err != nil {
			return "", err
		}
		return rem.Key, nil
	}
	defer os.Remove(partial)
	if signature == "" && !f.InsecureImage {
		if sigURL == "" {
			sigURL = u + ".asc"
		}
		sigPartial := partial + ".asc"
		defer os.Remove(sigPartial)
		if _, err := download.Get(ctx, sigURL, sigPartial, nil, f.downloadOptions("signature")); err != nil {
			if errors.Is(err, download.ErrNotFound) {
				return "", fmt.Errorf("%s: %w: %s not found; skip the check with --insecure-options=image at your own risk", u, ErrUnsigned, sigURL)
			}
			return "", fmt.Errorf("downloading signature %s: %w", sigURL, err)
		}
		signature = sigPartial
	}
	opts, err := f.importOptions(signature, u)
	if err != nil {
		return "", err
	}
	opts.Move = true
	opts.Latest = name != "" && labels["version"] == "latest"
	info, err := f.Store.ImportFile(res.Path, opts)
	if err != nil {
		return "", explain(err)
	}
	if name != "" && !matches(info, name, labels) {
		return "", fmt.Errorf("%s: got %s: %w", u, info.NameVersion(), ErrNameMismatch)
	}
	err = f.Store.PutRemote(&store.Remote{
		URL: u, SigURL: sigURL, ETag: res.ETag, LastModified: res.LastModified,
		Key: info.Key, MaxAge: res.MaxAge, DownloadTime: f.clock().UTC(),
	})
	if err != nil {
		return "", err
	}
	return info.Key, nil
}

func matches(info *store.ImageInfo, name string, labels map[string]string) bool {
	if info.Name != name {
		return false
	}
	for k, v := range labels {
		if k == "version" && v == "latest" {
			continue
		}
		if got, _ := info.Labels.Get(k); got != v {
			return false
		}
	}
	return true
}

// fetchName finds an image by appc name: in the store first (policies
// never and new), else by meta discovery.
func (f *Fetcher) fetchName(ctx context.Context, arg, signature string) (string, error) {
	name, labels, err := discovery.ParseName(arg)
	if err != nil {
		return "", err
	}
	if f.Policy != PullUpdate {
		found, err := f.Store.FindByName(name, withoutLatest(labels))
		if err != nil {
			return "", err
		}
		if len(found) > 0 {
			return found[0].Key, nil
		}
		if f.Policy == PullNever {
			return "", fmt.Errorf("%s: pull policy never: %w", arg, ErrNotInStore)
		}
	}
	eps, err := discovery.Image(ctx, name, labels, f.discoveryOptions())
	if err != nil {
		return "", fmt.Errorf("discovering %s: %w", arg, err)
	}
	if len(eps.ACIs) == 0 {
		return "", fmt.Errorf("discovering %s: no image endpoints found", arg)
	}
	if !f.InsecureImage && signature == "" {
		if err := f.maybeTrustKeys(ctx, name, eps.Keys); err != nil {
			return "", err
		}
	}
	if _, ok := labels["version"]; !ok {
		labels["version"] = "latest"
	}
	ep := eps.ACIs[0]
	return f.fetchURL(ctx, ep.ACI, ep.ASC, signature, name, labels)
}

func withoutLatest(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if k == "version" && v == "latest" {
			continue
		}
		out[k] = v
	}
	return out
}

func (f *Fetcher) discoveryOptions() discovery.Options {
	o := discovery.Options{InsecureTLS: f.InsecureTLS, AllowHTTP: f.InsecureHTTP}
	if f.Config != nil {
		o.Headers = download.AuthHeaders(f.Config.AuthPerHost)
	}
	return o
}

// maybeTrustKeys adds discovered keys for name when there are none and
// --trust-keys-from-https says keys served over https may be trusted.
func (f *Fetcher) maybeTrustKeys(ctx context.Context, name string, keys []string) error {
	ring, err := f.Trust.Keyring(name)
	if err != nil || len(ring) > 0 || !f.TrustKeysFromHTTPS {
		return nil
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "https://") && !f.InsecurePubKey {
			f.warnf("not trusting key %s fetched over an insecure transport", k)
			continue
		}
		partial := filepath.Join(f.Store.Root().CASTmp(), "dl-"+store.URLHash(k))
		res, err := download.Get(ctx, k, partial, nil, f.downloadOptions("key"))
		if err != nil {
			return fmt.Errorf("downloading key %s: %w", k, err)
		}
		data, err := os.ReadFile(res.Path)
		os.Remove(partial)
		if err != nil {
			return err
		}
		path, err := f.Trust.AddKey(name, data)
		if err != nil {
			return fmt.Errorf("trusting key %s for %s: %w", k, name, err)
		}
		f.infof("Trusting %q for prefix %q without fingerprint review (--trust-keys-from-https).\nAdded key for prefix %q at %q", k, name, name, path)
	}
	return nil
}

// fetchDependencies gets an image's appc dependencies into the store.
func (f *Fetcher) fetchDependencies(ctx context.Context, key string, depth int) error {
	if depth > 32 {
		return fmt.Errorf("dependency chain too deep at %s", key)
	}
	deps, err := f.Store.Dependencies(key)
	if err != nil {
		return err
	}
	for _, d := range deps {
		dk, err := f.fetchDependency(ctx, d)
		if err != nil {
			return fmt.Errorf("dependency %s of %s: %w", d.ImageName, key, err)
		}
		if err := f.fetchDependencies(ctx, dk, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// fetchDependency finds a dependency in the store first, whatever the
// pull policy: a dependency is pinned by name and labels (or ID), and the
// store's copy satisfies them.
func (f *Fetcher) fetchDependency(ctx context.Context, d types.Dependency) (string, error) {
	if d.ImageID != nil {
		if k, err := f.Store.ResolveID(d.ImageID.String()); err == nil {
			return k, nil
		}
	}
	labels := map[string]string{}
	for _, l := range d.Labels {
		labels[string(l.Name)] = l.Value
	}
	if found, err := f.Store.FindByName(d.ImageName.String(), labels); err == nil && len(found) > 0 {
		return found[0].Key, nil
	}
	arg := d.ImageName.String()
	for _, l := range d.Labels {
		if l.Name == "version" {
			arg += ":" + l.Value
		} else {
			arg += "," + string(l.Name) + "=" + l.Value
		}
	}
	return f.fetchName(ctx, arg, "")
}
