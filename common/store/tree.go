package store

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/flock"
)

// A rendered tree, tree/<treeID>/:
//
//	rootfs/   the image with its dependencies applied, read-only by convention
//	image     the key of the image it renders
//	hash      content hash of rootfs (what `image verify` recomputes)
//	statsum   hash of the entries' inode metadata including ctime (what
//	          the ondisk check recomputes: a walk of lstat calls, no reads)
//	rendered  written last: a tree without it is a crashed render
//
// ctime cannot be set from user space and changes on any write, chmod,
// chown or rename inside the tree, so an unchanged statsum means no file
// was touched since the render, at the cost of one lstat per entry. A
// symbolic link is the exception (statsum version 2, "2:" before the
// hash): its name and inode number come from the directory listing, and
// it is not stat'ed. A link cannot be changed in place, only removed and
// made again, which changes its directory's mtime and ctime, and those
// are in the sum; its own mode is ignored by the kernel and its owner
// matters to no one reading the tree. Busybox-like trees are mostly
// links: version 2 saves most of the check's system calls. A version 1
// sum (the bare hash, every entry stat'ed) is still checked as such, and
// replaced by a version 2 sum once it matched.
const (
	treeRootfs   = "rootfs"
	treeImage    = "image"
	treeHash     = "hash"
	treeStatSum  = "statsum"
	treeRendered = "rendered"
)

// Tree store errors.
var (
	ErrNotRendered       = errors.New("image not rendered")
	ErrTreeDamaged       = errors.New("rendered tree does not match its recorded hash")
	ErrMissingDependency = errors.New("dependency not in the store")
)

// TreeID is the tree store key of an image rendered with its
// dependencies: a hash of their store keys, so that a changed dependency
// gives a new tree (reference IMGID-04).
func TreeID(keys []string) string {
	sum := sha512.Sum512([]byte(strings.Join(keys, ",")))
	return "deps-" + idPrefix + hex.EncodeToString(sum[:])[:keyHexLen]
}

// TreePath returns the directory of a tree.
func (s *Store) TreePath(treeID string) string { return filepath.Join(s.root.Trees(), treeID) }

// TreeRootfs returns the rootfs of a tree.
func (s *Store) TreeRootfs(treeID string) string {
	return filepath.Join(s.TreePath(treeID), treeRootfs)
}

// RenderKeys returns the keys a tree of key is made of, image first and
// then its dependencies depth-first in manifest order, and the order to
// apply them in (dependencies first, the image last).
func (s *Store) RenderKeys(key string) (keys, apply []string, err error) {
	seen := map[string]bool{}
	var visit func(k string, depth int) error
	visit = func(k string, depth int) error {
		if depth > 32 {
			return fmt.Errorf("dependency chain of %s too deep", key)
		}
		m, err := s.ParsedManifest(k)
		if err != nil {
			return err
		}
		for _, d := range m.Dependencies {
			dk, err := s.resolveDependency(d)
			if err != nil {
				return err
			}
			if seen[dk] {
				continue
			}
			seen[dk] = true
			if err := visit(dk, depth+1); err != nil {
				return err
			}
			apply = append(apply, dk)
			keys = append(keys, dk)
		}
		return nil
	}
	if err := visit(key, 0); err != nil {
		return nil, nil, err
	}
	return append([]string{key}, keys...), append(apply, key), nil
}

func (s *Store) resolveDependency(d types.Dependency) (string, error) {
	if d.ImageID != nil {
		k, err := s.ResolveID(d.ImageID.String())
		if err != nil {
			return "", fmt.Errorf("%s (%s): %w", d.ImageName, d.ImageID, ErrMissingDependency)
		}
		return k, nil
	}
	labels := map[string]string{}
	for _, l := range d.Labels {
		labels[string(l.Name)] = l.Value
	}
	found, err := s.FindByName(d.ImageName.String(), labels)
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%s: %w", d.ImageName, ErrMissingDependency)
	}
	return found[0].Key, nil
}

// Dependencies returns the image names and labels an image needs that
// are not in the store yet, so that fetch can get them first.
func (s *Store) Dependencies(key string) ([]types.Dependency, error) {
	m, err := s.ParsedManifest(key)
	if err != nil {
		return nil, err
	}
	return m.Dependencies, nil
}

// Render returns the tree of an image, rendering it if needed (or if the
// ondisk check finds it damaged, unless skipCheck).
func (s *Store) Render(key string, root, skipCheck bool) (string, error) {
	keys, apply, err := s.RenderKeys(key)
	if err != nil {
		return "", err
	}
	id := TreeID(keys)
	if skipCheck && s.rendered(id) {
		return id, nil
	}
	if err := s.CheckTree(id); err == nil {
		return id, nil
	}
	return id, s.render(id, keys, apply, root)
}

