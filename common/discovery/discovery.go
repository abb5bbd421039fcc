// Package discovery finds where an appc image and its signing keys live,
// using appc meta discovery: an https GET of the image name with
// ?ac-discovery=1, whose HTML carries ac-discovery and ac-discovery-pubkeys
// meta tags, tried for the name and then each parent path.
//
// It is a thin layer over github.com/appc/spec/discovery, which implements
// the protocol; this package gives it plain options, default labels, context
// cancellation and errors that say what was tried.
package discovery

import (
	"github.com/rkt/rkt/common/imagename"

	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	appc "github.com/appc/spec/discovery"
	"github.com/appc/spec/schema/types"
)

var (
	// ErrNoMetaTags is wrapped by the error of a discovery that found no
	// usable meta tag on any page it tried.
	ErrNoMetaTags = errors.New("found no ACI meta tags")
	// ErrInvalidName is wrapped by the errors for malformed image names
	// and labels.
	ErrInvalidName = imagename.ErrInvalid
)

// Options tune discovery. The zero value uses https on the default port and
// verifies certificates.
type Options struct {
	// InsecureTLS accepts any server certificate.
	InsecureTLS bool
	// AllowHTTP falls back to plain http when https fails.
	AllowHTTP bool
	// Headers holds extra headers (credentials) per host[:port]. A host
	// without a port also matches the default ports, as in auth.d.
	Headers map[string]http.Header
	// Port is the port to connect to; 0 means the scheme's default.
	Port uint
}

// ACIEndpoint is where one copy of an image and its signature live.
type ACIEndpoint struct {
	// ACI is the URL of the image.
	ACI string
	// ASC is the URL of its detached signature.
	ASC string
}

// Endpoints is the result of an image discovery.
type Endpoints struct {
	// ACIs are the endpoints in the order the page lists them; rkt uses
	// the first and may fall back to the others.
	ACIs []ACIEndpoint
	// Keys are the public key URLs listed on the same page.
	Keys []string
}

// requestTimeout bounds each discovery request. The appc library's shared
// clients have no overall timeout, and a request cannot be cancelled
// through it, so without one a silent server would hold a goroutine forever.
const requestTimeout = 60 * time.Second

var setTimeout sync.Once

// Image discovers where the image name (an AC identifier) with the given
// labels lives. Missing labels get defaults: version "latest", and os and
// arch of this machine in appc's naming (amd64, i386, aarch64, armv7l,
// ppc64le, ...). Templates whose placeholders the labels cannot fill are
// skipped, as the appc spec says.
//
// The name is tried first, then each parent path; the first page that
// yields an endpoint wins.
func Image(ctx context.Context, name string, labels map[string]string, opts Options) (*Endpoints, error) {
	app, err := newApp(name, labels)
	if err != nil {
		return nil, err
	}
	res, err := walk(ctx, app, opts, func(p page) bool { return len(p.acis) > 0 })
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", name, err)
	}
	eps := &Endpoints{Keys: res.keys}
	for _, e := range res.acis {
		eps.ACIs = append(eps.ACIs, ACIEndpoint{ACI: e.ACI, ASC: e.ASC})
	}
	return eps, nil
}

// PublicKeys discovers the ac-discovery-pubkeys URLs for prefix, trying
// prefix and then each parent path.
func PublicKeys(ctx context.Context, prefix string, opts Options) ([]string, error) {
	// Keys are not per image, but the appc walk needs labels to render
	// templates; the defaults do.
	app, err := newApp(prefix, nil)
	if err != nil {
		return nil, err
	}
	res, err := walk(ctx, app, opts, func(p page) bool { return len(p.keys) > 0 })
	if err != nil {
		return nil, fmt.Errorf("discover public keys for %s: %w", prefix, err)
	}
	return res.keys, nil
}

// newApp validates name and labels and fills in the default labels.
func newApp(name string, labels map[string]string) (appc.App, error) {
	id, err := types.NewACIdentifier(name)
	if err != nil {
		return appc.App{}, fmt.Errorf("%w %q: %w", ErrInvalidName, name, err)
	}
	l := make(map[types.ACIdentifier]string, len(labels)+3)
	for k, v := range labels {
		lk, err := types.NewACIdentifier(k)
		if err != nil || k == "name" {
			return appc.App{}, fmt.Errorf("%w: bad label name %q", ErrInvalidName, k)
		}
		l[*lk] = v
	}
	hostOS, hostArch := HostOSArch()
	for k, v := range map[types.ACIdentifier]string{"version": "latest", "os": hostOS, "arch": hostArch} {
		if l[k] == "" {
			l[k] = v
		}
	}
	return appc.App{Name: *id, Labels: l}, nil
}

// HostOSArch returns this machine's os and arch labels in appc's naming.
func HostOSArch() (os, arch string) {
	os, arch, err := types.ToAppcOSArch(runtime.GOOS, runtime.GOARCH, goARM())
	if err != nil {
		// A platform appc has no name for keeps Go's.
		return runtime.GOOS, runtime.GOARCH
	}
	return os, arch
}

