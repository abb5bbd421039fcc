package pod

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/stage1abi"
)

// rdRoot makes a data directory with the whole layout.
func rdRoot(t *testing.T) dirs.Root {
	t.Helper()
	root, err := dirs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Ensure(); err != nil {
		t.Fatal(err)
	}
	return root
}

// rdCreate makes a pod and releases its lock at the end of the test.
func rdCreate(t *testing.T, root dirs.Root) *Pod {
	t.Helper()
	p, err := Create(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func rdWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCreate(t *testing.T) {
	root := rdRoot(t)
	p := rdCreate(t, root)
	if p.Place != Prepare || p.State != StatePreparing {
		t.Fatalf("new pod is %v/%v, want prepare/preparing", p.Place, p.State)
	}
	if want := filepath.Join(root.PodsIn("prepare"), p.UUID); p.Dir() != want {
		t.Errorf("Dir() = %s, want %s", p.Dir(), want)
	}
	if _, err := os.Stat(p.Path(stage1abi.PodCreatedFile)); err != nil {
		t.Errorf("no pod-created marker: %v", err)
	}
	if ents, _ := os.ReadDir(root.PodsIn("embryo")); len(ents) != 0 {
		t.Errorf("embryo/ still holds %d entries", len(ents))
	}
	// Another look (another open file description) sees the lock.
	got, err := Lookup(root, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StatePreparing {
		t.Errorf("looked-up state = %v, want preparing", got.State)
	}
	// The preparer dying (its lock going) turns it into an aborted prepare.
	p.Close()
	if got, _ = Lookup(root, p.UUID); got.State != StateAbortedPrepare {
		t.Errorf("after unlock: %v, want aborted prepare", got.State)
	}
	// Two pods never share a UUID.
	if q := rdCreate(t, root); q.UUID == p.UUID {
		t.Error("two pods with one UUID")
	}
}

func TestLookup(t *testing.T) {
	root := rdRoot(t)
	mk := func(place, id string) {
		if err := os.Mkdir(filepath.Join(root.PodsIn(place), id), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	const (
		a = "aaaaaaaa-1111-4111-8111-111111111111"
		b = "aaaaaaaa-2222-4222-8222-222222222222"
		c = "cccccccc-3333-4333-8333-333333333333"
		g = "dddddddd-4444-4444-8444-444444444444"
		e = "eeeeeeee-5555-4555-8555-555555555555"
	)
	mk("prepared", a)
	mk("run", b)
	mk("exited-garbage", c)
	mk("garbage", g) // not looked up by name (CLI-GEN-05)
	mk("embryo", e)

	for _, tt := range []struct {
		arg, want string
		place     Place
	}{
		{a, a, Prepared},
		{"aaaaaaaa-1", a, Prepared},
		{"AAAAAAAA-2", b, Run},
		{"  c  ", c, ExitedGarbage},
		{c, c, ExitedGarbage},
	} {
		p, err := Lookup(root, tt.arg)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.arg, err)
			continue
		}
		if p.UUID != tt.want || p.Place != tt.place {
			t.Errorf("Lookup(%q) = %s in %v, want %s in %v", tt.arg, p.UUID, p.Place, tt.want, tt.place)
		}
	}
	for _, tt := range []struct {
		arg  string
		is   error
		text string
	}{
		{"", ErrEmptyUUID, "UUID cannot be empty"},
		{" \n", ErrEmptyUUID, "UUID cannot be empty"},
		{"aaaa", ErrAmbiguous, "ambiguous uuid, 2 matches"},
		{"zzz", ErrNoMatch, `no matches found for "zzz"`},
		{"dddd", ErrNoMatch, `no matches found for "dddd"`},
		{"eeee", ErrNoMatch, `no matches found for "eeee"`},
	} {
		_, err := Lookup(root, tt.arg)
		if !errors.Is(err, tt.is) || err.Error() != tt.text {
			t.Errorf("Lookup(%q) = %v, want %q", tt.arg, err, tt.text)
		}
	}
}

func TestMoveTo(t *testing.T) {
	root := rdRoot(t)
	p := rdCreate(t, root)
	old := p.Dir()
	if err := p.MoveTo(Run); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old dir still there: %v", err)
	}
	if p.Place != Run || p.Dir() != filepath.Join(root.PodsIn("run"), p.UUID) {
		t.Fatalf("after MoveTo: place %v dir %s", p.Place, p.Dir())
	}
	// The lock moved with the directory: the pod is running.
	got, err := Open(root, p.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateRunning {
		t.Errorf("state %v, want running", got.State)
	}
	p.Close()
	if err := got.Refresh(); err != nil || got.State != StateExited {
		t.Errorf("after unlock: %v %v, want exited", got.State, err)
	}
	if err := got.MoveTo(ExitedGarbage); err != nil {
		t.Fatal(err)
	}
	if err := p.Refresh(); err != nil || p.Place != ExitedGarbage || p.State != StateExitedGarbage {
		t.Errorf("refresh after gc mark: %v %v %v", p.Place, p.State, err)
	}
	// Moving a pod that is not there any more fails and says so.
	stale := &Pod{UUID: p.UUID, Place: Run, root: root}
	if err := stale.MoveTo(Garbage); err == nil || !strings.Contains(err.Error(), p.UUID) {
		t.Errorf("MoveTo of a gone pod: %v", err)
	}
}

func TestAll(t *testing.T) {
	root := rdRoot(t)
	ids := map[Place]string{
		Embryo:        "60000000-0000-4000-8000-000000000000",
		Prepare:       "50000000-0000-4000-8000-000000000000",
		Prepared:      "40000000-0000-4000-8000-000000000000",
		Run:           "30000000-0000-4000-8000-000000000000",
		ExitedGarbage: "20000000-0000-4000-8000-000000000000",
		Garbage:       "10000000-0000-4000-8000-000000000000",
	}
	for pl, id := range ids {
		if err := os.Mkdir(filepath.Join(root.PodsIn(pl.Dir()), id), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	// Junk: a directory that is no UUID, and a stray file.
	os.Mkdir(filepath.Join(root.PodsIn("run"), "lost+found"), 0o755)
	rdWrite(t, filepath.Join(root.PodsIn("prepared"), "README"), "x")

	pods, errs := All(root)
	var got []string
	for _, p := range pods {
		got = append(got, p.UUID[:1]+":"+p.State.String())
	}
	want := "1:garbage 2:exited garbage 3:exited 4:prepared 5:aborted prepare 6:embryo"
	if strings.Join(got, " ") != want {
		t.Errorf("All = %s\nwant  %s", strings.Join(got, " "), want)
	}
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want 2 (one per junk entry)", errs)
	}
	for _, err := range errs {
		if !strings.Contains(err.Error(), "not a pod") {
			t.Errorf("unexpected error %v", err)
		}
	}
	// A missing pods directory is no pods, not an error.
	empty, _ := dirs.New(t.TempDir())
	if pods, errs := All(empty); len(pods) != 0 || len(errs) != 0 {
		t.Errorf("All on an empty dir: %v %v", pods, errs)
	}
}

func TestCreatedStartedAt(t *testing.T) {
	root := rdRoot(t)
	p := rdCreate(t, root)
	t1 := time.Unix(1_600_000_000, 0)
	t2 := time.Unix(1_600_000_100, 0)
	t3 := time.Unix(1_600_000_200, 0)
	if err := os.Chtimes(p.Path(stage1abi.PodCreatedFile), t1, t1); err != nil {
		t.Fatal(err)
	}
	rdWrite(t, p.Path(stage1abi.PodManifestFile), "{}")
	os.Chtimes(p.Path(stage1abi.PodManifestFile), t2, t2)
	if got, err := p.CreatedAt(); err != nil || !got.Equal(t1) {
		t.Errorf("CreatedAt = %v %v, want %v", got, err, t1)
	}
	// Without pod-created (a pod made by an older rkt) the manifest tells.
	os.Remove(p.Path(stage1abi.PodCreatedFile))
	if got, err := p.CreatedAt(); err != nil || !got.Equal(t2) {
		t.Errorf("CreatedAt from manifest = %v %v, want %v", got, err, t2)
	}
	os.Remove(p.Path(stage1abi.PodManifestFile))
	if _, err := p.CreatedAt(); err == nil {
		t.Error("CreatedAt with neither file: no error")
	}

	if _, ok := p.StartedAt(); ok {
		t.Error("StartedAt of a pod that never ran")
	}
	rdWrite(t, p.Path(stage1abi.PPIDFile), "42")
	os.Chtimes(p.Path(stage1abi.PPIDFile), t2, t2)
	if got, ok := p.StartedAt(); !ok || !got.Equal(t2) {
		t.Errorf("StartedAt from ppid = %v %v", got, ok)
	}
	rdWrite(t, p.Path(stage1abi.PIDFile), "43\n")
	os.Chtimes(p.Path(stage1abi.PIDFile), t3, t3)
	if got, ok := p.StartedAt(); !ok || !got.Equal(t3) {
		t.Errorf("StartedAt from pid = %v %v", got, ok)
	}
	if n, ok := p.PIDFileValue(); !ok || n != 43 {
		t.Errorf("PIDFileValue = %d %v, want 43 (pid beats ppid)", n, ok)
	}
}

func TestAppExitStatuses(t *testing.T) {
	for _, overlay := range []bool{false, true} {
		t.Run(map[bool]string{false: "copied", true: "overlay"}[overlay], func(t *testing.T) {
			root := rdRoot(t)
			p := rdCreate(t, root)
			if got, err := p.AppExitStatuses(); err != nil || len(got) != 0 {
				t.Errorf("before any status: %v %v", got, err)
			}
			statusDir := p.Path(filepath.Join(stage1abi.Stage1RootfsRel, stage1abi.StatusDir))
			if overlay {
				rdWrite(t, p.Path(stage1abi.OverlayPrepared), "")
				statusDir = filepath.Join(p.Stage1UpperDir(), stage1abi.StatusDir)
				// What the (unmounted) overlay's mount point holds does
				// not count.
				rdWrite(t, p.Path(filepath.Join(stage1abi.Stage1RootfsRel, stage1abi.StatusDir, "ghost")), "9")
			}
			rdWrite(t, filepath.Join(statusDir, "web"), "0")
			rdWrite(t, filepath.Join(statusDir, "worker"), "3\n")
			rdWrite(t, filepath.Join(statusDir, "web-created"), "")
			rdWrite(t, filepath.Join(statusDir, "web-started"), "")
			rdWrite(t, filepath.Join(statusDir, "broken"), "not a number")
			got, err := p.AppExitStatuses()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got["web"] != 0 || got["worker"] != 3 {
				t.Errorf("AppExitStatuses = %v, want web=0 worker=3", got)
			}
			if overlay != p.Overlay() {
				t.Errorf("Overlay() = %v", p.Overlay())
			}
		})
	}
}

func TestPIDThroughPPID(t *testing.T) {
	root := rdRoot(t)
	p := rdCreate(t, root)
	if _, err := p.PID(); !errors.Is(err, ErrNoPID) {
		t.Errorf("PID without files: %v, want ErrNoPID", err)
	}
	// A stage1 like nspawn writes ppid: the process to enter is its
	// single child.
	cmd := exec.Command("sh", "-c", "sleep 100 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sh := cmd.Process.Pid
	var child string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(sh) + "/task/" + strconv.Itoa(sh) + "/children")
		if f := strings.Fields(string(b)); len(f) == 1 {
			child = f[0]
			break
		}
	}
	if child == "" {
		t.Fatal("sh never started its child")
	}
	t.Cleanup(func() {
		if n, err := strconv.Atoi(child); err == nil {
			if proc, err := os.FindProcess(n); err == nil {
				proc.Kill()
			}
		}
	})
	rdWrite(t, p.Path(stage1abi.PPIDFile), strconv.Itoa(sh))
	got, err := p.PID()
	if err != nil || strconv.Itoa(got) != child {
		t.Errorf("PID via ppid = %d %v, want %s", got, err, child)
	}
	// A process without exactly one child is an error, not a guess.
	rdWrite(t, p.Path(stage1abi.PPIDFile), child)
	if _, err := p.PID(); err == nil || !strings.Contains(err.Error(), "0 children") {
		t.Errorf("PID via childless ppid: %v", err)
	}
	// pid, when written, is the answer.
	rdWrite(t, p.Path(stage1abi.PIDFile), "77")
	if got, err := p.PID(); err != nil || got != 77 {
		t.Errorf("PID from pid = %d %v", got, err)
	}
	rdWrite(t, p.Path(stage1abi.PIDFile), "-1")
	if _, err := p.PID(); err == nil {
		t.Error("PID accepted -1")
	}
}

func TestNetworks(t *testing.T) {
	root := rdRoot(t)
	p := rdCreate(t, root)
	if nets, err := p.Networks(); err != nil || nets != nil {
		t.Errorf("no net-info.json: %v %v", nets, err)
	}
	rdWrite(t, p.Path(stage1abi.NetInfoFile), `[{"netName":"default","netConf":"/c","pluginPath":"/p","ifName":"eth0","ip":"172.16.28.2","args":"","mask":"255.255.255.0"}]`)
	nets, err := p.Networks()
	if err != nil || len(nets) != 1 || nets[0].NetName != "default" || nets[0].IP != "172.16.28.2" || nets[0].IfName != "eth0" {
		t.Errorf("Networks = %+v %v", nets, err)
	}
	rdWrite(t, p.Path(stage1abi.NetInfoFile), `{`)
	if _, err := p.Networks(); err == nil {
		t.Error("broken net-info.json: no error")
	}
}

// The outline is read without the schema, but its app names, which
// become paths, are checked all the same.
func TestManifestOutline(t *testing.T) {
	p := rdCreate(t, rdRoot(t))
	manifest := p.Path(stage1abi.PodManifestFile)
	rdWrite(t, manifest, `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a"},{"name":"b-2"}],"ports":[{"name":"http","hostPort":8080}]}`)
	o, err := p.ManifestOutline()
	if err != nil || len(o.Apps) != 2 || o.Apps[0] != "a" || o.Apps[1] != "b-2" || o.Ports != 1 {
		t.Fatalf("outline %+v, %v", o, err)
	}
	for _, bad := range []string{`{"apps":[{"name":"../../etc"}]}`, `{"apps":[{}]}`, `{"apps":`} {
		rdWrite(t, manifest, bad)
		if o, err := p.ManifestOutline(); err == nil {
			t.Errorf("%s: outline %+v", bad, o)
		}
	}
}

// WriteStage2 makes the app's directory in the stage1's upper layer and
// links the pod's copy of its manifest there; an existing one is kept.
func TestWriteStage2(t *testing.T) {
	root := rdRoot(t)
	p := rdCreate(t, root)
	rdWrite(t, p.Path(stage1abi.OverlayPrepared), "")
	for _, app := range []string{"web", "worker"} {
		rdWrite(t, p.Path(filepath.Join(stage1abi.AppsInfoDir, app, stage1abi.AppManifestFile)), `{"name":"`+app+`"}`)
		if err := p.WriteStage2(app); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []string{"web", "worker"} {
		dir := filepath.Join(p.Stage1UpperDir(), stage1abi.Stage2Dir, app)
		if fi, err := os.Stat(filepath.Join(dir, "rootfs")); err != nil || !fi.IsDir() {
			t.Errorf("%s: rootfs: %v", app, err)
		}
		got, err := os.Stat(filepath.Join(dir, "manifest"))
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.Stat(p.Path(filepath.Join(stage1abi.AppsInfoDir, app, stage1abi.AppManifestFile)))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(got, src) {
			t.Errorf("%s: the stage2 manifest is not a link of appsinfo's", app)
		}
	}
	// A pod without the app info has nothing to write.
	if err := p.WriteStage2("ghost"); err == nil {
		t.Error("WriteStage2 of an app without info succeeded")
	}
	// Kept, and a second call changes nothing.
	m := filepath.Join(p.Stage1UpperDir(), stage1abi.Stage2Dir, "web", "manifest")
	if err := p.WriteStage2("web"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(m); string(b) != `{"name":"web"}` {
		t.Errorf("manifest %q", b)
	}
}
