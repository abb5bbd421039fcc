// Package store is rkt's image store and tree store: images kept by ID in
// plain files under $dir/cas, shared by many rkt processes without a
// database. Every write goes to cas/tmp and is renamed into place, so a
// reader sees an image completely or not at all; locks are per image and
// per tree, never store-wide, so fetches of different images never wait
// for each other.
//
// Layout under $dir/cas:
//
//	images/<key>/blob       the ACI exactly as fetched (compressed or not)
//	images/<key>/manifest   its image manifest
//	images/<key>/info       JSON ImageInfo
//	images/<key>/lastused   empty; its mtime is the last-used time
//	images/<key>/treesize   bytes of its rendered tree (written by render)
//	remotes/<sha256(url)>   JSON Remote: what a URL last gave
//	tree/<treeID>/          rendered trees (see tree.go)
//	imagelocks/, treestorelocks/  key locks
//	tmp/                    work in progress
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
)

// File names inside an image directory.
const (
	blobFile     = "blob"
	manifestFile = "manifest"
	infoFile     = "info"
	lastUsedFile = "lastused"
	treeSizeFile = "treesize"
)

// Store is an opened image store.
type Store struct {
	root dirs.Root
}

// Open opens the store of a data directory, creating missing directories
// (with the group-writable modes when the data dir was set up by the
// installer, thanks to its setgid bits).
func Open(root dirs.Root) (*Store, error) {
	if err := root.Ensure(); err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	s := &Store{root: root}
	if err := s.ensureNameIndex(); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens the store of a data directory for reading only: it
// creates nothing and writes nothing (the API service uses it). Lookups by
// name need the name index that Open maintains.
func OpenReadOnly(root dirs.Root) *Store { return &Store{root: root} }

// nameIndexMarker says the name index covers every image.
const nameIndexMarker = ".complete"

// ensureNameIndex builds the name index once for a store made before
// there was one.
func (s *Store) ensureNameIndex() error {
	marker := filepath.Join(s.root.Names(), nameIndexMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	infos, err := s.Infos()
	if err != nil {
		return err
	}
	for _, info := range infos {
		if err := s.indexName(info.Name, info.Key); err != nil {
			return err
		}
	}
	return os.WriteFile(marker, nil, 0o660)
}

// Root returns the data directory of the store.
func (s *Store) Root() dirs.Root { return s.root }

// ImageInfo is what the store knows about one image.
type ImageInfo struct {
	ID          string       `json:"id"`  // full appc image ID
	Key         string       `json:"key"` // store key (64 hex digits)
	Name        string       `json:"name"`
	Labels      types.Labels `json:"labels,omitempty"`
	ImportTime  time.Time    `json:"importTime"`
	Size        int64        `json:"size"`             // bytes of the stored blob
	TarSize     int64        `json:"tarSize"`          // bytes of the uncompressed tar
	Compression string       `json:"compression"`      // of the stored blob
	Latest      bool         `json:"latest,omitempty"` // fetched by name without a version
	// Filled on read, not stored in the info file:
	LastUsed time.Time `json:"-"`
	TreeSize int64     `json:"-"`
}

// Version returns the value of the version label, or "".
func (i *ImageInfo) Version() string {
	v, _ := i.Labels.Get("version")
	return v
}

// NameVersion returns name[:version] as the lists show it.
func (i *ImageInfo) NameVersion() string {
	if v := i.Version(); v != "" {
		return i.Name + ":" + v
	}
	return i.Name
}

func (s *Store) imageDir(key string) string { return filepath.Join(s.root.Images(), key) }

// BlobPath returns the file holding an image's ACI as fetched.
func (s *Store) BlobPath(key string) string { return filepath.Join(s.imageDir(key), blobFile) }

// Keys lists the keys of every stored image.
func (s *Store) Keys() ([]string, error) {
	ents, err := os.ReadDir(s.root.Images())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no store yet: no images
	}
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	keys := make([]string, 0, len(ents))
	for _, e := range ents {
		if IsID(e.Name()) {
			keys = append(keys, e.Name())
		}
	}
	return keys, nil
}

// Info reads one image's info.
func (s *Store) Info(key string) (*ImageInfo, error) {
	dir := s.imageDir(key)
	data, err := os.ReadFile(filepath.Join(dir, infoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading image info: %w", err)
	}
	// The info file is the store's own, written from a checked manifest:
	// its labels are taken as they are, without the schema's checks of
	// their names (a regular expression each, whose matcher allocated
	// 32 kB, eight page faults, on lookups of every pod start).
	var raw struct {
		ImageInfo
		Labels []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"labels,omitempty"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("image %s: corrupt info file: %w", key, err)
	}
	info := raw.ImageInfo
	for _, l := range raw.Labels {
		info.Labels = append(info.Labels, types.Label{Name: types.ACIdentifier(l.Name), Value: l.Value})
	}
	if fi, err := os.Stat(filepath.Join(dir, lastUsedFile)); err == nil {
		info.LastUsed = fi.ModTime()
	} else {
		info.LastUsed = info.ImportTime
	}
	if b, err := os.ReadFile(filepath.Join(dir, treeSizeFile)); err == nil {
		info.TreeSize, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	return &info, nil
}

// Infos reads the info of every image. Images removed while listing are
// skipped.
func (s *Store) Infos() ([]*ImageInfo, error) {
	keys, err := s.Keys()
	if err != nil {
		return nil, err
	}
	out := make([]*ImageInfo, 0, len(keys))
	for _, k := range keys {
		info, err := s.Info(k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Manifest returns an image's manifest as stored.
func (s *Store) Manifest(key string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(s.imageDir(key), manifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return data, err
}

// ParsedManifest returns an image's manifest, decoded.
func (s *Store) ParsedManifest(key string) (*schema.ImageManifest, error) {
	data, err := s.Manifest(key)
	if err != nil {
		return nil, err
	}
	return aci.ParseManifest(data)
}

// Touch records that an image was used now. Group members may not own
// the file, so the time is set with utimensat(NULL), which needs only
// write access.
func (s *Store) Touch(key string) {
	p := filepath.Join(s.imageDir(key), lastUsedFile)
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, nil, 0); errors.Is(err, unix.ENOENT) {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o660); err == nil {
			f.Close()
		}
	}
}

// ResolveID finds the key of the single image whose ID starts with id.
func (s *Store) ResolveID(id string) (string, error) {
	key, err := KeyOf(id)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(s.imageDir(key)); err == nil {
		return key, nil
	}
	keys, err := s.Keys()
	if err != nil {
		return "", err
	}
	var match []string
	for _, k := range keys {
		if strings.HasPrefix(k, key) {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("%s: %w", id, ErrNotFound)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("%s matches %d images: %w", id, len(match), ErrAmbiguous)
}

// nameDir is the name index entry of an image name.
func (s *Store) nameDir(name string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(s.root.Names(), hex.EncodeToString(sum[:]))
}

// indexName records key under its name. It is written before the image
// becomes visible, so every image is in the index; an entry whose image
// never arrived is skipped by FindByName.
func (s *Store) indexName(name, key string) error {
	dir := s.nameDir(name)
	if err := os.MkdirAll(dir, 0o770); err != nil {
		return fmt.Errorf("indexing %s: %w", name, err)
	}
	return os.WriteFile(filepath.Join(dir, key), nil, 0o660)
}

func (s *Store) unindexName(name, key string) {
	dir := s.nameDir(name)
	os.Remove(filepath.Join(dir, key))
	os.Remove(dir) // only if empty
}

// FindByName returns the images named name whose labels include every
// one of labels, most recently imported first; without a version label
// asked for, images fetched as "latest" come first (reference DISC-07).
// Only the images of that name are read, through the name index.
func (s *Store) FindByName(name string, labels map[string]string) ([]*ImageInfo, error) {
	var infos []*ImageInfo
	ents, err := os.ReadDir(s.nameDir(name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		info, err := s.Info(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	var out []*ImageInfo
	for _, info := range infos {
		if info.Name != name || !matchLabels(info.Labels, labels) {
			continue
		}
		out = append(out, info)
	}
	_, versioned := labels["version"]
	sort.SliceStable(out, func(i, j int) bool {
		if !versioned && out[i].Latest != out[j].Latest {
			return out[i].Latest
		}
		return out[i].ImportTime.After(out[j].ImportTime)
	})
	return out, nil
}

func matchLabels(have types.Labels, want map[string]string) bool {
	for k, v := range want {
		got, ok := have.Get(k)
		if !ok || got != v {
			return false
		}
	}
	return true
}

// Resolve finds one image by ID (or ID prefix) or by name[:version].
func (s *Store) Resolve(arg string) (string, error) {
	if IsID(arg) {
		return s.ResolveID(arg)
	}
	name, labels := arg, map[string]string{}
	if i := strings.LastIndex(arg, ":"); i > 0 {
		name, labels["version"] = arg[:i], arg[i+1:]
	}
	found, err := s.FindByName(name, labels)
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%s: %w", arg, ErrNotFound)
	}
	return found[0].Key, nil
}

// Hold keeps an image from being removed until release is called (a
// shared key lock: Remove takes it exclusively), and fails with
// ErrNotFound if it is already gone.
func (s *Store) Hold(key string) (release func() error, err error) {
	release, err = flock.KeyLock(s.root.ImageLocks(), key, flock.Shared, true)
	if err != nil {
		return nil, fmt.Errorf("locking image %s: %w", key, err)
	}
	if _, err := os.Stat(s.imageDir(key)); err != nil {
		release()
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err := s.checkImage(key); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// Remove deletes an image: its directory is first renamed into cas/tmp
// so that no half-removed image is ever visible, then deleted. Rendered
// trees stay until `image gc`, so prepared pods keep working.
func (s *Store) Remove(key string) error {
	unlock, err := flock.KeyLock(s.root.ImageLocks(), key, flock.Exclusive, true)
	if err != nil {
		return fmt.Errorf("locking image %s: %w", key, err)
	}
	defer unlock()
	dir := s.imageDir(key)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	trash, err := os.MkdirTemp(s.root.CASTmp(), "rm-")
	if err != nil {
		return fmt.Errorf("removing image %s: %w", key, err)
	}
	info, _ := s.Info(key)
	if err := os.Rename(dir, filepath.Join(trash, key)); err != nil {
		os.Remove(trash)
		return fmt.Errorf("removing image %s: %w", key, err)
	}
	if info != nil {
		s.unindexName(info.Name, key)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("removing image %s: left stale files in %s: %w", key, trash, err)
	}
	s.removeRemotesOf(key)
	return nil
}

// writeFileIn writes a small file inside a work directory (not yet
// visible, so no atomic rename is needed).
func writeFileIn(dir, name string, data []byte) error {
	return os.WriteFile(filepath.Join(dir, name), data, 0o660)
}

// syncAndRename makes a finished work directory visible under dst. If dst
// already exists (another process imported the same content first) the
// work directory is dropped: the content is identical by construction.
func syncAndRename(work, dst string) (existed bool, err error) {
	if err := os.Rename(work, dst); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			return true, os.RemoveAll(work)
		}
		return false, err
	}
	return false, atomicfile.SyncDir(filepath.Dir(dst))
}
