package stage2app

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// DefaultPath is the PATH used to find an executable when the app's
// environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// errWrongType means a mount target exists with the wrong file type.
var errWrongType = errors.New("wrong file type")

// InRoot returns the host path of path (taken as absolute inside rootfs),
// with every symlink resolved as if rootfs were "/": the result never
// leaves rootfs.
func InRoot(rootfs, p string) (string, error) {
	r, err := securejoin.SecureJoin(rootfs, p)
	if err != nil {
		return "", fmt.Errorf("resolve %s inside %s: %w", p, rootfs, err)
	}
	return r, nil
}

// PrepareTarget resolves a mount target inside rootfs and creates it
// when missing: a directory when dir is true, else an empty file (with
// its missing parent directories). An existing target must have the
// matching type. Creation is refused under any of noCreate (host paths
// bound into the rootfs, such as /dev), so that a mount point never
// creates a file on the host through a bind mount.
func PrepareTarget(rootfs, p string, dir bool, noCreate []string) (string, error) {
	t, err := InRoot(rootfs, p)
	if err != nil {
		return "", err
	}
	fi, err := os.Lstat(t)
	switch {
	case err == nil:
		if fi.IsDir() != dir {
			what := "a directory"
			if !dir {
				what = "a file"
			}
			return "", fmt.Errorf("mount target %s: %w: the source is %s", p, errWrongType, what)
		}
		return t, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("mount target %s: %w", p, err)
	}
	for _, nc := range noCreate {
		if t == nc || strings.HasPrefix(t, nc+"/") {
			return "", fmt.Errorf("mount target %s does not exist and is on a host file system (%s) where it can't be created", p, nc)
		}
	}
	if err := os.MkdirAll(filepath.Dir(t), 0o755); err != nil {
		return "", fmt.Errorf("create mount target %s: %w", p, err)
	}
	if dir {
		err = os.Mkdir(t, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(t, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("create mount target %s: %w", p, err)
	}
	return t, nil
}

// LookPath finds the executable file names inside rootfs the way a shell
// would inside a chroot of it, and returns its path inside rootfs: a name
// with a slash is taken as is (relative to wd when not absolute), a bare
// name is searched in the colon-separated pathEnv (DefaultPath when
// empty; relative entries are skipped).
func LookPath(rootfs, file, pathEnv, wd string) (string, error) {
	if file == "" {
		return "", errors.New("empty executable name")
	}
	if strings.Contains(file, "/") {
		p := file
		if !path.IsAbs(p) {
			p = path.Join(wd, p)
		}
		if err := isExecutable(rootfs, p); err != nil {
			return "", err
		}
		return p, nil
	}
	if pathEnv == "" {
		pathEnv = DefaultPath
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		if !path.IsAbs(dir) {
			continue
		}
		p := path.Join(dir, file)
		if isExecutable(rootfs, p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in PATH %q", file, pathEnv)
}

// isExecutable reports (as an error) whether p inside rootfs is a regular
// file with an execute bit.
func isExecutable(rootfs, p string) error {
	h, err := InRoot(rootfs, p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(h)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("executable %q: no such file in the image", p)
		}
		return fmt.Errorf("executable %q: %w", p, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("executable %q: not an executable file", p)
	}
	return nil
}