// Tree returns the ID of the tree of an image and whether it is
// rendered, without rendering it nor checking it. A program that does
// not decompress images (rkt-prepare) has rkt-fetch render a missing
// tree; callers that want the check run CheckTree, possibly alongside
// other work.
func (s *Store) Tree(key string) (id string, rendered bool, err error) {
	keys, _, err := s.RenderKeys(key)
	if err != nil {
		return "", false, err
	}
	id = TreeID(keys)
	return id, s.rendered(id), nil
}

func (s *Store) render(id string, keys, apply []string, root bool) error {
	work, err := os.MkdirTemp(s.root.CASTmp(), "render-")
	if err != nil {
		return fmt.Errorf("rendering %s: %w", keys[0], err)
	}
	defer os.RemoveAll(work)
	rootfs := filepath.Join(work, treeRootfs)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	files := map[string]aci.FileDigest{}
	for _, k := range apply {
		if s.IsOCI(k) {
			got, err := s.ApplyLayers(k, rootfs, root)
			if err != nil {
				return fmt.Errorf("rendering %s: %w", k, err)
			}
			for p, d := range got {
				files[p] = d
			}
			continue
		}
		img, _, err := aci.ReadFile(s.BlobPath(k), rootfs, aci.ExtractOptions{Root: root, RootfsOnly: true})
		if err != nil {
			return fmt.Errorf("rendering %s: %w", k, err)
		}
		if !strings.HasPrefix(img.ID, k) {
			return fmt.Errorf("rendering %s: %w", k, ErrImageDamaged)
		}
		for p, d := range img.Files {
			files[p] = d
		}
	}
	m, err := s.ParsedManifest(keys[0])
	if err != nil {
		return err
	}
	if len(m.PathWhitelist) > 0 {
		if err := applyWhitelist(rootfs, m.PathWhitelist); err != nil {
			return fmt.Errorf("rendering %s: %w", keys[0], err)
		}
	}
	return s.installTree(work, keys, files)
}

// applyWhitelist removes everything not named by the appc pathWhitelist,
// keeping the directories that lead to a kept path.
func applyWhitelist(rootfs string, list []string) error {
	keep := map[string]bool{"/": true}
	for _, p := range list {
		p = filepath.Clean("/" + p)
		for ; p != "/"; p = filepath.Dir(p) {
			keep[p] = true
		}
	}
	var remove []string
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, rootfs), "/")
		if !keep[filepath.Clean(rel)] {
			remove = append(remove, p)
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range remove {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// installTree finishes a tree rendered into work/rootfs and renames it
// into the tree store, unless a complete copy is already there.
func (s *Store) installTree(work string, keys []string, files map[string]aci.FileDigest) error {
	id := TreeID(keys)
	rootfs := filepath.Join(work, treeRootfs)
	h, size, err := hashTree(rootfs, files)
	if err != nil {
		return fmt.Errorf("hashing tree %s: %w", id, err)
	}
	ss, err := statSum(rootfs, statSumVersion)
	if err != nil {
		return fmt.Errorf("tree %s: %w", id, err)
	}
	for name, data := range map[string][]byte{treeImage: []byte(keys[0]), treeHash: []byte(h), treeStatSum: []byte(ss)} {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o600); err != nil {
			return err
		}
	}
	// No sync here (see durable.go): a tree from another boot is verified
	// by content before its first use.
	if err := markUnsynced(work); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, treeRendered), nil, 0o600); err != nil {
		return err
	}
	unlock, err := flock.KeyLock(s.root.TreeLocks(), id, flock.Exclusive, true)
	if err != nil {
		return err
	}
	defer unlock()
	dst := s.TreePath(id)
	if _, err := os.Stat(filepath.Join(dst, treeRendered)); err == nil {
		if s.CheckTree(id) == nil {
			return nil
		}
	}
	if _, err := os.Lstat(dst); err == nil {
		// A damaged tree may still be the overlay lower layer of a
		// running pod: set it aside for GCTrees instead of deleting files
		// under that pod's feet.
		if err := s.retireTree(id); err != nil {
			return err
		}
	}
	if _, err := syncAndRename(work, dst); err != nil {
		return fmt.Errorf("storing tree %s: %w", id, err)
	}
	// Lists must show the tree's size without reading the root-only tree
	// store, so it is recorded in the image directory (and in the tree,
	// for an image stored after its tree: see RenderOCI).
	_ = os.WriteFile(filepath.Join(s.imageDir(keys[0]), treeSizeFile), formatInt(size), 0o660)
	_ = os.WriteFile(filepath.Join(dst, treeSizeFile), formatInt(size), 0o600)
	return nil
}

