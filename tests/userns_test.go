package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/common/userns"
	"github.com/rkt/rkt/tests/harness"
)

// --private-users with the native stage1: the pod's ids 0-65535 are a
// range of host ids of its own; the shared image tree is never chowned
// (the app rootfs is an overlay over an idmapped mount of it).

// treeEntry is what must not change in the shared tree.
type treeEntry struct {
	uid, gid uint32
	ctime    syscall.Timespec
}

// snapshotTree records owner and ctime of everything below dir.
func snapshotTree(t *testing.T, dir string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out[p] = treeEntry{st.Uid, st.Gid, st.Ctim}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// podRange reads a pod's id range.
func podRange(t *testing.T, podDir string) userns.Range {
	t.Helper()
	r, err := userns.Parse(readFile(t, filepath.Join(podDir, "private-users-prepared")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// podUIDs returns the real uid (on the host) of every process of the pod
// whose supervisor runs as pid sup, but the supervisor itself.
func podUIDs(t *testing.T, sup int) map[int]uint32 {
	t.Helper()
	out := map[int]uint32{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || statusField(string(st), "PPid") != strconv.Itoa(sup) {
			continue
		}
		uid, _ := strconv.ParseUint(strings.Fields(statusField(string(st), "Uid"))[0], 10, 32)
		out[pid] = uint32(uid)
	}
	return out
}

// waitFile waits for a file on the host.
func waitFile(t *testing.T, p string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(p); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", p)
}

func statOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// rangesLeft lists the id ranges still allocated in e's data directory.
func rangesLeft(t *testing.T, e *harness.Env) []string {
	ents, err := os.ReadDir(filepath.Join(e.DataDir, userns.Dir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, en := range ents {
		out = append(out, en.Name())
	}
	return out
}

func TestUsernsOverlay(t *testing.T) {
	e, _ := runEnv(t)
	flags := nativeFlags(t)
	// A pod prepared with --private-users gets a range; rendering the
	// tree here lets the test see it before any private-users pod ran.
	prepared := strings.TrimSpace(e.Rkt(append(append([]string{"prepare", "--quiet", "--private-users"}, flags...), "example.com/busybox")...).OK(t).Stdout)
	preparedRange := podRange(t, filepath.Join(e.DataDir, "pods", "prepared", prepared))
	tree := filepath.Join(e.DataDir, "cas", "tree",
		strings.TrimSpace(readFile(t, filepath.Join(e.DataDir, "pods", "prepared", prepared, "appsinfo", "busybox", "treeStoreID"))), "rootfs")
	before := snapshotTree(t, tree)

	script := "echo hi > /written; mkdir /newdir; touch /etc/passwd; stat -c %u:%g / /bin/busybox /etc/passwd /written /dev /dev/shm > /stat; id -u >> /stat; touch /ready; sleep 1000"
	cmd, uuid := startPod(t, e, append(flags, "--private-users", "--net=none",
		"example.com/busybox", "--name=root", "--exec=/bin/sh", "--", "-c", script, "---",
		"example.com/busybox", "--name=user", "--user=1000", "--group=1000", "--exec=/bin/sleep", "--", "1000")...)
	pod := filepath.Join(e.DataDir, "pods", "run", uuid)
	ids := podRange(t, pod)
	if ids.Shift == preparedRange.Shift {
		t.Errorf("two pods got the same id range %v", ids)
	}
	upper := filepath.Join(pod, "overlay", "root", "upper")
	waitFile(t, filepath.Join(upper, "ready"))

	// Inside: the tree's root-owned files are root's, and so is what the
	// app wrote.
	if got := strings.Fields(readFile(t, filepath.Join(upper, "stat"))); strings.Join(got, " ") != "0:0 0:0 0:0 0:0 0:0 0:0 0" {
		t.Errorf("owners inside the pod: %q", got)
	}
	// Outside: what the app wrote has the shifted ids.
	for _, f := range []string{"written", "newdir", "etc/passwd", "stat"} {
		if uid, gid := statOwner(t, filepath.Join(upper, f)); uid != ids.Shift || gid != ids.Shift {
			t.Errorf("%s is owned by %d:%d on the host, want %d:%d", f, uid, gid, ids.Shift, ids.Shift)
		}
	}
	// The apps run as shifted uids on the host.
	sup, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(pod, "pid"))))
	if err != nil {
		t.Fatal(err)
	}
	uids := podUIDs(t, sup)
	want := map[uint32]bool{ids.Shift: true, ids.Shift + 1000: true}
	if len(uids) != 2 {
		t.Errorf("pod processes: %v", uids)
	}
	for pid, uid := range uids {
		if !want[uid] {
			t.Errorf("pod process %d runs as host uid %d, want one of %v", pid, uid, want)
		}
	}
	// enter lands in the pod's ids too.
	if r := e.Rkt("enter", "--app=user", uuid, "/bin/sh", "-c", "id -u; touch /tmp/entered"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "1000" {
		t.Errorf("enter: %s", r)
	}
	if uid, _ := statOwner(t, filepath.Join(pod, "overlay", "user", "upper", "tmp", "entered")); uid != ids.Shift+1000 {
		t.Errorf("file of an entered command owned by %d, want %d", uid, ids.Shift+1000)
	}

	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	e.Rkt("rm", prepared).OK(t)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	// No chown of the shared tree: owners and ctimes are unchanged.
	after := snapshotTree(t, tree)
	if len(after) != len(before) {
		t.Errorf("tree has %d entries, had %d", len(after), len(before))
	}
	for p, b := range before {
		if a := after[p]; a != b {
			t.Errorf("tree entry %s changed: %+v -> %+v", p, b, a)
		}
	}
	if left := rangesLeft(t, e); len(left) != 0 {
		t.Errorf("id ranges left after gc: %v", left)
	}
}

func TestUsernsNoOverlayVolumes(t *testing.T) {
	e, _ := runEnv(t)
	vol := filepath.Join(e.Root, "vol")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "hostfile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "stat -c %u:%g / /bin/busybox /vol /vol/hostfile > /out; echo y > /vol/new; echo z > /written; touch /vol/ready; sleep 1000"
	cmd, uuid := startPod(t, e, append(nativeFlags(t), "--private-users", "--no-overlay", "--net=none",
		"--volume=v,kind=host,source="+vol, "--mount=volume=v,target=/vol",
		"example.com/busybox", "--exec=/bin/sh", "--", "-c", script)...)
	pod := filepath.Join(e.DataDir, "pods", "run", uuid)
	ids := podRange(t, pod)
	waitFile(t, filepath.Join(vol, "ready"))
	rootfs := filepath.Join(pod, "stage1", "rootfs", "opt", "stage2", "busybox", "rootfs")
	if got := strings.Fields(readFile(t, filepath.Join(rootfs, "out"))); strings.Join(got, " ") != "0:0 0:0 0:0 0:0" {
		t.Errorf("owners inside the pod: %q", got)
	}
	// The pod's private copy is chowned into the range.
	for _, f := range []string{"bin/busybox", "written", "out"} {
		if uid, gid := statOwner(t, filepath.Join(rootfs, f)); uid != ids.Shift || gid != ids.Shift {
			t.Errorf("%s of the pod's copy owned by %d:%d, want %d:%d", f, uid, gid, ids.Shift, ids.Shift)
		}
	}
	// Host root's files are the pod root's through the idmapped volume,
	// both ways.
	if uid, _ := statOwner(t, filepath.Join(vol, "new")); uid != 0 {
		t.Errorf("file written to the volume owned by %d on the host", uid)
	}
	sup, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(pod, "pid"))))
	if err != nil {
		t.Fatal(err)
	}
	for pid, uid := range podUIDs(t, sup) {
		if uid != ids.Shift {
			t.Errorf("pod process %d runs as host uid %d, want %d", pid, uid, ids.Shift)
		}
	}
	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	if left := rangesLeft(t, e); len(left) != 0 {
		t.Errorf("id ranges left after gc: %v", left)
	}
}
