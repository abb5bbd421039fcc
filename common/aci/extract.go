package aci

import (
	"archive/tar"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	// smallFile is the largest file handed to a worker as one buffer;
	// bigger ones are streamed by the reading goroutine.
	smallFile  = 512 << 10
	numWorkers = 4
	queueLen   = 1024
	// maxQueued bounds the bytes of content waiting for workers. It is
	// large enough to look dozens of directories ahead, which is where the
	// parallelism is (see extractor).
	maxQueued = 32 << 20
	// jobCost is what an entry counts against maxQueued beyond its
	// content, so that many empty files or symlinks are bounded too.
	jobCost = 512
	// maxOpenDirs bounds the directory fds kept open for *at calls; archives
	// are written directory by directory, so a small cache hits nearly
	// always.
	maxOpenDirs = 128
)

// A job creates one regular file or symlink in a worker, or records a
// regular file the reading goroutine wrote itself (large files, hard
// links). The last job at each path stays in extractor.last: it is what
// later entries wait for, and it gives Image.Files.
type job struct {
	symlink  bool
	rel      string
	name     string // the tar entry name, for errors
	link     string // symlink target
	data     []byte
	buf      *[]byte // pooled storage behind data
	perm     uint32
	uid, gid int
	chown    bool
	ts       [2]unix.Timespec
	xattrs   map[string]string
	sum      [sha512.Size]byte
	size     int64
	cost     int64
	done     bool // guarded by extractor.mu

	// A part of a file larger than smallFile; see extractor.large.
	large     *largeFile
	first     bool
	final     bool
	abandoned bool // the archive ended inside the file
}

// largeFile is the state a worker keeps across the parts of a large file.
type largeFile struct {
	fd  int
	h   hash.Hash
	err error
}

type dirState struct {
	fd   int  // O_PATH fd, or -1 when not open
	sgid bool // new entries inherit the directory's group
	meta *meta
}

// meta is what a directory entry asks for, applied once all of the
// directory's children are written: creating a child changes the mtime, and
// a read-only mode would stop an unprivileged caller from creating them.
type meta struct {
	name     string
	perm     uint32
	uid, gid int
	ts       [2]unix.Timespec
	xattrs   map[string]string
}

// extractor writes regular files and symlinks in a pool of workers and
// does the rarer namespace operations (mkdir, hard link, mknod, removing a
// directory) in the reading goroutine, in archive order.
//
// Entries are routed to workers by parent directory. Two creations in one
// directory serialise on the directory's lock in the kernel anyway (and
// spin on it, wasting the other core), while creations in different
// directories run in parallel; and one worker per directory keeps the
// entries for one path in archive order. The reading goroutine keeps the
// rest equivalent to sequential extraction: before it touches a path
// itself, or resolves a directory it has not resolved before, it waits for
// the last pending job at that path (and at its ancestors); and a
// directory this pass has used is removed only by the reading goroutine,
// once no job is pending at all.
type extractor struct {
	root       int
	rootSgid   bool
	opts       ExtractOptions
	umask      uint32
	umaskOK    bool
	euid, egid int

	// Touched only by the reading goroutine.
	dirs     map[string]*dirState // known to be directories (no symlink on the way)
	openDirs []*dirState
	last     map[string]*job

	// gen changes whenever the reading goroutine removes a directory, so
	// that workers drop directory fds they cached.
	gen    atomic.Uint64
	queues [numWorkers]chan *job
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     sync.Cond
	inflight int   // jobs queued or running, guarded by mu
	queued   int64 // their cost, guarded by mu
	err      error // first worker error, guarded by mu
	failed   atomic.Bool
	closed   bool
}

func newExtractor(dir string, opts ExtractOptions) (*extractor, error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("aci: open %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		unix.Close(root)
		return nil, fmt.Errorf("aci: stat %s: %w", dir, err)
	}
	x := &extractor{
		root:     root,
		rootSgid: st.Mode&unix.S_ISGID != 0,
		opts:     opts,
		euid:     unix.Geteuid(),
		egid:     unix.Getegid(),
		dirs:     make(map[string]*dirState),
		last:     make(map[string]*job),
	}
	x.umask, x.umaskOK = processUmask()
	x.cond.L = &x.mu
	x.wg.Add(numWorkers)
	for i := range x.queues {
		x.queues[i] = make(chan *job, queueLen)
		go x.worker(x.queues[i])
	}
	return x, nil
}

