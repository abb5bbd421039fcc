package paths

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const helperEnv = "RKT_PATHS_TEST_ROOTFS"

func TestMain(m *testing.M) {
	if root := os.Getenv(helperEnv); root != "" {
		if err := helper(root); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper runs in a private mount namespace (see TestApply).
func helper(root string) error {
	// "paths:ROOT" takes the fallback without the mount API.
	root, legacy := strings.CutPrefix(root, "paths:")
	noMountAPI.Store(legacy)
	// "ro:ROOT" mounts /sys read-only, as the native stage1 does.
	root, roSys := strings.CutPrefix(root, "ro:")
	for _, m := range []struct{ dir, fs string }{{"proc", "proc"}, {"sys", "sysfs"}} {
		d := filepath.Join(root, m.dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if roSys && m.dir == "sys" {
			flags |= unix.MS_RDONLY
		}
		if err := unix.Mount(m.fs, d, m.fs, flags, ""); err != nil {
			return fmt.Errorf("mounting %s: %w", d, err)
		}
	}
	if err := Apply(root); err != nil {
		return err
	}
	if roSys {
		// Below a read-only /sys the read-only paths need no mount of
		// their own: only the masked directories are mounted there.
		mi, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(mi), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && slices.Contains(ReadOnly, strings.TrimPrefix(f[4], root)) && strings.HasPrefix(f[4], root+"/sys/") {
				return fmt.Errorf("%s mounted although /sys is read-only", f[4])
			}
		}
	}
	// Read-only paths. Some kernels lack /proc/sysrq-trigger or /proc/kcore,
	// so only existing ones are checked (core_pattern and kallsyms exist
	// everywhere that matters).
	for _, p := range []string{"proc/sysrq-trigger", "proc/sys/kernel/core_pattern"} {
		if _, err := os.Lstat(filepath.Join(root, p)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		err := os.WriteFile(filepath.Join(root, p), []byte("x"), 0)
		if !errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("writing %s: got %v, want EROFS", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "sys/kernel")); err == nil {
		if err := os.WriteFile(filepath.Join(root, "sys/kernel/uevent_helper"), []byte(""), 0); err != nil && !errors.Is(err, syscall.EROFS) && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("writing sys/kernel/uevent_helper: got %v, want EROFS", err)
		}
	}
	// Inaccessible files: empty (root bypasses the 0000 mode) or unreadable.
	for _, p := range []string{"proc/kcore", "proc/kallsyms"} {
		if _, err := os.Lstat(filepath.Join(root, p)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, p))
		if err == nil && len(b) != 0 {
			return fmt.Errorf("%s is readable (%d bytes)", p, len(b))
		}
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0 {
			return fmt.Errorf("%s has mode %v", p, fi.Mode())
		}
	}
	// Inaccessible directories.
	for _, p := range []string{"sys/firmware", "sys/fs"} {
		d := filepath.Join(root, p)
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			continue
		}
		ents, err := os.ReadDir(d)
		if err == nil && len(ents) != 0 {
			return fmt.Errorf("%s is not empty: %v", p, ents)
		}
		if err := os.WriteFile(filepath.Join(d, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("creating in %s: got %v, want EROFS", p, err)
		}
	}
	// The masks do not show as files on the host's /dev/shm, nor can
	// one be written through.
	if !legacy {
		if ents, _ := filepath.Glob("/dev/shm/rkt-masked-*"); len(ents) != 0 {
			return fmt.Errorf("mask files left in /dev/shm: %v", ents)
		}
	}
	for _, p := range []string{"proc/kcore", "proc/kallsyms"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			if err := os.WriteFile(filepath.Join(root, p), []byte("x"), 0); !errors.Is(err, syscall.EROFS) {
				return fmt.Errorf("writing the mask on %s: got %v, want EROFS", p, err)
			}
		}
	}
	// The rest of /proc stays usable.
	if _, err := os.ReadFile(filepath.Join(root, "proc/self/status")); err != nil {
		return err
	}
	return nil
}

func TestApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, mode := range []string{"", "ro:", "paths:", "paths:ro:"} {
		t.Run(mode, func(t *testing.T) { testApply(t, mode) })
	}
}

func testApply(t *testing.T, mode string) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode+root)
	// Go makes "/" recursively private in the child before exec, so no
	// mount propagates back to the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), root) {
		t.Fatalf("mounts leaked to the host:\n%s", mi)
	}
}

func TestApplyMissingPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// Without /proc and /sys mounted nothing exists: Apply does nothing.
	root := t.TempDir()
	if err := Apply(root); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesEscape(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/", filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../etc/passwd", filepath.Join(root, "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "sys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, "sys", "fs")); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, p := range []string{"/proc/kcore", "/passwd", "/sys/fs"} {
		if _, _, err := open(fd, root, p); err == nil {
			t.Errorf("%s: symlink leaving the rootfs (or last) accepted", p)
		}
	}
	if _, ok, err := open(fd, root, "/sys/firmware"); err != nil || ok {
		t.Errorf("missing path: ok %v, err %v; want skipped", ok, err)
	}
}

func TestResolveRefusesEscape(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/", filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := resolve(root, "/proc/kcore"); err == nil {
		t.Fatal("symlink escaping the rootfs accepted")
	}
}
