package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

func TestDeviceRuleString(t *testing.T) {
	for r, want := range map[DeviceRule]string{
		{'c', 1, 3, "rwm"}:   "c 1:3 rwm",
		{'c', 136, Any, "r"}: "c 136:* r",
		{'b', Any, Any, "m"}: "b *:* m",
	} {
		if r.String() != want {
			t.Errorf("%+v = %q, want %q", r, r.String(), want)
		}
	}
}

func TestHostDeviceRules(t *testing.T) {
	r, err := HostDeviceRules("/dev/null", true)
	if err != nil || len(r) != 1 || r[0] != (DeviceRule{'c', 1, 3, "r"}) {
		t.Errorf("/dev/null: %v %v", r, err)
	}
	// A directory below /dev passes the devices in it.
	if r, err := HostDeviceRules("/dev", false); err != nil || len(r) < 3 {
		t.Errorf("/dev: %v %v", r, err)
	}
	// Any other directory passes none.
	if r, err := HostDeviceRules(t.TempDir(), false); err != nil || len(r) != 0 {
		t.Errorf("plain directory: %v %v", r, err)
	}
	if _, err := HostDeviceRules("/nonexistent-device", false); err == nil {
		t.Error("missing source accepted")
	}
}

func TestDeviceProgramRejectsBadRules(t *testing.T) {
	for _, r := range []DeviceRule{{'x', 1, 3, "rwm"}, {'c', 1, 3, "rwx"}} {
		if _, err := deviceProgram([]DeviceRule{r}); err == nil {
			t.Errorf("%v accepted", r)
		}
	}
}

// inCgroup runs script with sh as a process of the cgroup dirs (its
// cgroup.procs written before the script starts) and returns its error.
func inCgroup(t *testing.T, script string, dirs ...string) error {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "read go; "+script)
	cmd.Stdin = r
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal(err)
		}
	}
	fmt.Fprintln(w, "go")
	w.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// checkDeviceRules: with only null and zero allowed (and mknod of
// null), the script may open and create those, and neither open nor
// create a block device (the kernel's loop0, 7:0, here) even as root
// with CAP_MKNOD.
func checkDeviceRules(t *testing.T, dirs ...string) {
	tmp := t.TempDir()
	if err := inCgroup(t, "exec 3</dev/null 4</dev/zero && mknod "+tmp+"/n c 1 3 && exec 5<"+tmp+"/n", dirs...); err != nil {
		t.Errorf("allowed devices: %v", err)
	}
	if err := inCgroup(t, "exec 3</dev/full", dirs...); err == nil {
		t.Error("opened /dev/full, which no rule allows")
	}
	if err := inCgroup(t, "mknod "+tmp+"/b b 7 0", dirs...); err == nil {
		t.Error("created a block device node")
	}
	if unix.Mknod(filepath.Join(tmp, "hostb"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))) == nil {
		if err := inCgroup(t, "exec 3<"+tmp+"/hostb", dirs...); err == nil {
			t.Error("opened a block device node made outside")
		}
	}
}

var testRules = []DeviceRule{{'c', 1, 3, "rwm"}, {'c', 1, 5, "rw"}}

func TestDevicesV1(t *testing.T) {
	root := "/sys/fs/cgroup/devices"
	if os.Geteuid() != 0 || cgroups.IsCgroup2UnifiedMode() {
		t.Skip("needs root and a v1 devices hierarchy")
	}
	if _, err := os.Stat(filepath.Join(root, "devices.allow")); err != nil {
		t.Skip("no v1 devices hierarchy")
	}
	dir := filepath.Join(root, fmt.Sprintf("%sdevtest-%d", Prefix, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(dir, "app")
	t.Cleanup(func() { os.Remove(child); os.Remove(dir) })
	if err := allowDevicesV1(dir, testRules); err != nil {
		t.Fatal(err)
	}
	// A cgroup made afterwards inherits the rules.
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	checkDeviceRules(t, child)
}

func TestDevicesV2Program(t *testing.T) {
	root := "/sys/fs/cgroup"
	if !cgroups.IsCgroup2UnifiedMode() {
		root = "/sys/fs/cgroup/unified"
	}
	var st unix.Statfs_t
	if os.Geteuid() != 0 || unix.Statfs(root, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skip("needs root and a cgroup v2 hierarchy")
	}
	dir := filepath.Join(root, fmt.Sprintf("%sdevtest-%d", Prefix, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(dir, "app")
	t.Cleanup(func() { os.Remove(child); os.Remove(dir) })
	if err := AttachDeviceProgram(dir, testRules); err != nil {
		t.Fatal(err)
	}
	// The program of the parent applies below it.
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	checkDeviceRules(t, child)
}