// removeTree renames a tree away before deleting it, so that nobody sees
// a half-deleted tree under its ID.
// retiredPrefix starts the name, in the store's tmp directory, of a tree
// replaced while pods may still use it: retired-<tree ID>.<random>.
const retiredPrefix = "retired-"

// retireTree moves the tree id out of the tree store, to be removed by
// GCTrees once no pod refers to its ID.
func (s *Store) retireTree(id string) error {
	dir, err := os.MkdirTemp(s.root.CASTmp(), retiredPrefix+id+".")
	if err != nil {
		return err
	}
	if err := os.Rename(s.TreePath(id), filepath.Join(dir, "t")); err != nil {
		os.Remove(dir)
		return fmt.Errorf("setting tree %s aside: %w", id, err)
	}
	return nil
}

func removeTree(dir, tmp string) error {
	trash, err := os.MkdirTemp(tmp, "rmtree-")
	if err != nil {
		return err
	}
	if err := os.Rename(dir, filepath.Join(trash, "t")); err != nil {
		os.Remove(trash)
		return err
	}
	return os.RemoveAll(trash)
}

// rendered reports whether a tree is complete, without checking it.
func (s *Store) rendered(id string) bool {
	_, err := os.Stat(filepath.Join(s.TreePath(id), treeRendered))
	return err == nil
}

// CheckTree is the ondisk check: the tree is complete and no entry's inode
// changed since it was rendered.
func (s *Store) CheckTree(id string) error {
	dir := s.TreePath(id)
	if _, err := os.Stat(filepath.Join(dir, treeRendered)); err != nil {
		return fmt.Errorf("%s: %w", id, ErrNotRendered)
	}
	if needsVerify(dir) {
		// Written in another boot without a sync: only the content hash
		// can tell whether it survived.
		if err := s.VerifyTree(id); err != nil {
			return err
		}
		return settle(dir)
	}
	want, err := os.ReadFile(filepath.Join(dir, treeStatSum))
	if err != nil {
		return fmt.Errorf("%s: %w", id, ErrTreeDamaged)
	}
	version := 1
	if strings.HasPrefix(string(want), "2:") {
		version = 2
	}
	rootfs := filepath.Join(dir, treeRootfs)
	got, err := statSum(rootfs, version)
	if err != nil || got != string(want) {
		return fmt.Errorf("%s: %w", id, ErrTreeDamaged)
	}
	if version != statSumVersion {
		// Checked the old way: the next checks are the cheaper ones.
		if ss, err := statSum(rootfs, statSumVersion); err == nil {
			_ = os.WriteFile(filepath.Join(dir, treeStatSum), []byte(ss), 0o600)
		}
	}
	return nil
}

// VerifyTree recomputes the content hash of a tree (every byte read).
func (s *Store) VerifyTree(id string) error {
	dir := s.TreePath(id)
	if _, err := os.Stat(filepath.Join(dir, treeRendered)); err != nil {
		return fmt.Errorf("%s: %w", id, ErrNotRendered)
	}
	want, err := os.ReadFile(filepath.Join(dir, treeHash))
	if err != nil {
		return fmt.Errorf("%s: %w", id, ErrTreeDamaged)
	}
	got, _, err := hashTree(filepath.Join(dir, treeRootfs), nil)
	if err != nil || got != string(want) {
		return fmt.Errorf("%s: %w", id, ErrTreeDamaged)
	}
	// The content is right: refresh the statsum so that the cheap check
	// agrees again (e.g. after a copy of the data dir changed ctimes).
	if ss, err := statSum(filepath.Join(dir, treeRootfs), statSumVersion); err == nil {
		_ = os.WriteFile(filepath.Join(dir, treeStatSum), []byte(ss), 0o600)
	}
	return nil
}

// TreeIDs lists the trees in the tree store.
func (s *Store) TreeIDs() ([]string, error) {
	ents, err := os.ReadDir(s.root.Trees())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "deps-") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// RemoveTree deletes a tree under its lock.
func (s *Store) RemoveTree(id string) error {
	unlock, err := flock.KeyLock(s.root.TreeLocks(), id, flock.Exclusive, true)
	if err != nil {
		return err
	}
	defer unlock()
	if k, err := os.ReadFile(filepath.Join(s.TreePath(id), treeImage)); err == nil {
		os.Remove(filepath.Join(s.imageDir(string(k)), treeSizeFile))
	}
	return removeTree(s.TreePath(id), s.root.CASTmp())
}