// firstErr returns the first error a worker hit, so that the reading
// goroutine stops at the next entry.
func (x *extractor) firstErr() error {
	if !x.failed.Load() {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *extractor) dispatch(j *job) {
	j.cost = int64(len(j.data)) + jobCost
	x.mu.Lock()
	for x.queued+j.cost > maxQueued && x.queued > 0 {
		x.cond.Wait()
	}
	x.queued += j.cost
	x.inflight++
	x.mu.Unlock()
	x.last[j.rel] = j
	x.queues[dirHash(path.Dir(j.rel))%numWorkers] <- j
}

// dirHash is FNV-1a.
func dirHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func (x *extractor) wait(j *job) {
	x.mu.Lock()
	for !j.done {
		x.cond.Wait()
	}
	x.mu.Unlock()
}

// waitPath waits for the last job at rel, if any.
func (x *extractor) waitPath(rel string) {
	if j, ok := x.last[rel]; ok {
		x.wait(j)
	}
}

func (x *extractor) barrier() {
	x.mu.Lock()
	for x.inflight > 0 {
		x.cond.Wait()
	}
	x.mu.Unlock()
}

// entry extracts one tar entry to rel (clean, relative to the target, "."
// for the target itself). link is the clean target of a hard link.
func (x *extractor) entry(hdr *tar.Header, rel, link string, r io.Reader) error {
	if len(x.openDirs) > maxOpenDirs {
		// Only between entries: an entry may hold two cached fds at once.
		x.closeDirs()
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(hdr, rel)
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		return x.regular(hdr, rel, r, nil)
	case tar.TypeSymlink:
		return x.symlink(hdr, rel)
	case tar.TypeLink:
		return x.hardlink(rel, link)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if !x.opts.Root {
			// Only root can make device nodes, and an unprivileged
			// extraction is never run as a pod's root anyway.
			return nil
		}
		return x.mknod(hdr, rel)
	}
	return fmt.Errorf("%w %q", ErrUnsupportedEntry, hdr.Typeflag)
}

func (x *extractor) perm(hdr *tar.Header) uint32 {
	p := uint32(hdr.Mode) & 0o7777
	if !x.opts.Root {
		p &^= unix.S_ISUID | unix.S_ISGID
	}
	return p
}

// needChown says whether an entry created by this process in a directory
// with the given setgid state would end up with other owners than the
// header's, so that the common case (root extracting root's files) skips
// the syscall.
func (x *extractor) needChown(hdr *tar.Header, parentSgid bool) bool {
	return x.opts.Root && (hdr.Uid != x.euid || hdr.Gid != x.egid || parentSgid)
}

// needChmod says whether creating with perm's low bits under the umask
// falls short of perm. setuid, setgid and sticky always need the chmod: they
// are applied after chown, which clears them.
func (x *extractor) needChmod(perm uint32) bool {
	return !x.umaskOK || perm&0o777&^x.umask != perm
}

func (x *extractor) xattrs(hdr *tar.Header) map[string]string {
	if !x.opts.Root {
		return nil
	}
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if m == nil {
				m = make(map[string]string)
			}
			m[name] = v
		}
	}
	return m
}

// clear makes rel free for a new entry that is not a directory: a pending
// write there finishes first and, if rel is a directory this pass has
// touched, it is removed here, after all pending writes, since workers may
// be writing beneath it.
func (x *extractor) clear(rel string) error {
	if rel == "." {
		return fmt.Errorf("%w: replaces the target directory", ErrUnsafePath)
	}
	x.waitPath(rel)
	delete(x.last, rel)
	if _, ok := x.dirs[rel]; !ok {
		return nil
	}
	x.barrier()
	x.gen.Add(1)
	pfd, _, err := x.dirFD(path.Dir(rel), false)
	if err != nil {
		return err
	}
	if err := removeAllAt(pfd, path.Base(rel)); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	prefix := rel + "/"
	for p, d := range x.dirs {
		if p == rel || strings.HasPrefix(p, prefix) {
			if d.fd >= 0 {
				unix.Close(d.fd)
				d.fd = -1
			}
			delete(x.dirs, p)
		}
	}
	for p := range x.last {
		if strings.HasPrefix(p, prefix) {
			delete(x.last, p)
		}
	}
	return nil
}

