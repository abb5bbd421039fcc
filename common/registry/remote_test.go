package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestRemoteImage(t *testing.T) {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/team/app:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	// Plain http is refused without InsecureHTTP, whatever go-containerregistry
	// would fall back to.
	r, err := OpenRemote(host+"/team/app:v1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Digest(context.Background()); !errors.Is(err, ErrPlainHTTP) {
		t.Fatalf("plain http without the option: %v", err)
	}

	r, err = OpenRemote(host+"/team/app:v1", Options{InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Key() != "docker://"+host+"/team/app:v1" || r.Latest() {
		t.Errorf("key %s latest %v", r.Key(), r.Latest())
	}
	im, top, err := r.Image(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if top != d.String() || im.Origin.ManifestDigest != d.String() || len(im.Layers) != 3 {
		t.Fatalf("top %s, origin %+v, %d layers", top, im.Origin, len(im.Layers))
	}
	if got, err := r.Digest(context.Background()); err != nil || got != top {
		t.Errorf("HEAD digest %s, %v", got, err)
	}
	if o := im.Origin; o.Registry != host || o.Repository != "team/app" || o.Tag != "v1" {
		t.Errorf("origin %+v", o)
	}
	for _, l := range im.Layers {
		p := filepath.Join(t.TempDir(), "layer")
		if err := im.CopyLayer(context.Background(), l, p); err != nil {
			t.Fatalf("layer %s: %v", l.Digest, err)
		}
	}
}

func TestDockerHubNames(t *testing.T) {
	r, err := OpenRemote("busybox", Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Origin()
	if o.Registry != dockerHub || o.Repository != "library/busybox" || o.Tag != "latest" || !r.Latest() {
		t.Errorf("origin %+v", o)
	}
	kc := configKeychain{"registry-1.docker.io": {User: "u", Password: "p"}}
	ref, _ := name.ParseReference("busybox")
	a, err := kc.Resolve(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil || cfg.Username != "u" {
		t.Errorf("Docker Hub credentials under registry-1.docker.io not found: %+v %v", cfg, err)
	}
	if a, _ := kc.Resolve(name.MustParseReference("quay.io/x/y").Context()); a != authn.Anonymous {
		t.Error("credentials for another registry")
	}
}

func TestExplainUnauthorized(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r, err := OpenRemote(host+"/a/b", Options{InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Image(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "dockerAuth") {
		t.Fatalf("%v", err)
	}
}