// hashTree hashes a tree in lexical order: per entry its path, type,
// permission bits, owner, size, link target, device and content digest.
// files supplies content digests computed during extraction, so that a
// fresh render need not read its files again; nil reads every file.
func hashTree(rootfs string, files map[string]aci.FileDigest) (string, int64, error) {
	h := sha512.New()
	var size int64
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p[len(rootfs):], "/")
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		var rec bytes.Buffer
		rec.WriteString(rel)
		rec.WriteByte(0)
		fmt.Fprintf(&rec, "%o %d %d", uint32(st.Mode), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			size += fi.Size()
			fmt.Fprintf(&rec, " %d ", fi.Size())
			if dg, ok := files[rel]; ok && dg.Size == fi.Size() {
				rec.WriteString(hex.EncodeToString(dg.Sum[:]))
			} else {
				sum, err := fileSum(p, buf)
				if err != nil {
					return err
				}
				rec.WriteString(sum)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rec.WriteString(" " + target)
		case fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			rec.WriteString(" " + strconv.FormatUint(st.Rdev, 10))
		}
		rec.WriteByte('\n')
		h.Write(rec.Bytes())
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	return idPrefix + hex.EncodeToString(h.Sum(nil)), size, nil
}

func fileSum(p string, buf []byte) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.CopyBuffer(hashWriter{h}, f, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashWriter hides ReadFrom so CopyBuffer uses the given buffer.
type hashWriter struct{ hash.Hash }

// statSumVersion is the version of the statsums written.
const statSumVersion = 2

// statSum hashes the inode metadata of the tree's entries, without
// reading content (see the comment at the top of this file): every
// entry's for version 1, every entry's but the symbolic links' for
// version 2, which is returned as "2:" and the hash.
func statSum(rootfs string, version int) (string, error) {
	w := statWalker{h: sha512.New(), links: version >= 2}
	var st unix.Stat_t
	if err := unix.Lstat(rootfs, &st); err != nil {
		return "", err
	}
	w.record("", &st)
	fd, err := unix.Open(rootfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	if err := w.walk(fd, ""); err != nil {
		return "", fmt.Errorf("checking %s: %w", rootfs, err)
	}
	sum := hex.EncodeToString(w.h.Sum(nil))
	if w.links {
		sum = "2:" + sum
	}
	return sum, nil
}

// statWalker visits a tree in the order filepath.WalkDir would (names
// sorted per directory, depth first) but stats entries relative to an open
// directory, which saves the kernel a path walk per entry: the ondisk
// check runs before every pod start.
type statWalker struct {
	h   hash.Hash
	rec []byte
	// links: symbolic links are recorded from the directory listing
	// (statsum version 2).
	links bool
	buf   []byte
}

func (w *statWalker) record(rel string, st *unix.Stat_t) {
	w.rec = append(w.rec[:0], rel...)
	w.rec = append(w.rec, 0)
	for _, v := range []uint64{st.Ino, uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size),
		uint64(st.Mtim.Nano()), uint64(st.Ctim.Nano())} {
		w.rec = strconv.AppendUint(w.rec, v, 16)
		w.rec = append(w.rec, ' ')
	}
	w.h.Write(w.rec)
}

// recordLink records a symbolic link by its name and inode number.
func (w *statWalker) recordLink(rel string, ino uint64) {
	w.rec = append(w.rec[:0], rel...)
	w.rec = append(w.rec, 0, 'l', ' ')
	w.rec = strconv.AppendUint(w.rec, ino, 16)
	w.h.Write(w.rec)
}

// dirent is an entry of a directory listing.
type dirent struct {
	name string
	ino  uint64
	typ  uint8
}

// readDir lists the directory dirfd with getdents64, which gives each
// entry's inode number and type (DT_UNKNOWN where the file system does
// not say).
func (w *statWalker) readDir(dirfd int) ([]dirent, error) {
	if w.buf == nil {
		w.buf = make([]byte, 32<<10)
	}
	var out []dirent
	for {
		n, err := unix.Getdents(dirfd, w.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		for b := w.buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino, off, reclen, type, name.
			if len(b) < 19 {
				return nil, errors.New("short directory entry")
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, errors.New("bad directory entry length")
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				out = append(out, dirent{name: s, ino: binary.NativeEndian.Uint64(b[0:8]), typ: b[18]})
			}
			b = b[reclen:]
		}
	}
}

// walk consumes dirfd.
func (w *statWalker) walk(dirfd int, rel string) error {
	defer unix.Close(dirfd)
	ents, err := w.readDir(dirfd)
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	var st unix.Stat_t
	for _, e := range ents {
		child := rel + "/" + e.name
		if w.links && e.typ == unix.DT_LNK {
			w.recordLink(child, e.ino)
			continue
		}
		if err := unix.Fstatat(dirfd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		w.record(child, &st)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		fd, err := unix.Openat(dirfd, e.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := w.walk(fd, child); err != nil {
			return err
		}
	}
	return nil
}
