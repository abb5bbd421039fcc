package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/rkt/rkt/common/imagename"
	"github.com/rkt/rkt/common/ociimage"
	"github.com/rkt/rkt/common/registry"
	"github.com/rkt/rkt/common/store"
)

// layerParallelism is how many layers are copied at once: enough to
// fill a link with several streams, few enough not to thrash the disk.
const layerParallelism = 4

// requireInsecureImage refuses Docker and OCI images unless signature
// checks are off: they carry no appc signature (rkt's rule).
func (f *Fetcher) requireInsecureImage(src imagename.Source) error {
	if f.InsecureImage {
		return nil
	}
	return fmt.Errorf("%s: %w: Docker and OCI images carry no signature rkt can verify; fetch them with --insecure-options=image", src, ErrUnsigned)
}

// fetchLocal imports an image from an OCI layout, an oci-archive or a
// docker-archive. Like an ACI file it is read every time, whatever the
// pull policy (except never), but layers already stored are not copied
// again.
func (f *Fetcher) fetchLocal(ctx context.Context, src imagename.Source) (string, error) {
	if err := f.requireInsecureImage(src); err != nil {
		return "", err
	}
	if f.Policy == PullNever {
		return "", fmt.Errorf("%s: pull policy never: %w", src, ErrNotInStore)
	}
	if _, err := os.Stat(src.Path); err != nil {
		return "", fmt.Errorf("image %s: %w", src, err)
	}
	im, err := registry.OpenLocal(src)
	if err != nil {
		return "", err
	}
	defer im.Close()
	info, err := f.storeImage(ctx, im, src.Ref == "" || src.Ref == "latest" || im.Origin.Tag == "latest")
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	return info.Key, nil
}

// storeImage copies the layers the store lacks, in parallel, then
// stores the converted image. As root it renders the image's tree at the
// same time, each layer as soon as it and those below it are stored, so
// that decompression and extraction overlap the downloads. The layer
// store is held against gc throughout, so that a layer found stored stays
// until the image lists it.
func (f *Fetcher) storeImage(ctx context.Context, im *registry.Image, latest bool) (*store.ImageInfo, error) {
	release, err := f.Store.HoldLayers()
	if err != nil {
		return nil, err
	}
	defer release()
	m, err := ociimage.Convert(im.Origin, im.Config)
	if err != nil {
		return nil, err
	}
	imp := &store.OCIImport{
		Manifest:    m,
		RawManifest: im.RawManifest,
		RawConfig:   im.RawConfig,
		Latest:      latest,
	}
	done := map[string]*layerDone{}
	var missing []registry.Layer
	for _, l := range im.Layers {
		imp.Layers = append(imp.Layers, store.Layer{Digest: l.Digest, DiffID: l.DiffID, MediaType: l.MediaType, Size: l.Size})
		if _, seen := done[l.Digest]; seen {
			continue
		}
		d := &layerDone{ch: make(chan struct{})}
		done[l.Digest] = d
		if f.Store.HasLayer(l.Digest, l.Size) {
			close(d.ch)
			continue
		}
		missing = append(missing, l)
	}
	if len(missing) > 0 {
		f.infof("Copying %d of %d layers of %s", len(missing), len(im.Layers), im.Origin.Original)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	copied := make(chan error, 1)
	go func() { copied <- f.copyLayers(ctx, im, missing, done) }()
	if f.Render && f.Root {
		manifestJSON, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		wait := func(i int) error {
			d := done[imp.Layers[i].Digest]
			select {
			case <-d.ch:
				return d.err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := f.Store.RenderOCI(manifestJSON, imp.Layers, f.Root, wait); err != nil {
			cancel()
			if cerr := <-copied; cerr != nil && !errors.Is(cerr, context.Canceled) {
				return nil, cerr // the cause: a layer that never came
			}
			return nil, err
		}
	}
	if err := <-copied; err != nil {
		return nil, err
	}
	return f.Store.ImportOCI(imp)
}

// layerDone is closed when a layer is stored or failed (err).
type layerDone struct {
	ch  chan struct{}
	err error
}

// copyLayers copies layers into the store, layerParallelism at a time,
// and signals each one's done; the first failure cancels the others.
func (f *Fetcher) copyLayers(ctx context.Context, im *registry.Image, layers []registry.Layer, done map[string]*layerDone) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, layerParallelism)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, l := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := done[l.Digest]
			defer close(d.ch)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				d.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if err := f.copyLayer(ctx, im, l); err != nil {
				d.err = err
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		// The first error is the cause; the others are its cancellations.
		return errs[0]
	}
	return ctx.Err()
}

func (f *Fetcher) copyLayer(ctx context.Context, im *registry.Image, l registry.Layer) error {
	partial, err := f.Store.LayerPartial(l.Digest)
	if err != nil {
		return err
	}
	if err := im.CopyLayer(ctx, l, partial); err != nil {
		if errors.Is(err, registry.ErrDigest) {
			os.Remove(partial)
		}
		return fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return f.Store.InstallLayer(partial, l.Digest)
}

// isLocalSource tells an oci-layout:, oci-archive: or docker-archive:
// argument.
func isLocalSource(arg string) bool {
	src, ok, _ := imagename.ParseSource(arg)
	return ok && src.Transport != imagename.Docker
}

// fetchDocker fetches from a registry. Pull policy new uses the image
// stored for the same reference; update asks the registry for the
// manifest digest (one HEAD request) and, when it changed, fetches the
// manifest and only the layers the store lacks.
func (f *Fetcher) fetchDocker(ctx context.Context, src imagename.Source) (string, error) {
	if err := f.requireInsecureImage(src); err != nil {
		return "", err
	}
	opts := registry.Options{InsecureHTTP: f.InsecureHTTP, InsecureTLS: f.InsecureTLS, Progress: f.Stderr}
	if f.Config != nil {
		opts.Auth = map[string]registry.Credentials{}
		for reg, a := range f.Config.DockerAuthPerReg {
			opts.Auth[reg] = registry.Credentials{User: a.User, Password: a.Password}
		}
	}
	r, err := registry.OpenRemote(src.Ref, opts)
	if err != nil {
		return "", err
	}
	key := r.Key()
	// One fetch per reference at a time, as for URLs.
	release, _, err := f.lockFetch(key)
	if err != nil {
		return "", err
	}
	defer release()
	rem, err := f.Store.GetRemote(key)
	if err != nil {
		return "", err
	}
	switch {
	case f.Policy == PullNever:
		if rem == nil {
			return "", fmt.Errorf("%s: pull policy never: %w", key, ErrNotInStore)
		}
		return rem.Key, nil
	case f.Policy == PullNew && rem != nil:
		return rem.Key, nil
	case rem != nil:
		// A registry that does not answer HEAD gets the full request.
		if d, err := r.Digest(ctx); err == nil && d == rem.ETag {
			return rem.Key, nil
		}
	}
	im, top, err := r.Image(ctx)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", key, err)
	}
	defer im.Close()
	info, err := f.storeImage(ctx, im, r.Latest())
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", key, err)
	}
	err = f.Store.PutRemote(&store.Remote{URL: key, ETag: top, Key: info.Key, DownloadTime: f.clock().UTC()})
	if err != nil {
		return "", err
	}
	return info.Key, nil
}
