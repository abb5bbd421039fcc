package aci

import (
	"archive/tar"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/common/aci/compression"
)

// ExtractOptions say how Read extracts an image.
type ExtractOptions struct {
	// Root keeps ownership, device nodes, setuid/setgid bits and xattrs.
	// Without it (an unprivileged caller) files are owned by the caller,
	// device nodes and fifos are skipped and setuid/setgid bits are
	// cleared.
	Root bool
	// RootfsOnly extracts only the entries under rootfs/, with paths made
	// relative to rootfs/. Otherwise the manifest and rootfs/ are extracted
	// as they are in the tar (for `image extract`).
	RootfsOnly bool
	// Whitelist is the appc pathWhitelist: absolute paths relative to the
	// rootfs. When it is not empty, only entries at these paths and the
	// directories leading to them are extracted. An empty list means no
	// filtering, as the appc spec says.
	Whitelist []string
}

// Image is what one pass over an ACI yields.
type Image struct {
	// ID is the appc image ID: "sha512-" and the hex SHA-512 of the whole
	// uncompressed tar stream, end padding and trailing bytes included.
	ID string
	// Manifest is the parsed, validated image manifest.
	Manifest *schema.ImageManifest
	// ManifestJSON is the manifest exactly as stored in the image.
	ManifestJSON []byte
	// Size is the number of uncompressed tar bytes.
	Size int64
	// Files has, for each regular file this call extracted and that is
	// still in place at the end (hard links included when their target was
	// written by the same call), its path relative to the target directory
	// and the digest of its content. The tree store computes tree hashes
	// from it without reading the files back. Nil when nothing is
	// extracted.
	Files map[string]FileDigest
}

// FileDigest is the SHA-512 and size of a regular file's content.
type FileDigest struct {
	// Sum is the SHA-512 of the content.
	Sum [sha512.Size]byte
	// Size is the content length in bytes.
	Size int64
}

// Read consumes an uncompressed ACI tar stream to EOF: it hashes every byte,
// finds and parses the manifest (ErrNoManifest if there is none) and, if dir
// is not empty, extracts into dir, in the same single pass. dir must exist
// and be empty or hold a previous layer: later entries replace earlier
// ones, as when rendering dependencies in order.
//
// An entry with an absolute name or a ".." component, or one that would
// reach through a symlink, fails the whole image with ErrUnsafePath, even
// when dir is empty, so that an image is refused when fetched rather than
// when first rendered. On error, whatever was extracted stays in dir for
// the caller to remove. Read returns only once it no longer uses r.
func Read(r io.Reader, dir string, opts ExtractOptions) (*Image, error) {
	var x *extractor
	if dir != "" {
		var err error
		if x, err = newExtractor(dir, opts); err != nil {
			return nil, err
		}
	}
	p := newHashPipe(r)
	img, err := readEntries(tar.NewReader(p), x, opts)
	if err != nil {
		p.abort()
		if x != nil {
			x.abort()
		}
		return nil, err
	}
	sum, size, err := p.finish()
	if err != nil {
		if x != nil {
			x.abort()
		}
		return nil, fmt.Errorf("aci: read: %w", err)
	}
	if x != nil {
		if img.Files, err = x.finish(); err != nil {
			return nil, err
		}
	}
	if img.Manifest == nil {
		return nil, fmt.Errorf("aci: %w", ErrNoManifest)
	}
	img.ID = "sha512-" + hex.EncodeToString(sum[:])
	img.Size = size
	return img, nil
}

// readEntries walks the tar up to its end marker.
func readEntries(tr *tar.Reader, x *extractor, opts ExtractOptions) (*Image, error) {
	img := &Image{}
	wl := whitelist(opts.Whitelist)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return img, nil
		}
		if err != nil {
			return nil, fmt.Errorf("aci: read tar: %w", err)
		}
		if x != nil {
			if err := x.firstErr(); err != nil {
				return nil, err
			}
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := readEntry(tr, hdr, img, x, opts, wl); err != nil {
			return nil, fmt.Errorf("aci: entry %q: %w", hdr.Name, err)
		}
	}
}

