// Package atomicfile writes files so that readers, and the file system after
// a crash, see either the old content or the new one, never a mix or a
// truncated file.
//
// The recipe is the usual one: write a temporary file on the same file
// system, fsync it, give it its final mode, rename(2) it over the target and
// fsync the target's directory so the rename itself is durable.
//
// What it does not do: it does not serialize writers (concurrent writers each
// replace the file whole, and the last rename wins; use a lock for
// read-modify-write), it does not preserve the old file's owner, mode or
// extended attributes, and it does not follow a symlink at the target path
// (the link itself is replaced). A crash can leave a stray temporary file
// behind; its name starts with "." and contains ".tmp-".
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrDone is returned by Commit on a File that was already committed or
// aborted.
var ErrDone = errors.New("already committed or aborted")

// ErrCrossDevice is returned by Create when tmpDir is on another file system
// than the target, where rename(2) cannot work. Checking up front avoids
// writing a large blob only to fail at the end.
var ErrCrossDevice = errors.New("temp dir on another file system")

// WriteFile atomically replaces path with data, with mode perm. The
// temporary file lives in path's directory. Unlike os.WriteFile, perm is
// applied exactly, without the umask, because the data directory relies on
// group permissions (0660, 0640) that a root umask of 022 would strip.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, "", perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// File is a file being written atomically, for content too large to hold in
// memory (image blobs). Nothing is visible at the target path until Commit.
// Either Commit or Abort must be called; since Abort after Commit does
// nothing, `defer f.Abort()` right after Create is the idiom. A File is not
// safe for concurrent use.
type File struct {
	f      *os.File
	path   string
	perm   os.FileMode
	closed bool
}

// Create starts writing path with mode perm. The temporary file is created in
// tmpDir, or in path's directory if tmpDir is empty; tmpDir must be on the
// same file system as path (rkt uses $dir/tmp or cas/tmp), otherwise Create
// fails with ErrCrossDevice.
func Create(path, tmpDir string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(path)
	if tmpDir == "" {
		tmpDir = dir
	} else if err := sameDevice(tmpDir, dir); err != nil {
		return nil, fmt.Errorf("atomicfile: create %s: %w", path, err)
	}
	f, err := os.CreateTemp(tmpDir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: create %s: %w", path, err)
	}
	return &File{f: f, path: path, perm: perm}, nil
}

// sameDevice fails with ErrCrossDevice if a and b are on different devices.
func sameDevice(a, b string) error {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return &os.PathError{Op: "stat", Path: a, Err: err}
	}
	if err := unix.Stat(b, &sb); err != nil {
		return &os.PathError{Op: "stat", Path: b, Err: err}
	}
	if sa.Dev != sb.Dev {
		return fmt.Errorf("%s and %s: %w", a, b, ErrCrossDevice)
	}
	return nil
}

// Write writes p to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	return f.f.Write(p)
}

// ReadFrom copies r into the temporary file. It lets io.Copy use the
// kernel's copy_file_range or splice when r is a file.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	return f.f.ReadFrom(r)
}

// Name returns the path of the temporary file.
func (f *File) Name() string {
	return f.f.Name()
}

// Commit makes the written content visible at the target path: fsync, chmod
// to perm, rename over the target, fsync of the target's directory. If it
// fails, the temporary file is removed and the target is left as it was
// (unless only the final directory fsync failed: the new content is then in
// place but may not survive a crash).
func (f *File) Commit() (err error) {
	if f.closed {
		return fmt.Errorf("atomicfile: commit %s: %w", f.path, ErrDone)
	}
	f.closed = true
	tmp := f.f.Name()
	defer func() {
		if err != nil {
			err = fmt.Errorf("atomicfile: commit %s: %w", f.path, err)
		}
	}()
	// Chmod before the rename so the file never shows up at the target
	// with CreateTemp's 0600.
	err = f.f.Chmod(f.perm)
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort discards the temporary file. It does nothing after Commit or a
// previous Abort.
func (f *File) Abort() error {
	if f.closed {
		return nil
	}
	f.closed = true
	cerr := f.f.Close()
	if err := os.Remove(f.f.Name()); err != nil {
		return fmt.Errorf("atomicfile: abort %s: %w", f.path, err)
	}
	if cerr != nil {
		return fmt.Errorf("atomicfile: abort %s: %w", f.path, cerr)
	}
	return nil
}

// SyncDir fsyncs the directory dir, which makes the creations, renames and
// removals of entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("atomicfile: sync dir: %w", err)
	}
	return nil
}

// Publish replaces path with data so that readers see the old or the new
// content, never a partial one, but without the fsyncs of WriteFile: for
// files that describe a running process (pid, exit status), which a host
// crash makes meaningless anyway, and which are on the pod start path.
func Publish(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: publish %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: publish %s: %w", path, err)
	}
	return nil
}

// WriteInPlace writes a file that no reader opens before the writer is done
// with it: one that a later file announces (a pod's pid file comes after
// the files it describes, and readers wait for it), or an empty one,
// whose existence is all it says and which appears whole. It leaves out
// Publish's temporary file and rename, about half of Publish's cost on
// ext4 and more on overlayfs, where a pod's stage1 writes. Like Publish,
// it does not sync.
func WriteInPlace(path string, data []byte, perm os.FileMode) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	for len(data) > 0 && err == nil {
		var n int
		n, err = unix.Write(fd, data)
		data = data[n:]
	}
	if err == nil {
		// The mode despite the umask, as Publish gives it.
		err = unix.Fchmod(fd, uint32(perm.Perm()))
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
