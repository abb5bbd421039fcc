package aci

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// aciWriter writes an ACI's tar stream: "manifest", then "rootfs" and the
// tree below it, in name order.
type aciWriter struct {
	tw    *tar.Writer
	mapID func(uint32) int
	links map[[2]uint64]string // (dev, ino) of multiply linked files -> first name
	buf   []byte
}

func newACIWriter(w io.Writer, mapID func(uint32) int) *aciWriter {
	if mapID == nil {
		mapID = func(id uint32) int { return int(id) }
	}
	return &aciWriter{tw: tar.NewWriter(w), mapID: mapID, links: map[[2]uint64]string{}, buf: make([]byte, 256<<10)}
}

// WriteTree writes manifest and the tree at rootfs to w as an ACI (a
// bare tar; compress w for a .aci file): "manifest" with modification
// time mtime, then "rootfs" and everything below it, in name order, hard
// links kept, extended attributes kept but for host-specific ones.
// mapID turns the owners found on disk into the image's (nil: as they
// are), for a tree whose ids a user namespace shifted.
func WriteTree(w io.Writer, manifest []byte, rootfs string, mapID func(uint32) int, mtime time.Time) error {
	a := newACIWriter(w, mapID)
	if err := a.tw.WriteHeader(&tar.Header{
		Name: "manifest", Typeflag: tar.TypeReg, Mode: 0o644,
		Size: int64(len(manifest)), ModTime: mtime,
	}); err != nil {
		return err
	}
	if _, err := a.tw.Write(manifest); err != nil {
		return err
	}
	if err := a.add(rootfs, "rootfs"); err != nil {
		return err
	}
	return a.tw.Close()
}

// add writes the entry at path under the archive name name, and for a
// directory everything below it.
func (a *aciWriter) add(path, name string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     a.mapID(st.Uid),
		Gid:     a.mapID(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	var content *os.File
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
	case unix.S_IFREG:
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := a.links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			break
		}
		if st.Nlink > 1 {
			a.links[key] = name
		}
		f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		hdr.Typeflag, hdr.Size, content = tar.TypeReg, st.Size, f
	case unix.S_IFLNK:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets have no place in an image
	}
	if x := xattrs(path); len(x) > 0 {
		hdr.PAXRecords = x
	}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if content != nil {
		if _, err := io.CopyBuffer(a.tw, io.LimitReader(content, st.Size), a.buf); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	if hdr.Typeflag != tar.TypeDir {
		return nil
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return &os.PathError{Op: "readdir", Path: path, Err: err}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := a.add(filepath.Join(path, n), name+"/"+n); err != nil {
			return err
		}
	}
	return nil
}

// xattrs returns the extended attributes of path worth keeping in an
// image, as PAX records. Host-specific ones are left out: SELinux labels
// and overlayfs's own bookkeeping.
func xattrs(path string) map[string]string {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size <= 0 {
		return nil
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" || name == "security.selinux" || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		vsize, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsize)
		if vsize > 0 {
			if vsize, err = unix.Lgetxattr(path, name, val); err != nil {
				continue
			}
		}
		out["SCHILY.xattr."+name] = string(val[:vsize])
	}
	return out
}