func readEntry(tr *tar.Reader, hdr *tar.Header, img *Image, x *extractor, opts ExtractOptions, wl map[string]bool) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	var link string
	if hdr.Typeflag == tar.TypeLink {
		if link, err = cleanName(hdr.Linkname); err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
	}
	if name == "manifest" {
		return readManifest(tr, hdr, img, x, opts)
	}
	inRootfs, ok := strings.CutPrefix(name, "rootfs")
	if !ok || (inRootfs != "" && inRootfs[0] != '/') {
		// Not part of an ACI's layout; rkt ignored such entries too.
		return nil
	}
	if !supported(hdr.Typeflag) {
		return fmt.Errorf("%w %q", ErrUnsupportedEntry, hdr.Typeflag)
	}
	if x == nil {
		return nil
	}
	if wl != nil && !wl["/"+strings.TrimPrefix(inRootfs, "/")] {
		return nil
	}
	rel := name
	if opts.RootfsOnly {
		rel = strings.TrimPrefix(inRootfs, "/")
		if rel == "" {
			rel = "."
		}
	}
	if hdr.Typeflag == tar.TypeLink {
		linkIn, ok := strings.CutPrefix(link, "rootfs/")
		if !ok {
			return fmt.Errorf("%w: hard link to %q, outside rootfs", ErrUnsafePath, hdr.Linkname)
		}
		if wl != nil && !wl["/"+linkIn] {
			return fmt.Errorf("hard link to %q, which the path whitelist leaves out", hdr.Linkname)
		}
		if opts.RootfsOnly {
			link = linkIn
		}
	}
	return x.entry(hdr, rel, link, tr)
}

func readManifest(tr *tar.Reader, hdr *tar.Header, img *Image, x *extractor, opts ExtractOptions) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: not a regular file", ErrInvalidManifest)
	}
	if hdr.Size > maxManifestSize {
		return fmt.Errorf("%w: %d bytes", ErrInvalidManifest, hdr.Size)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return err
	}
	m, err := parseManifest(data)
	if err != nil {
		return err
	}
	// A second manifest entry wins, as it would overwrite the first on
	// extraction.
	img.Manifest, img.ManifestJSON = m, data
	if x != nil && !opts.RootfsOnly {
		return x.regular(hdr, "manifest", nil, data)
	}
	return nil
}

func supported(t byte) bool {
	switch t {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink,
		tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return true
	}
	return false
}

// cleanName validates an entry name or hard link target and returns it in
// clean form: relative, without "." or empty components or a trailing
// slash; "." for the archive root. Absolute names and ".." anywhere are
// refused rather than sanitised: no honest ACI builder writes them, so they
// mark a hostile image.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty name", ErrUnsafePath)
	case strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: NUL in name", ErrUnsafePath)
	case name[0] == '/':
		return "", fmt.Errorf("%w: absolute name", ErrUnsafePath)
	}
	for rest := name; rest != ""; {
		comp := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			comp, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if comp == ".." {
			return "", fmt.Errorf("%w: \"..\" in name", ErrUnsafePath)
		}
	}
	return path.Clean(name), nil
}

// whitelist returns the set of rootfs paths to keep: the listed ones and
// every directory leading to them. Nil means keep everything.
func whitelist(paths []string) map[string]bool {
	if len(paths) == 0 {
		return nil
	}
	m := map[string]bool{"/": true}
	for _, p := range paths {
		for p = path.Clean("/" + p); !m[p]; p = path.Dir(p) {
			m[p] = true
		}
	}
	return m
}

// ReadFile is Read over an image file, compressed or not.
func ReadFile(file, dir string, opts ExtractOptions) (*Image, compression.Compression, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, compression.None, fmt.Errorf("aci: %w", err)
	}
	defer f.Close()
	rc, c, err := compression.Decompress(f)
	if err != nil {
		return nil, c, err
	}
	defer rc.Close()
	img, err := Read(rc, dir, opts)
	return img, c, err
}