// dirFD returns an fd for the directory rel, resolved beneath the root
// without following symlinks; missing directories are created (0755, as
// tar does for parents an archive does not list) when create is set.
func (x *extractor) dirFD(rel string, create bool) (int, bool, error) {
	if rel == "." {
		return x.root, x.rootSgid, nil
	}
	d := x.dirs[rel]
	if d != nil && d.fd >= 0 {
		return d.fd, d.sgid, nil
	}
	if d == nil {
		// Not yet known as a directory, so a pending write may be creating
		// a file at rel or above it: let it land before looking.
		for p := rel; p != "."; p = path.Dir(p) {
			x.waitPath(p)
		}
	}
	fd, err := openBeneath(x.root, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == unix.ENOENT && create {
		pfd, _, perr := x.dirFD(path.Dir(rel), true)
		if perr != nil {
			return -1, false, perr
		}
		if err := unix.Mkdirat(pfd, path.Base(rel), 0o755); err != nil && err != unix.EEXIST {
			return -1, false, fmt.Errorf("mkdir %s: %w", rel, err)
		}
		fd, err = openBeneath(pfd, path.Base(rel), unix.O_PATH|unix.O_DIRECTORY, 0)
	}
	if err != nil {
		return -1, false, resolveErr("open directory", rel, err)
	}
	var sgid bool
	if x.opts.Root {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, false, fmt.Errorf("stat %s: %w", rel, err)
		}
		sgid = st.Mode&unix.S_ISGID != 0
	}
	if d == nil {
		d = &dirState{}
		x.dirs[rel] = d
		// Every ancestor was just walked through as a real directory.
		for p := path.Dir(rel); p != "."; p = path.Dir(p) {
			if _, ok := x.dirs[p]; ok {
				break
			}
			x.dirs[p] = &dirState{fd: -1}
		}
	}
	d.fd, d.sgid = fd, sgid
	x.openDirs = append(x.openDirs, d)
	return fd, sgid, nil
}

func (x *extractor) closeDirs() {
	for _, d := range x.openDirs {
		if d.fd >= 0 {
			unix.Close(d.fd)
			d.fd = -1
		}
	}
	x.openDirs = x.openDirs[:0]
}

func (x *extractor) mkdir(hdr *tar.Header, rel string) error {
	if rel == "." {
		// The target directory belongs to the caller.
		return nil
	}
	x.waitPath(rel)
	delete(x.last, rel)
	m := &meta{
		name:   hdr.Name,
		perm:   x.perm(hdr),
		uid:    hdr.Uid,
		gid:    hdr.Gid,
		ts:     timespecs(hdr.AccessTime, hdr.ModTime),
		xattrs: x.xattrs(hdr),
	}
	if d, ok := x.dirs[rel]; ok {
		// Already a directory: a directory stays one, the later entry's
		// metadata wins.
		d.meta = m
		return nil
	}
	pfd, _, err := x.dirFD(path.Dir(rel), true)
	if err != nil {
		return err
	}
	base := path.Base(rel)
	mode := m.perm & 0o777
	if !x.opts.Root {
		mode |= 0o700
	}
	err = unix.Mkdirat(pfd, base, mode)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// Not a directory (a symlink maybe): replace it, never follow.
			if err = unix.Unlinkat(pfd, base, 0); err == nil {
				err = unix.Mkdirat(pfd, base, mode)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", rel, err)
	}
	x.dirs[rel] = &dirState{fd: -1, meta: m}
	return nil
}

