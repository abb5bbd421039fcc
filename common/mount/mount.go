// Package mount holds the few mount operations stage0 needs outside a
// stage1: reading the mount table, mounting an overlay, unmounting what a
// pod left behind, and running code in a private mount namespace.
//
// It is a privileged package (docs/design.md, "Privilege separation"):
// only root binaries may link it, which tests/fence_test.go checks.
package mount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Info is one line of /proc/self/mountinfo.
type Info struct {
	ID         int
	Parent     int
	MountPoint string // unescaped, absolute
	Optional   string // optional fields, e.g. "shared:12 master:3"
	FSType     string
	Source     string
	// SuperOptions are the file system's own options, e.g. a v1
	// cgroup hierarchy's controllers: "rw,memory".
	SuperOptions string
}

// Shared reports whether the mount is in a shared peer group, so that an
// unmount there would propagate to its peers.
func (i Info) Shared() bool {
	for _, f := range strings.Fields(i.Optional) {
		if strings.HasPrefix(f, "shared:") {
			return true
		}
	}
	return false
}

// Table is a snapshot of the mount table. Read it once and ask it many
// questions: re-reading /proc/self/mountinfo for every pod is what made
// rkt's gc take minutes with thousands of pods.
type Table []Info

// Read returns the mount table of the calling thread, which is the host's
// for every thread but one inside InPrivateNamespace.
func Read() (Table, error) {
	// /proc/self follows the thread group leader, whose namespace is not
	// necessarily the caller's; thread-self is (Linux 3.17+).
	f, err := os.Open("/proc/thread-self/mountinfo")
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.Open("/proc/self/mountinfo")
	}
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	return t, nil
}

// Parse reads mountinfo-formatted text (proc(5)).
func Parse(r io.Reader) (Table, error) {
	var t Table
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 6 {
			return nil, fmt.Errorf("malformed mountinfo line %q", line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("malformed mountinfo line %q", line)
		}
		in := Info{
			ID:         id,
			Parent:     parent,
			MountPoint: Unescape(f[4]),
			Optional:   strings.Join(f[6:], " "),
		}
		if pf := strings.Fields(post); len(pf) >= 2 {
			in.FSType, in.Source = pf[0], Unescape(pf[1])
			if len(pf) >= 3 {
				in.SuperOptions = pf[2]
			}
		}
		t = append(t, in)
	}
	return t, sc.Err()
}

// Unescape undoes the octal escapes (\040 for a space and so on) the
// kernel writes in mountinfo paths.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// Under returns the mounts at or below dir, deepest first, so that
// unmounting them in order never meets a mount still holding a child.
func (t Table) Under(dir string) Table {
	dir = filepath.Clean(dir)
	var out Table
	for _, m := range t {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") || dir == "/" {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := strings.Count(out[i].MountPoint, "/"), strings.Count(out[j].MountPoint, "/")
		if di != dj {
			return di > dj
		}
		return out[i].ID > out[j].ID // stacked mounts: the later one first
	})
	return out
}

// MountsUnder returns the mount points at or below dir, deepest first,
// from a fresh read of the mount table.
func MountsUnder(dir string) ([]string, error) {
	t, err := Read()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range t.Under(dir) {
		out = append(out, m.MountPoint)
	}
	return out, nil
}

// MountOverlay mounts an overlay filesystem on target. lower lists the
// lower directories, topmost first. With upper == "" the overlay has no
// upper layer and is read-only by nature (overlayfs then needs at least
// two lower directories, or one with the "ro" flag); otherwise work must
// be an empty directory on upper's filesystem. ro mounts it read-only.
// extra are further overlayfs options ("volatile").
func MountOverlay(lower []string, upper, work, target string, ro bool, extra ...string) error {
	if len(lower) == 0 {
		return errors.New("mounting overlay: no lower directory")
	}
	opts := OverlayOptions(lower, upper, work, extra...)
	var flags uintptr
	if ro || upper == "" {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("overlay", target, "overlay", flags, opts); err != nil {
		return &os.PathError{Op: "mount overlay", Path: target, Err: err}
	}
	return nil
}

// OverlayOptions returns the mount data of an overlay of the lower
// directories (the first on top) under upper and work ("" for a
// read-only overlay), with the extra options after them.
func OverlayOptions(lower []string, upper, work string, extra ...string) string {
	esc := make([]string, len(lower))
	for i, l := range lower {
		esc[i] = escapeOpt(l)
	}
	opts := "lowerdir=" + strings.Join(esc, ":")
	if upper != "" {
		opts += ",upperdir=" + escapeOpt(upper) + ",workdir=" + escapeOpt(work)
	}
	for _, o := range extra {
		opts += "," + o
	}
	return opts
}

// escapeOpt escapes the characters overlayfs treats as separators in its
// options (',' between options, ':' between lower directories).
func escapeOpt(p string) string {
	// A strings.Replacer of single bytes builds a 256-entry table, ~6 kB
	// and a page fault each time: three per overlay, on every pod start.
	if !strings.ContainsAny(p, `\,:`) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '\\' || c == ',' || c == ':' {
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Unmount unmounts target; lazy detaches it even while busy
// (MNT_DETACH). A target that is not (or no longer) a mount point is not
// an error.
func Unmount(target string, lazy bool) error {
	flags := 0
	if lazy {
		flags = unix.MNT_DETACH
	}
	for {
		err := unix.Unmount(target, flags)
		switch {
		case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return &os.PathError{Op: "unmount", Path: target, Err: err}
	}
}

// UnmountAll detaches every mount at or below dir, from a fresh read of
// the mount table. See Table.UnmountUnder.
func UnmountAll(dir string) error {
	t, err := Read()
	if err != nil {
		return err
	}
	return t.UnmountUnder(dir)
}

// UnmountUnder detaches the mounts of the snapshot t at or below dir,
// deepest first. A shared mount is made private first so that its
// unmount cannot propagate to peers outside the pod (a fly pod's volumes
// are binds of rshared host mounts). Mounts already gone since the
// snapshot was taken are skipped silently. All mounts are tried; the
// first error is returned.
func (t Table) UnmountUnder(dir string) error {
	var first error
	for _, m := range t.Under(dir) {
		if m.Shared() {
			err := unix.Mount("", m.MountPoint, "", unix.MS_PRIVATE, "")
			if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && first == nil {
				first = &os.PathError{Op: "make private", Path: m.MountPoint, Err: err}
			}
		}
		if err := Unmount(m.MountPoint, true); err != nil && first == nil {
			first = err
		}
	}
	return first
}