// goARM returns the GOARM version this binary was built for ("6", "7"), or
// "" elsewhere: appc tells armv6l from armv7l, Go's GOARCH does not.
func goARM() string {
	if runtime.GOARCH != "arm" {
		return ""
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				return s.Value[:1]
			}
		}
	}
	return ""
}

// page is what one discovery page offered for the image.
type page struct {
	acis []appc.ACIEndpoint
	keys []string
}

// errEnough stops the walk once a page satisfied the caller.
var errEnough = errors.New("enough")

// walkFuncType is appc.DiscoverWalkFunc. Its second parameter is a pointer
// to a type the appc package does not export, so code outside it cannot
// write a function literal of that type; reflect.MakeFunc can build one.
var walkFuncType = reflect.TypeOf(appc.DiscoverWalkFunc(nil))

// walk runs appc's discovery walk until a page satisfies done, and returns
// that page. It honours ctx: the walk stops between pages, and the call
// returns at once on cancellation while an in-flight request finishes (or
// times out) in the background.
func walk(ctx context.Context, app appc.App, opts Options, done func(page) bool) (page, error) {
	setTimeout.Do(func() {
		appc.Client.Timeout = requestTimeout
		appc.ClientInsecureTLS.Timeout = requestTimeout
	})
	var insecure appc.InsecureOption
	if opts.InsecureTLS {
		insecure |= appc.InsecureTLS
	}
	if opts.AllowHTTP {
		insecure |= appc.InsecureHTTP
	}
	headers := hostHeaders(opts.Headers)

	type outcome struct {
		found    page
		ok       bool
		attempts []appc.FailedAttempt
	}
	ch := make(chan outcome, 1)
	go func() {
		var out outcome
		errType := reflect.TypeOf((*error)(nil)).Elem()
		ret := func(err error) []reflect.Value {
			if err == nil {
				return []reflect.Value{reflect.Zero(errType)}
			}
			return []reflect.Value{reflect.ValueOf(&err).Elem()}
		}
		fn := reflect.MakeFunc(walkFuncType, func(args []reflect.Value) []reflect.Value {
			prefix := args[0].String()
			if err := ctx.Err(); err != nil {
				return ret(err)
			}
			if e := args[2]; !e.IsNil() {
				out.attempts = append(out.attempts, appc.FailedAttempt{Prefix: prefix, Error: e.Interface().(error)})
				return ret(nil)
			}
			p, ok := pageOf(args[1])
			if ok && done(p) {
				out.found, out.ok = p, true
				return ret(errEnough)
			}
			out.attempts = append(out.attempts, appc.FailedAttempt{Prefix: prefix, Error: errors.New("no matching meta tag")})
			return ret(nil)
		}).Interface().(appc.DiscoverWalkFunc)
		// The walk's own error says no more than "discovery failed",
		// or repeats what fn returned; out has the whole story.
		_, _ = appc.DiscoverWalk(app, headers, insecure, opts.Port, fn)
		ch <- out
	}()

	var out outcome
	select {
	case <-ctx.Done():
		return page{}, ctx.Err()
	case out = <-ch:
	}
	if out.ok {
		return out.found, nil
	}
	if err := ctx.Err(); err != nil {
		return page{}, err
	}
	// appc reports an exhausted walk as a bare "discovery failed"; what
	// each prefix gave is more use to the user.
	var tried []string
	for _, a := range out.attempts {
		tried = append(tried, fmt.Sprintf("%s: %v", a.Prefix, a.Error))
	}
	return page{}, fmt.Errorf("%w (%s)", ErrNoMetaTags, strings.Join(tried, "; "))
}

// pageOf reads the endpoints and keys out of appc's unexported page type
// (exported fields of an unexported struct are readable through reflect).
func pageOf(v reflect.Value) (page, bool) {
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return page{}, false
	}
	s := v.Elem()
	acis, ok1 := s.FieldByName("ACIEndpoints").Interface().([]appc.ACIEndpoint)
	keys, ok2 := s.FieldByName("PublicKeys").Interface().([]string)
	return page{acis: acis, keys: keys}, ok1 && ok2
}

// hostHeaders copies the per-host headers, adding the forms of each key
// that appc's exact lookup needs: it looks up "host" when no port is given
// and "host:port" otherwise, while auth.d writes either for the default
// port.
func hostHeaders(in map[string]http.Header) map[string]http.Header {
	out := make(map[string]http.Header, len(in))
	add := func(k string, h http.Header) {
		if _, ok := out[k]; !ok {
			out[k] = h.Clone()
		}
	}
	// Exact keys first, so that they win over derived ones.
	for k, h := range in {
		out[k] = h.Clone()
	}
	for k, h := range in {
		host, port, err := net.SplitHostPort(k)
		switch {
		case err != nil:
			add(net.JoinHostPort(k, "443"), h)
			add(net.JoinHostPort(k, "80"), h)
		case port == "443" || port == "80":
			add(host, h)
		}
	}
	return out
}
