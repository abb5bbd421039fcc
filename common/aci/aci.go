// Package aci reads App Container Images (appc spec 0.8.11): a tar archive,
// possibly compressed, holding a "manifest" file (the image manifest JSON)
// and a "rootfs/" directory.
//
// Everything happens in one streaming pass: Read hashes the uncompressed
// stream into the image ID, parses the manifest and, if asked, extracts the
// tree. Extraction treats the archive as hostile: no entry may create,
// modify or follow anything outside the target directory. Names that are
// absolute or contain a ".." component reject the whole image, every path is
// resolved beneath the target without following symlinks (openat2 with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an equivalent component walk on
// kernels without it), and an entry that would have to pass through a
// symlink is an error rather than being redirected. Symlink targets are
// data: they are interpreted inside the container, never by the extractor.
// Rejecting rather than resolving symlinks inside the tree (as rkt's
// chrooted extraction did) means a layer cannot add files under a
// directory that an earlier layer made a symlink (say /lib -> usr/lib);
// such an image fails to render instead of being silently rearranged.
//
// Speed: decompression, the image hash and the tar parsing run in three
// goroutines, and files are written by a small pool of workers. Entries go
// to workers by parent directory: creations in one directory serialise on
// its lock in the kernel anyway, while different directories proceed in
// parallel. Nothing is fsynced per file; call SyncTree once the whole tree
// is in place.
//
// An unprivileged caller gets files owned by itself, without setuid/setgid
// bits, device nodes, fifos or xattrs. It cannot add entries to a directory
// that a previous layer, extracted earlier into the same tree, left without
// owner write permission.
package aci

import (
	"errors"
	"fmt"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/common/quantity"
)

// ErrNoManifest is returned when an image has no top-level "manifest" entry.
var ErrNoManifest = errors.New("image has no manifest")

// ErrInvalidManifest is returned when the manifest is not a valid appc image
// manifest (bad JSON, wrong acKind, a name that is not an AC identifier...).
var ErrInvalidManifest = errors.New("invalid image manifest")

// ErrUnsafePath is returned for an entry that tries to reach outside the
// target directory: an absolute name, a ".." component, a path through a
// symlink, or a hard link to something outside the extracted tree. One such
// entry rejects the whole image.
var ErrUnsafePath = errors.New("unsafe path")

// ErrUnsupportedEntry is returned for a tar entry type the extractor does not
// know how to create safely.
var ErrUnsupportedEntry = errors.New("unsupported tar entry type")

// maxManifestSize bounds the memory a hostile manifest entry can make Read
// hold; real manifests are a few KiB even with many annotations.
const maxManifestSize = 16 << 20

// ParseManifest decodes and validates an image manifest. Validation is the
// appc schema's: acKind and acVersion set, name an AC identifier, labels,
// app and dependencies well formed. Errors wrap ErrInvalidManifest.
func ParseManifest(data []byte) (*schema.ImageManifest, error) {
	m, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("aci: %w", err)
	}
	return m, nil
}

// parseManifest is ParseManifest for Read, whose errors already say "aci".
func parseManifest(data []byte) (*schema.ImageManifest, error) {
	// A quantity the schema's parser would compute for minutes is
	// refused first.
	if err := quantity.CheckManifest(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	var im schema.ImageManifest
	if err := im.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	return &im, nil
}
