package aci

import (
	"crypto/sha512"
	"fmt"
	"math/bits"
	"path"
	"sync"

	"golang.org/x/sys/unix"
)

// worker creates the entries of one queue, in archive order. After a
// failure anywhere it only drains the queue, so that the reading goroutine
// never blocks on a full one.
func (x *extractor) worker(q chan *job) {
	defer x.wg.Done()
	w := &workerDirs{x: x, fds: make(map[string]int)}
	defer w.flush()
	for j := range q {
		var err error
		switch {
		case j.large != nil:
			// Even after a failure: the last part closes the file.
			err = w.part(j)
		case x.failed.Load():
		case j.symlink:
			err = w.symlink(j)
		default:
			err = w.file(j)
		}
		if j.buf != nil {
			putBuf(j.buf)
		}
		j.data, j.buf = nil, nil
		x.mu.Lock()
		if err != nil && x.err == nil {
			x.err = fmt.Errorf("aci: entry %q: %w", j.name, err)
			x.failed.Store(true)
		}
		j.done = true
		// Only the digest is needed from now on; x.last keeps the job
		// until the end.
		j.name, j.link, j.xattrs = "", "", nil
		x.inflight--
		x.queued -= j.cost
		x.cond.Broadcast()
		x.mu.Unlock()
	}
}

// workerDirs is a worker's own cache of directory fds, for the directories
// routed to it.
type workerDirs struct {
	x   *extractor
	gen uint64
	fds map[string]int
}

func (w *workerDirs) dir(rel string) (int, error) {
	if g := w.x.gen.Load(); g != w.gen {
		w.flush()
		w.gen = g
	}
	if rel == "." {
		return w.x.root, nil
	}
	if fd, ok := w.fds[rel]; ok {
		return fd, nil
	}
	if len(w.fds) >= maxOpenDirs/numWorkers {
		w.flush()
	}
	fd, err := openBeneath(w.x.root, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, resolveErr("open directory", rel, err)
	}
	w.fds[rel] = fd
	return fd, nil
}

func (w *workerDirs) flush() {
	for k, fd := range w.fds {
		unix.Close(fd)
		delete(w.fds, k)
	}
}

func (w *workerDirs) file(j *job) error {
	pfd, err := w.dir(path.Dir(j.rel))
	if err != nil {
		return err
	}
	// Whatever is at the path (left by an earlier layer or entry) is
	// replaced: the reading goroutine made sure nothing else uses it.
	fd, err := createAt(pfd, path.Base(j.rel), j.perm&0o777)
	if err != nil {
		return fmt.Errorf("create %s: %w", j.rel, err)
	}
	err = writeAll(fd, j.data)
	j.sum = sha512.Sum512(j.data)
	if err == nil {
		err = w.x.fileMeta(fd, j)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", j.rel, err)
	}
	return nil
}

// part writes one part of a large file. Errors are reported with the last
// part, which also closes the file whatever happened before.
func (w *workerDirs) part(j *job) error {
	lf := j.large
	if j.first && !j.abandoned && !w.x.failed.Load() {
		pfd, err := w.dir(path.Dir(j.rel))
		if err == nil {
			lf.fd, err = createAt(pfd, path.Base(j.rel), j.perm&0o777)
			if err != nil {
				err = fmt.Errorf("create %s: %w", j.rel, err)
			}
		}
		lf.err = err
		lf.h = sha512.New()
	}
	if lf.fd >= 0 && lf.err == nil && !w.x.failed.Load() {
		lf.h.Write(j.data)
		if err := writeAll(lf.fd, j.data); err != nil {
			lf.err = fmt.Errorf("write %s: %w", j.rel, err)
		}
	}
	if !j.final {
		return nil
	}
	if lf.fd < 0 {
		return lf.err
	}
	if lf.err == nil && !j.abandoned {
		lf.h.Sum(j.sum[:0])
		if err := w.x.fileMeta(lf.fd, j); err != nil {
			lf.err = fmt.Errorf("write %s: %w", j.rel, err)
		}
	}
	if err := unix.Close(lf.fd); err != nil && lf.err == nil {
		lf.err = fmt.Errorf("write %s: %w", j.rel, err)
	}
	lf.fd = -1
	return lf.err
}

func (w *workerDirs) symlink(j *job) error {
	pfd, err := w.dir(path.Dir(j.rel))
	if err != nil {
		return err
	}
	base := path.Base(j.rel)
	err = unix.Symlinkat(j.link, pfd, base)
	if err == unix.EEXIST {
		if err = removeAllAt(pfd, base); err == nil {
			err = unix.Symlinkat(j.link, pfd, base)
		}
	}
	if err != nil {
		return fmt.Errorf("symlink %s: %w", j.rel, err)
	}
	return w.x.nodeMeta(j, pfd, base, false)
}

// createAt creates name in dir, replacing whatever is there (a file, a
// symlink, which is not followed, or a whole directory tree).
func createAt(dir int, name string, mode uint32) (int, error) {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := openatRetry(dir, name, flags, mode)
	if err != unix.EEXIST {
		return fd, err
	}
	if err := removeAllAt(dir, name); err != nil {
		return -1, err
	}
	return openatRetry(dir, name, flags, mode)
}

// fileMeta applies ownership, mode, xattrs and times, in the order that
// keeps each: chown clears setuid/setgid and file capabilities, and only the
// timestamps survive everything before them.
func (x *extractor) fileMeta(fd int, j *job) error {
	if j.chown {
		if err := unix.Fchown(fd, j.uid, j.gid); err != nil {
			return err
		}
	}
	if x.needChmod(j.perm) {
		if err := unix.Fchmod(fd, j.perm); err != nil {
			return err
		}
	}
	for k, v := range j.xattrs {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("xattr %s: %w", k, err)
		}
	}
	return futimens(fd, &j.ts)
}

// Pooled file buffers in power-of-two classes from 512 bytes to smallFile,
// so that a tree of many small files does not churn the garbage collector.
// Class c holds buffers of capacity 512<<c; 512<<10 is smallFile.
var bufPools [11]sync.Pool

// Fails to compile if smallFile and the class count above disagree.
var _ = [1]struct{}{}[smallFile-512<<10]

func bufClass(n int) int {
	if n <= 512 {
		return 0
	}
	return bits.Len(uint(n-1)) - 9
}

func getBuf(n int) *[]byte {
	c := bufClass(n)
	if v := bufPools[c].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 512<<c)
	return &b
}

func putBuf(b *[]byte) {
	bufPools[bufClass(cap(*b))].Put(b)
}
