// Package fscopy copies directory trees faithfully: file types, modes
// (setuid included), ownership when root, symlinks as links, hard links
// as links, and times. `image render` copies trees out of the tree store
// with it, and pods without overlayfs copy their trees with it.
package fscopy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Copy copies the tree at src to dst, which must not exist.
func Copy(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("copying to %s: %w", dst, fs.ErrExist)
	}
	root := os.Geteuid() == 0
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			if err := os.Mkdir(out, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, p)
			return nil
		case mode.IsRegular():
			if st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := links[key]; ok {
					return os.Link(first, out)
				}
				links[key] = out
			}
			if err := copyFile(p, out); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, out); err != nil {
				return err
			}
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
			if !root {
				return nil
			}
			if err := unix.Mknod(out, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		default:
			return nil // sockets: not part of an image
		}
		return setMeta(out, st, mode, root)
	})
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	// Directory metadata last, deepest first, so adding children does
	// not undo the times and a read-only directory can still be filled.
	for i := len(dirs) - 1; i >= 0; i-- {
		rel, _ := filepath.Rel(src, dirs[i])
		var st syscall.Stat_t
		if err := syscall.Lstat(dirs[i], &st); err != nil {
			return err
		}
		fi, _ := os.Lstat(dirs[i])
		if err := setMeta(filepath.Join(dst, rel), &st, fi.Mode(), root); err != nil {
			return fmt.Errorf("copying %s: %w", dirs[i], err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func setMeta(p string, st *syscall.Stat_t, mode fs.FileMode, root bool) error {
	if root {
		if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if mode&fs.ModeSymlink == 0 {
		perm := st.Mode & 0o7777
		if !root {
			perm &^= unix.S_ISUID | unix.S_ISGID
		}
		if err := unix.Fchmodat(unix.AT_FDCWD, p, perm, 0); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOTSUP) {
		return err
	}
	return nil
}
