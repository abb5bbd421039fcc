// Package registry gets Docker and OCI images from where they are kept:
// a registry (Docker Registry HTTP API v2 / OCI distribution, through
// github.com/google/go-containerregistry), an OCI image layout
// directory, an oci-archive or a docker-archive. It yields the image's
// manifest, config and layer list, and copies each layer into a file
// while checking its digest. Only common/fetch uses it: it is network
// image-fetching code, kept out of the privileged binaries.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rkt/rkt/common/ociimage"
)

// Errors the caller may want to tell apart.
var (
	// ErrDigest means a blob's content does not match its digest.
	ErrDigest = errors.New("content does not match its digest")
	// ErrUnauthorized means the registry wants (other) credentials.
	ErrUnauthorized = errors.New("the registry refused access")
	// ErrNoImage means the source has no image for the reference or the
	// platform.
	ErrNoImage = errors.New("no such image")
)

// Layer is one layer blob of an image.
type Layer struct {
	// Digest is the blob's digest ("sha256:<hex>").
	Digest string
	// DiffID is the uncompressed digest the config lists.
	DiffID string
	// MediaType is the blob's media type.
	MediaType string
	// Size is the blob's size in bytes.
	Size int64
}

// Image is one image, resolved to a platform, ready to be copied.
type Image struct {
	// Origin names the image (and gives the manifest digest).
	Origin ociimage.Origin
	// RawManifest and RawConfig are the manifest and config bytes.
	RawManifest, RawConfig []byte
	// Config is the decoded config.
	Config *v1.ConfigFile
	// Layers are the layers, lowest first.
	Layers []Layer

	// copyLayer writes a layer's blob to the file partial, checking its
	// digest; on a digest mismatch partial is removed.
	copyLayer func(ctx context.Context, l Layer, partial string) error
	// close releases what the source holds (an unpacked archive).
	close func() error
}

// CopyLayer writes the blob of l to the file partial (resuming what a
// previous attempt left there, for a registry) and checks its digest.
// On a mismatch partial is removed and the error wraps ErrDigest.
func (im *Image) CopyLayer(ctx context.Context, l Layer, partial string) error {
	return im.copyLayer(ctx, l, partial)
}

// Close releases the resources of the source.
func (im *Image) Close() error {
	if im.close == nil {
		return nil
	}
	return im.close()
}

// layerMediaType accepts the layer types whose content is a tar, plain
// or compressed with gzip or zstd (the compression is sniffed from the
// content when the layer is applied).
func layerMediaType(mt types.MediaType) bool {
	switch mt {
	case types.DockerLayer, types.DockerUncompressedLayer, types.DockerForeignLayer,
		types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer,
		types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer:
		return true
	}
	return false
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// copyVerified copies r to a new file partial and checks the digest and,
// when size >= 0, the size of what it copied.
func copyVerified(r io.Reader, partial, digest string, size int64) error {
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(partial)
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest || (size >= 0 && n != size) {
		os.Remove(partial)
		return fmt.Errorf("layer %s: got %s (%d bytes): %w", digest, got, n, ErrDigest)
	}
	return nil
}
