package store

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/aci/compression"
	"github.com/rkt/rkt/common/flock"
)

// Verifier checks a signature over the bytes written to it; Done says
// whether they were signed by a trusted key.
type Verifier interface {
	io.Writer
	Done() error
	Abort()
}

// ImportOptions control ImportFile.
type ImportOptions struct {
	// Verify, when set, is called with the image name from the manifest
	// and returns the signature check the imported bytes must pass before
	// the image becomes visible.
	Verify func(name string) (Verifier, error)
	// Render extracts the image into the tree store in the same pass, so
	// that the first run only mounts. Images with dependencies are
	// rendered by Render once their dependencies are stored.
	Render bool
	// Root extracts as root: ownership, devices, setuid bits, xattrs.
	Root bool
	// Latest marks an image fetched by name without a version.
	Latest bool
	// Move allows taking the source file itself into the store (it is the
	// store's own download in cas/tmp) instead of copying it.
	Move bool
}

// ErrSignature wraps every signature failure of an import.
var ErrSignature = errors.New("signature verification failed")

// ImportFile adds the ACI in path to the store. One pass over the file
// copies it, checks its signature, hashes the uncompressed tar, parses the
// manifest and (with Render) extracts the tree; nothing is visible in the
// store until every check has passed.
func (s *Store) ImportFile(path string, opts ImportOptions) (*ImageInfo, error) {
	work, lk, err := s.lockedWorkDir()
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	defer func() {
		os.RemoveAll(work)
		lk.Close()
	}()
	info, err := s.importInto(work, path, opts)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	return info, nil
}

// newWorkPrefix names an import work directory in the making. CleanTmp
// removes it, like an import-* one, whenever it is not locked.
const newWorkPrefix = ".new-"

// lockedWorkDir makes an import work directory in the store's tmp
// directory, import-*, already locked when it appears under that name:
// the lock tells CleanTmp that the import is alive. It is made as
// .new-*, locked, then renamed; if CleanTmp removed it before the lock
// (the rename fails), it starts again.
func (s *Store) lockedWorkDir() (string, *flock.Lock, error) {
	var lastErr error
	for range 10 {
		tmp, err := os.MkdirTemp(s.root.CASTmp(), newWorkPrefix)
		if err != nil {
			return "", nil, err
		}
		lk, err := flock.OpenDir(tmp)
		if err != nil {
			lastErr = err
			continue // removed before we opened it
		}
		if err := lk.Exclusive(); err != nil {
			lk.Close()
			os.RemoveAll(tmp)
			return "", nil, err
		}
		work := filepath.Join(filepath.Dir(tmp), "import-"+strings.TrimPrefix(filepath.Base(tmp), newWorkPrefix))
		if err := os.Rename(tmp, work); err != nil {
			lk.Close()
			lastErr = err
			continue // removed before we locked it
		}
		return work, lk, nil
	}
	return "", nil, fmt.Errorf("making a work directory: %w", lastErr)
}