// regular writes a regular file. data, if not nil, is its already read
// content (the manifest); otherwise the content is read from r.
func (x *extractor) regular(hdr *tar.Header, rel string, r io.Reader, data []byte) error {
	if err := x.clear(rel); err != nil {
		return err
	}
	_, sgid, err := x.dirFD(path.Dir(rel), true)
	if err != nil {
		return err
	}
	j := &job{
		rel:    rel,
		name:   hdr.Name,
		perm:   x.perm(hdr),
		uid:    hdr.Uid,
		gid:    hdr.Gid,
		chown:  x.needChown(hdr, sgid),
		ts:     timespecs(hdr.AccessTime, hdr.ModTime),
		xattrs: x.xattrs(hdr),
		size:   hdr.Size,
	}
	if data == nil && hdr.Size > smallFile {
		return x.large(j, r)
	}
	if data == nil && hdr.Size > 0 {
		j.buf = getBuf(int(hdr.Size))
		if _, err := io.ReadFull(r, *j.buf); err != nil {
			putBuf(j.buf)
			return err
		}
		data = *j.buf
	}
	j.data = data
	j.size = int64(len(data))
	x.dispatch(j)
	return nil
}

// large hands a file too big for one buffer to its worker in parts of
// smallFile bytes. They queue back to back in the worker's FIFO, which
// creates the file with the first, hashes and writes each in order and
// closes it with the last; the reading goroutine only copies.
func (x *extractor) large(tmpl *job, r io.Reader) error {
	lf := &largeFile{fd: -1}
	for off := int64(0); ; {
		p := *tmpl
		p.large, p.first = lf, off == 0
		n := min(tmpl.size-off, smallFile)
		p.buf = getBuf(int(n))
		if _, err := io.ReadFull(r, *p.buf); err != nil {
			putBuf(p.buf)
			// The worker must still close what the first parts opened.
			x.dispatch(&job{rel: tmpl.rel, large: lf, final: true, abandoned: true})
			return err
		}
		p.data = *p.buf
		off += n
		p.final = off == tmpl.size
		x.dispatch(&p)
		if p.final {
			return nil
		}
	}
}

func (x *extractor) symlink(hdr *tar.Header, rel string) error {
	if err := x.clear(rel); err != nil {
		return err
	}
	_, sgid, err := x.dirFD(path.Dir(rel), true)
	if err != nil {
		return err
	}
	x.dispatch(x.nodeJob(hdr, rel, sgid, true))
	return nil
}

// nodeJob describes the metadata of a symlink or special file.
func (x *extractor) nodeJob(hdr *tar.Header, rel string, sgid, symlink bool) *job {
	return &job{
		symlink: symlink,
		rel:     rel,
		name:    hdr.Name,
		link:    hdr.Linkname,
		perm:    x.perm(hdr),
		uid:     hdr.Uid,
		gid:     hdr.Gid,
		chown:   x.needChown(hdr, sgid),
		ts:      timespecs(hdr.AccessTime, hdr.ModTime),
		xattrs:  x.xattrs(hdr),
	}
}

// nodeMeta applies metadata to something that cannot be opened for writing
// (a symlink, a device node, a fifo), by name in its parent.
func (x *extractor) nodeMeta(j *job, pfd int, base string, chmod bool) error {
	if j.chown {
		if err := unix.Fchownat(pfd, base, j.uid, j.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", j.rel, err)
		}
	}
	if chmod && x.needChmod(j.perm) {
		// fchmodat follows a symlink at base, but the node was just created
		// there and nothing else touches the name meanwhile.
		if err := unix.Fchmodat(pfd, base, j.perm, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", j.rel, err)
		}
	}
	if len(j.xattrs) > 0 {
		// The parent is reached through our own fd; the l-variant does not
		// follow base itself.
		p := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
		for k, v := range j.xattrs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				return fmt.Errorf("xattr %s on %s: %w", k, j.rel, err)
			}
		}
	}
	if err := unix.UtimesNanoAt(pfd, base, j.ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", j.rel, err)
	}
	return nil
}

