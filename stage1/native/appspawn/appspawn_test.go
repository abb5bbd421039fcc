package appspawn_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/appspawn/appspawntest"
	"github.com/rkt/rkt/stage1/native/security/caps/capset"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
}

// errnoFilter returns EPERM for mkdir and mkdirat, and allows the rest
// (a test filter: it does not check the architecture).
func errnoFilter() []unix.SockFilter {
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK = unix.BPF_RET | unix.BPF_K
	)
	return []unix.SockFilter{
		{Code: ldW, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 2, K: unix.SYS_MKDIR},
		{Code: jeq, Jt: 1, K: unix.SYS_MKDIRAT},
		{Code: retK, K: unix.SECCOMP_RET_ALLOW},
		{Code: retK, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	}
}

func TestStartAppliesEverything(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	oom := 321
	nbs := uint64(1) << unix.CAP_NET_BIND_SERVICE
	out, ws, err := appspawntest.Run(t, &appspawn.Spec{
		Path: "/bin/sh",
		Argv: []string{"sh", "-c", `grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; ` +
			`echo oom=$(cat /proc/self/oom_score_adj) pwd=$(pwd) env=$FOO; mkdir sub 2>/dev/null || echo mkdir-denied`},
		Env:         []string{"FOO=bar", "PATH=/usr/bin:/bin"},
		Dir:         dir,
		Setpgid:     true,
		UID:         1234,
		GID:         2345,
		Groups:      []uint32{2345, 7},
		Caps:        capset.Masks{Bounding: nbs | 1<<unix.CAP_CHOWN, Effective: nbs, Permitted: nbs, Ambient: nbs},
		NoNewPrivs:  true,
		Seccomp:     errnoFilter(),
		OOMScoreAdj: &oom,
	})
	if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("status %v, %v; output:\n%s", ws, err, out)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	want := map[string]string{
		"Uid": "1234 1234 1234 1234", "Gid": "2345 2345 2345 2345", "Groups": "7 2345",
		"CapInh": "0000000000000400", "CapPrm": "0000000000000400", "CapEff": "0000000000000400",
		"CapBnd": "0000000000000401", "CapAmb": "0000000000000400",
		"NoNewPrivs": "1", "Seccomp": "2",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%s: %q, want %q", k, fields[k], v)
		}
	}
	if !strings.Contains(out, "oom=321 pwd="+dir+" env=bar") || !strings.Contains(out, "mkdir-denied") {
		t.Errorf("output:\n%s", out)
	}
	if _, err := os.Stat(dir + "/sub"); err == nil {
		t.Error("the filter let mkdir through")
	}
}

func TestStartAsRootKeepsTheBoundingSetOnly(t *testing.T) {
	needRoot(t)
	out, ws, err := appspawntest.Run(t, &appspawn.Spec{
		Path: "/bin/sh",
		Argv: []string{"sh", "-c", `grep -E '^(Uid|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status`},
		Caps: capset.Masks{Bounding: 1 << unix.CAP_KILL},
	})
	if err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("status %v, %v; output:\n%s", ws, err, out)
	}
	for _, want := range []string{"CapBnd:\t0000000000000020", "NoNewPrivs:\t0", "Seccomp:\t0", "Uid:\t0\t0\t0\t0"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

func TestStartReportsTheFailedStep(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		spec appspawn.Spec
		want string
	}{
		{appspawn.Spec{Path: "/nonexistent/prog", Argv: []string{"prog"}}, "execute /nonexistent/prog: no such file or directory"},
		{appspawn.Spec{Path: "/bin/sh", Argv: []string{"sh"}, Dir: "/nonexistent-dir"}, "chdir /nonexistent-dir: no such file or directory"},
	} {
		_, ws, err := appspawntest.Run(t, &c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
		if !ws.Exited() || ws.ExitStatus() != 254 {
			t.Errorf("%s: status %v, want exit 254", c.want, ws)
		}
	}
}

func TestStartRefusesAnEmptySpec(t *testing.T) {
	if _, err := appspawn.Start(&appspawn.Spec{}, -1); err == nil {
		t.Error("Start of an empty spec succeeded")
	}
}

// userNS returns a user namespace mapping 0..65535 to shift.. (a child
// of ours that made it is gone; the fd keeps it).
func userNS(t *testing.T, shift int) *os.File {
	t.Helper()
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: shift, Size: 65536}}
	cmd := exec.Command("/bin/sh", "-c", "read x")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, UidMappings: m, GidMappings: m, GidMappingsEnableSetgroups: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no user namespace: %v", err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	w.Close()
	_ = cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// In a user namespace (--private-users) the process has the namespace's
// view of its ids and the shifted ids on the host.
func TestStartInUserNS(t *testing.T) {
	needRoot(t)
	const shift = 300000
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	out, ws, err := appspawntest.Run(t, &appspawn.Spec{
		Path:   "/bin/sh",
		Argv:   []string{"sh", "-c", `echo uid=$(id -u) gid=$(id -g); cat /proc/self/uid_map; touch ` + dir + `/f; grep -E '^CapEff:' /proc/self/status`},
		UID:    1000,
		GID:    1000,
		Groups: []uint32{1000, 5},
		Caps:   capset.Masks{Bounding: 1 << unix.CAP_CHOWN},
		UserNS: userNS(t, shift),
	})
	if err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("status %v, %v; output:\n%s", ws, err, out)
	}
	if !strings.Contains(out, "uid=1000 gid=1000") || !strings.Contains(out, "300000") {
		t.Errorf("output:\n%s", out)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir+"/f", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != shift+1000 || st.Gid != shift+1000 {
		t.Errorf("file made in the namespace owned by %d:%d on the host, want %d:%d", st.Uid, st.Gid, shift+1000, shift+1000)
	}
}

// Apps are started side by side (appspawn's forks share the fork lock):
// each child gets its own spec, and all of them run.
func TestStartSideBySide(t *testing.T) {
	needRoot(t)
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	const n = 8
	type result struct {
		out    string
		status int
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, w, err := os.Pipe()
			if err != nil {
				results[i].err = err
				return
			}
			defer r.Close()
			pe, err := appspawn.Start(&appspawn.Spec{
				Path: "/bin/sh", Argv: []string{"sh", "-c", "echo app $N; exit $N", "sh"},
				Env: []string{"N=" + strconv.Itoa(i)}, Dir: "/", RootFD: root,
				Stdio: [3]*os.File{nil, w, w},
			}, -1)
			w.Close()
			if err != nil {
				results[i].err = err
				return
			}
			if err := pe.Wait(); err != nil {
				results[i].err = err
				return
			}
			out, _ := io.ReadAll(r)
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pe.Pid, &ws, 0, nil); err != nil {
				results[i].err = err
				return
			}
			results[i] = result{out: string(out), status: ws.ExitStatus()}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Errorf("app %d: %v", i, r.err)
			continue
		}
		if want := "app " + strconv.Itoa(i) + "\n"; r.out != want || r.status != i {
			t.Errorf("app %d: wrote %q and exited %d, want %q and %d", i, r.out, r.status, want, i)
		}
	}
}