func (s *Store) importInto(work, path string, opts ImportOptions) (*ImageInfo, error) {
	imgDir := filepath.Join(work, "image")
	treeDir := filepath.Join(work, "tree")
	rootfs := ""
	if err := os.Mkdir(imgDir, 0o770); err != nil {
		return nil, err
	}
	if opts.Render {
		rootfs = filepath.Join(treeDir, "rootfs")
		if err := os.MkdirAll(rootfs, 0o755); err != nil {
			return nil, err
		}
	}

	var verifier Verifier
	if opts.Verify != nil {
		name, err := peekName(path)
		if err != nil {
			return nil, err
		}
		if verifier, err = opts.Verify(name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		defer verifier.Abort()
	}

	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	blob := filepath.Join(imgDir, blobFile)
	var sinks []io.Writer
	moved := false
	if opts.Move {
		moved = os.Link(path, blob) == nil
	}
	if !moved {
		f, err := os.OpenFile(blob, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		sinks = append(sinks, f)
	}
	var sig *sigWriter
	if verifier != nil {
		sig = &sigWriter{v: verifier}
		sinks = append(sinks, sig)
	}
	var in io.Reader = src
	if len(sinks) > 0 {
		in = io.TeeReader(src, io.MultiWriter(sinks...))
	}
	counted := &aci.CountingReader{R: in}
	// When the signature check refuses data, the read stops because of it:
	// report the refusal, not the read error.
	sigFailed := func(err error) error {
		if sig != nil && sig.err != nil {
			return fmt.Errorf("%w: %w", ErrSignature, sig.err)
		}
		return err
	}
	dec, comp, err := compression.Decompress(bufio.NewReaderSize(counted, 1<<20))
	if err != nil {
		return nil, sigFailed(err)
	}
	img, err := aci.Read(dec, rootfs, aci.ExtractOptions{Root: opts.Root, RootfsOnly: true})
	dec.Close()
	if err != nil {
		return nil, sigFailed(err)
	}
	// The signature and the stored copy cover the whole file, including
	// anything after the compressed stream.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return nil, sigFailed(err)
	}
	if verifier != nil {
		if err := verifier.Done(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
	}
	key, err := KeyOf(img.ID)
	if err != nil {
		return nil, err
	}
	info := &ImageInfo{
		ID:          img.ID,
		Key:         key,
		Name:        img.Manifest.Name.String(),
		Labels:      img.Manifest.Labels,
		ImportTime:  time.Now().UTC(),
		Size:        counted.N,
		TarSize:     img.Size,
		Compression: comp.String(),
		Latest:      opts.Latest,
	}
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{manifestFile: img.ManifestJSON, infoFile: infoJSON, lastUsedFile: nil} {
		if err := writeFileIn(imgDir, name, data); err != nil {
			return nil, err
		}
	}
	// No sync on the import path: see durable.go.
	if err := markUnsynced(imgDir); err != nil {
		return nil, err
	}
	if err := s.indexName(info.Name, key); err != nil {
		return nil, err
	}
	unlock, err := s.lockImage(key)
	if err != nil {
		return nil, err
	}
	existed, err := syncAndRename(imgDir, s.imageDir(key))
	unlock()
	if err != nil {
		return nil, fmt.Errorf("storing image %s: %w", key, err)
	}
	if existed {
		if old, err := s.Info(key); err == nil {
			info = old
		}
	}
	if opts.Render && len(img.Manifest.Dependencies) == 0 && len(img.Manifest.PathWhitelist) == 0 {
		if err := s.installTree(treeDir, []string{key}, img.Files); err != nil {
			return nil, err
		}
	}
	return info, nil
}

func (s *Store) lockImage(key string) (func() error, error) {
	return flock.KeyLock(s.root.ImageLocks(), key, flock.Exclusive, true)
}

// sigWriter remembers why the signature check refused data, so that the
// import reports that and not the read error it caused.
type sigWriter struct {
	v   Verifier
	err error
}

func (w *sigWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.v.Write(p)
	w.err = err
	return n, err
}

// errManifestLate means the manifest was not among the first entries of
// the ACI; such an image needs a full read to learn its name.
var errManifestLate = errors.New("manifest not near the start")

// peekName reads the image name from the manifest, which ACI writers put
// first; the signature check needs the name before the single pass.
func peekName(path string) (string, error) {
	name, err := peekManifest(path, 64)
	if errors.Is(err, errManifestLate) {
		return peekManifest(path, -1)
	}
	return name, err
}

func peekManifest(path string, maxEntries int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dec, _, err := compression.Decompress(bufio.NewReader(f))
	if err != nil {
		return "", err
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	for i := 0; maxEntries < 0 || i < maxEntries; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return "", aci.ErrNoManifest
		}
		if err != nil {
			return "", fmt.Errorf("reading ACI: %w", err)
		}
		if hdr.Name != "manifest" && hdr.Name != "./manifest" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return "", err
		}
		m, err := aci.ParseManifest(data)
		if err != nil {
			return "", err
		}
		return m.Name.String(), nil
	}
	return "", errManifestLate
}

func formatInt(n int64) []byte { return []byte(strconv.FormatInt(n, 10)) }