func (x *extractor) hardlink(rel, target string) error {
	if target == rel {
		return nil
	}
	if err := x.clear(rel); err != nil {
		return err
	}
	x.waitPath(target)
	tpfd, _, err := x.dirFD(path.Dir(target), false)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	pfd, _, err := x.dirFD(path.Dir(rel), true)
	if err != nil {
		return err
	}
	base := path.Base(rel)
	// Flags 0: a symlink target is linked itself, never followed.
	err = unix.Linkat(tpfd, path.Base(target), pfd, base, 0)
	if err == unix.EEXIST {
		if err = removeAllAt(pfd, base); err == nil {
			err = unix.Linkat(tpfd, path.Base(target), pfd, base, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("hard link %s to %s: %w", rel, target, err)
	}
	if j, ok := x.last[target]; ok && !j.symlink {
		x.last[rel] = &job{rel: rel, sum: j.sum, size: j.size, done: true}
	}
	return nil
}

func (x *extractor) mknod(hdr *tar.Header, rel string) error {
	if err := x.clear(rel); err != nil {
		return err
	}
	pfd, sgid, err := x.dirFD(path.Dir(rel), true)
	if err != nil {
		return err
	}
	base := path.Base(rel)
	mode := x.perm(hdr) & 0o777
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	err = unix.Mknodat(pfd, base, mode, dev)
	if err == unix.EEXIST {
		if err = removeAllAt(pfd, base); err == nil {
			err = unix.Mknodat(pfd, base, mode, dev)
		}
	}
	if err != nil {
		return fmt.Errorf("mknod %s: %w", rel, err)
	}
	return x.nodeMeta(x.nodeJob(hdr, rel, sgid, false), pfd, base, true)
}

// finish waits for the workers, applies directory metadata and returns the
// digests of the files written.
func (x *extractor) finish() (map[string]FileDigest, error) {
	x.stop()
	defer x.release()
	if x.err != nil {
		return nil, x.err
	}
	type pending struct {
		rel   string
		depth int
		m     *meta
	}
	var list []pending
	for rel, d := range x.dirs {
		if d.meta != nil {
			list = append(list, pending{rel, strings.Count(rel, "/"), d.meta})
		}
	}
	// Deepest first: a parent's final mode may deny an unprivileged caller
	// the search permission it needs to reach the children.
	sort.Slice(list, func(a, b int) bool { return list[a].depth > list[b].depth })
	x.closeDirs()
	for _, dm := range list {
		if err := x.dirMeta(dm.rel, dm.m); err != nil {
			return nil, fmt.Errorf("aci: entry %q: %w", dm.m.name, err)
		}
	}
	files := make(map[string]FileDigest, len(x.last))
	for rel, j := range x.last {
		if !j.symlink {
			files[rel] = FileDigest{Sum: j.sum, Size: j.size}
		}
	}
	return files, nil
}

func (x *extractor) dirMeta(rel string, m *meta) error {
	fd, err := openBeneath(x.root, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == unix.EACCES {
		// An unprivileged caller re-applying metadata to a directory from
		// an earlier layer that it may not read: work through an O_PATH fd.
		return x.dirMetaPath(rel, m)
	}
	if err != nil {
		return resolveErr("open directory", rel, err)
	}
	defer unix.Close(fd)
	if x.opts.Root {
		if err := unix.Fchown(fd, m.uid, m.gid); err != nil {
			return fmt.Errorf("chown %s: %w", rel, err)
		}
	}
	if err := unix.Fchmod(fd, m.perm); err != nil {
		return fmt.Errorf("chmod %s: %w", rel, err)
	}
	for k, v := range m.xattrs {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("xattr %s on %s: %w", k, rel, err)
		}
	}
	if err := futimens(fd, &m.ts); err != nil {
		return fmt.Errorf("set times of %s: %w", rel, err)
	}
	return nil
}

func (x *extractor) dirMetaPath(rel string, m *meta) error {
	fd, err := openBeneath(x.root, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return resolveErr("open directory", rel, err)
	}
	defer unix.Close(fd)
	// The magic link names exactly the directory the fd holds.
	p := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := unix.Chmod(p, m.perm); err != nil {
		return fmt.Errorf("chmod %s: %w", rel, err)
	}
	if err := unix.UtimesNano(p, m.ts[:]); err != nil {
		return fmt.Errorf("set times of %s: %w", rel, err)
	}
	return nil
}

// stop lets the workers drain the queue and waits for them.
func (x *extractor) stop() {
	if !x.closed {
		x.closed = true
		for _, q := range x.queues {
			close(q)
		}
		x.wg.Wait()
	}
}

func (x *extractor) release() {
	x.closeDirs()
	if x.root >= 0 {
		unix.Close(x.root)
		x.root = -1
	}
}

// abort stops the workers after a failure; what was extracted stays for the
// caller to remove.
func (x *extractor) abort() {
	x.stop()
	x.release()
}
