package stage2app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Credentials are the user, primary group and supplementary groups an
// app runs as.
type Credentials struct {
	UID    uint32
	GID    uint32
	Groups []uint32
}

// errNotFound means a name is not in the image's passwd or group file.
var errNotFound = errors.New("not found")

// ResolveCredentials resolves an app's user, group and supplementary
// GIDs against its rootfs, the way rkt does (reference APPX-02): each of
// user and group is a number, or an absolute path inside the rootfs whose
// owner is used, or a name looked up in the image's /etc/passwd or
// /etc/group. When the group is a name the image does not define and it
// equals the user's name, the user's primary group is used (what images
// converted from Docker need). Every path is resolved inside rootfs, even
// through symlinks in the image.
func ResolveCredentials(rootfs, user, group string, supplementary []int) (*Credentials, error) {
	uid, userGID, err := resolveUser(rootfs, user)
	if err != nil {
		return nil, fmt.Errorf("invalid user %q: %w", user, err)
	}
	gid, err := resolveGroup(rootfs, group)
	if errors.Is(err, errNotFound) && group == user && userGID >= 0 {
		gid, err = uint32(userGID), nil
	}
	if err != nil {
		return nil, fmt.Errorf("invalid group %q: %w", group, err)
	}
	c := &Credentials{UID: uid, GID: gid, Groups: []uint32{}}
	for _, g := range supplementary {
		if g < 0 || int64(g) > int64(^uint32(0)) {
			return nil, fmt.Errorf("invalid supplementary GID %d", g)
		}
		c.Groups = append(c.Groups, uint32(g))
	}
	return c, nil
}

// resolveUser returns the UID of user and, when the image's passwd file
// defined it, its primary GID (else -1).
func resolveUser(rootfs, user string) (uint32, int64, error) {
	if user == "" {
		user = "0"
	}
	if id, ok := parseID(user); ok {
		return id, -1, nil
	}
	if strings.HasPrefix(user, "/") {
		st, err := statInRoot(rootfs, user)
		if err != nil {
			return 0, -1, err
		}
		return st.Uid, -1, nil
	}
	var uid uint32
	gid := int64(-1)
	err := scanDB(rootfs, "/etc/passwd", func(f []string) bool {
		if len(f) < 4 || f[0] != user {
			return false
		}
		u, ok1 := parseID(f[2])
		g, ok2 := parseID(f[3])
		if !ok1 {
			return false
		}
		uid = u
		if ok2 {
			gid = int64(g)
		}
		return true
	})
	return uid, gid, err
}

// resolveGroup returns the GID of group.
func resolveGroup(rootfs, group string) (uint32, error) {
	if group == "" {
		group = "0"
	}
	if id, ok := parseID(group); ok {
		return id, nil
	}
	if strings.HasPrefix(group, "/") {
		st, err := statInRoot(rootfs, group)
		if err != nil {
			return 0, err
		}
		return st.Gid, nil
	}
	var gid uint32
	err := scanDB(rootfs, "/etc/group", func(f []string) bool {
		if len(f) < 3 || f[0] != group {
			return false
		}
		g, ok := parseID(f[2])
		if !ok {
			return false
		}
		gid = g
		return true
	})
	return gid, err
}

// parseID parses a decimal user or group ID.
func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// statInRoot stats path (absolute inside rootfs) without escaping rootfs.
func statInRoot(rootfs, path string) (*syscall.Stat_t, error) {
	p, err := securejoin.SecureJoin(rootfs, path)
	if err != nil {
		return nil, fmt.Errorf("resolve %s in the image: %w", path, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s in the image: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s in the image: no owner information", path)
	}
	return st, nil
}

// scanDB reads a colon-separated database (passwd, group) in the rootfs
// and calls match on the fields of each entry until it returns true. It
// returns errNotFound (wrapped) when no entry matched.
func scanDB(rootfs, path string, match func(fields []string) bool) error {
	p, err := securejoin.SecureJoin(rootfs, path)
	if err != nil {
		return fmt.Errorf("resolve %s in the image: %w", path, err)
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: the image has no %s", errNotFound, path)
		}
		return fmt.Errorf("read the image's %s: %w", path, err)
	}
	defer f.Close()
	found, err := scanEntries(f, match)
	if err != nil {
		return fmt.Errorf("read the image's %s: %w", path, err)
	}
	if !found {
		return fmt.Errorf("%w in the image's %s", errNotFound, path)
	}
	return nil
}

// scanEntries is scanDB on an open file: comments, blank lines and NIS
// compat entries (+, -) are skipped.
func scanEntries(r io.Reader, match func(fields []string) bool) (bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		if match(strings.Split(line, ":")) {
			return true, nil
		}
	}
	return false, sc.Err()
}
