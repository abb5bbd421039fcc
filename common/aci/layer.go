package aci

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image spec (layer.md, "Whiteouts"): an entry
// named .wh.NAME deletes NAME of the layers below, and .wh..wh..opq in a
// directory hides everything the layers below have in it.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Layer is what ReadLayer learned about one OCI or Docker layer.
type Layer struct {
	// DiffID is "sha256:" and the hex SHA-256 of the uncompressed tar, the
	// value an image config lists in rootfs.diff_ids.
	DiffID string
	// Size is the number of uncompressed bytes.
	Size int64
	// Files are the regular files this layer wrote, as Image.Files.
	Files map[string]FileDigest
	// Removed are the paths a whiteout or an opaque directory removed
	// from the layers below (clean, relative to the target); files below
	// them recorded by earlier layers are gone.
	Removed []string
}

// ReadLayer applies an uncompressed OCI/Docker layer tar to dir, which
// holds the layers below it (or nothing, for the first). Whiteouts and
// opaque directories remove what the lower layers have; hard links may
// point at files of this layer or of a lower one. The extraction rules are
// those of Read: an absolute name, "..", or a path reaching through a
// symlink refuses the whole layer with ErrUnsafePath, and on error what
// was written stays in dir for the caller to remove.
func ReadLayer(r io.Reader, dir string, opts ExtractOptions) (*Layer, error) {
	x, err := newExtractor(dir, opts)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	cr := &CountingReader{R: io.TeeReader(r, h)}
	lr := &layerReader{x: x, written: map[string]bool{}}
	if err := lr.read(tar.NewReader(cr)); err != nil {
		x.abort()
		return nil, err
	}
	// The diff ID covers the whole stream, end padding included.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		x.abort()
		return nil, fmt.Errorf("aci: read layer: %w", err)
	}
	files, err := x.finish()
	if err != nil {
		return nil, err
	}
	return &Layer{
		DiffID:  "sha256:" + hex.EncodeToString(h.Sum(nil)),
		Size:    cr.N,
		Files:   files,
		Removed: lr.removed,
	}, nil
}

// CountingReader counts the bytes read through it: the size of an
// archive stream, or the offset reached in it.
type CountingReader struct {
	R io.Reader
	N int64
}

// Read reads from R and counts what it got.
func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// layerReader walks one layer. written holds every path this layer
// created and their ancestors, which an opaque directory keeps.
type layerReader struct {
	x       *extractor
	written map[string]bool
	removed []string
}

func (l *layerReader) read(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("aci: read layer: %w", err)
		}
		if err := l.x.firstErr(); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := l.entry(tr, hdr); err != nil {
			return fmt.Errorf("aci: layer entry %q: %w", hdr.Name, err)
		}
	}
}

func (l *layerReader) entry(tr *tar.Reader, hdr *tar.Header) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Dir(rel), path.Base(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == whiteoutOpaque:
			return l.opaque(dir)
		case strings.HasPrefix(base, whiteoutMeta):
			// aufs bookkeeping (.wh..wh.plnk and the like): not content.
			return nil
		}
		return l.whiteout(path.Join(dir, base[len(whiteoutPrefix):]))
	}
	if !supported(hdr.Typeflag) {
		return fmt.Errorf("%w %q", ErrUnsupportedEntry, hdr.Typeflag)
	}
	var link string
	if hdr.Typeflag == tar.TypeLink {
		if link, err = cleanName(hdr.Linkname); err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
	}
	for p := rel; p != "." && !l.written[p]; p = path.Dir(p) {
		l.written[p] = true
	}
	return l.x.entry(hdr, rel, link, tr)
}

// whiteout removes rel as the layers below left it.
func (l *layerReader) whiteout(rel string) error {
	if rel == "." {
		return fmt.Errorf("%w: whiteout of the root", ErrUnsafePath)
	}
	if err := l.x.removePath(rel); err != nil {
		return err
	}
	l.removed = append(l.removed, rel)
	return nil
}

// opaque removes everything below dir that this layer has not written
// (so far: entries after the marker are written afterwards anyway).
func (l *layerReader) opaque(dir string) error {
	l.x.barrier()
	return l.prune(dir)
}

func (l *layerReader) prune(dir string) error {
	fd, _, err := l.x.dirFD(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(dfd), dir)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, n := range names {
		child := path.Join(dir, n)
		if !l.written[child] {
			if err := l.x.removePath(child); err != nil {
				return err
			}
			l.removed = append(l.removed, child)
			continue
		}
		if _, isDir := l.x.dirs[child]; isDir {
			if err := l.prune(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// removePath removes rel and everything below it, whether this pass or
// an earlier one wrote it, without following symlinks. A missing rel (or
// a missing parent) is not an error: a whiteout may name what a lower
// layer never had.
func (x *extractor) removePath(rel string) error {
	for p := rel; p != "."; p = path.Dir(p) {
		x.waitPath(p)
	}
	if _, ok := x.dirs[rel]; ok {
		// Known to this pass: clear removes it once no worker is busy.
		return x.clear(rel)
	}
	delete(x.last, rel)
	pfd, _, err := x.dirFD(path.Dir(rel), false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := removeAllAt(pfd, path.Base(rel)); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}
