package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

// The pod read commands (list, status, cat-manifest) on pod directories
// made by hand, the way prepare and a stage1 leave them on disk (reference
// §3.4, §3.5), so that they are tested without running a pod.

type prApp struct {
	name, image, version string
	status               string // exit status file; "" for none
}

type prPod struct {
	uuid    string
	place   string // directory under pods/
	apps    []prApp
	created time.Time
	started time.Time // zero: never started
	nets    string    // net-info.json
	noPod   bool      // no manifest (a prepare that died early)
}

const (
	prExited   = "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	prPrepared = "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	prRunning  = "33333333-cccc-4ccc-8ccc-cccccccccccc"
	prGarbage  = "44444444-dddd-4ddd-8ddd-dddddddddddd"
	prAborted  = "55555555-eeee-4eee-8eee-eeeeeeeeeeee"
	prHidden   = "66666666-ffff-4fff-8fff-ffffffffffff"

	prNets = `[{"netName":"default","netConf":"net.d/10-default.conf","pluginPath":"/p/ptp","ifName":"eth0","ip":"172.16.28.2","args":"","mask":"255.255.0.0"},` +
		`{"netName":"lan","netConf":"net.d/20-lan.conf","pluginPath":"/p/bridge","ifName":"eth1","ip":"10.1.0.7","args":"","mask":"255.255.255.0"}]`
)

func prImageID(image string) string {
	return "sha512-" + strings.Repeat(map[string]string{"example.com/web": "1", "example.com/db": "2", "example.com/job": "3"}[image], 128)
}

func prWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func prTouch(t *testing.T, path string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

// prMakePod writes one pod directory and returns it.
func prMakePod(t *testing.T, e *harness.Env, p prPod) string {
	t.Helper()
	dir := filepath.Join(e.DataDir, "pods", p.place, p.uuid)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	type label struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var apps []any
	for _, a := range p.apps {
		var labels []label
		if a.version != "" {
			labels = append(labels, label{"version", a.version})
		}
		apps = append(apps, map[string]any{
			"name":  a.name,
			"image": map[string]any{"name": a.image, "id": prImageID(a.image), "labels": labels},
			"app":   map[string]any{"exec": []string{"/bin/" + a.name}, "user": "0", "group": "0"},
		})
		im, _ := json.Marshal(map[string]any{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": a.image,
			"labels": append([]label{{"os", "linux"}}, labels...)})
		prWrite(t, filepath.Join(dir, "appsinfo", a.name, "manifest"), string(im))
		if a.status != "" {
			prWrite(t, filepath.Join(dir, "stage1", "rootfs", "rkt", "status", a.name), a.status)
		}
	}
	if !p.noPod {
		pm, _ := json.Marshal(map[string]any{"acVersion": "0.8.11", "acKind": "PodManifest", "apps": apps})
		prWrite(t, filepath.Join(dir, "pod"), string(pm))
	}
	prWrite(t, filepath.Join(dir, "pod-created"), "")
	prTouch(t, filepath.Join(dir, "pod-created"), p.created)
	if !p.started.IsZero() {
		prWrite(t, filepath.Join(dir, "ppid"), "4242")
		prTouch(t, filepath.Join(dir, "ppid"), p.started)
	}
	if p.nets != "" {
		prWrite(t, filepath.Join(dir, "net-info.json"), p.nets)
	}
	return dir
}

// prLock holds an exclusive flock on dir, as a stage1 holds its pod's,
// until release is called or the test ends.
func prLock(t *testing.T, dir string) (release func()) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			f.Close()
		}
	}
	t.Cleanup(release)
	return release
}

type prFixture struct {
	e                *harness.Env
	created, started time.Time
	release          func() // lets the running pod exit
}

func prSetup(t *testing.T) *prFixture {
	e := harness.NewEnv(t)
	for _, d := range []string{"embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"} {
		if err := os.MkdirAll(filepath.Join(e.DataDir, "pods", d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	f := &prFixture{e: e,
		created: time.Date(2020, 1, 2, 3, 4, 5, 600_000_000, time.UTC),
		started: time.Date(2020, 1, 2, 3, 5, 0, 0, time.UTC)}
	web := prApp{name: "web", image: "example.com/web", version: "1.0", status: "0"}
	prMakePod(t, e, prPod{uuid: prExited, place: "run", created: f.created, started: f.started, nets: prNets,
		apps: []prApp{web, {name: "db", image: "example.com/db", status: "3"}}})
	prMakePod(t, e, prPod{uuid: prPrepared, place: "prepared", created: f.created,
		apps: []prApp{{name: "web", image: "example.com/web", version: "1.0"}}})
	running := prMakePod(t, e, prPod{uuid: prRunning, place: "run", created: f.created, started: f.started, nets: prNets,
		apps: []prApp{{name: "web", image: "example.com/web", version: "1.0"}}})
	f.release = prLock(t, running)
	prMakePod(t, e, prPod{uuid: prGarbage, place: "exited-garbage", created: f.created, started: f.started, nets: prNets,
		apps: []prApp{{name: "job", image: "example.com/job", version: "2", status: "1"}}})
	prMakePod(t, e, prPod{uuid: prAborted, place: "prepare", created: f.created, noPod: true})
	prMakePod(t, e, prPod{uuid: prHidden, place: "garbage", created: f.created,
		apps: []prApp{{name: "web", image: "example.com/web"}}})
	return f
}

// prFields splits table lines into their non-empty cells.
func prFields(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var cells []string
		for _, c := range strings.Split(l, "\t") {
			if c != "" {
				cells = append(cells, c)
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

func TestPodReadList(t *testing.T) {
	f := prSetup(t)
	e := f.e
	r := e.Rkt("list").OK(t)
	if r.Stderr != "" {
		t.Errorf("stderr: %s", r.Stderr)
	}
	years := "years ago"
	got := prFields(r.Stdout)
	want := [][]string{
		{"UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS"},
		{"11111111", "web", "example.com/web:1.0", "exited", years, years, "default:ip4=172.16.28.2, lan:ip4=10.1.0.7"},
		{"db", "example.com/db"},
		{"22222222", "web", "example.com/web:1.0", "prepared", years},
		{"33333333", "web", "example.com/web:1.0", "running", years, years, "default:ip4=172.16.28.2, lan:ip4=10.1.0.7"},
		{"44444444", "job", "example.com/job:2", "exited garbage", years, years},
		{"55555555", "-", "-", "aborted prepare", years},
	}
	if len(got) != len(want) {
		t.Fatalf("list:\n%s", r.Stdout)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Errorf("row %d = %q, want %q", i, got[i], want[i])
			continue
		}
		for j := range want[i] {
			if want[i][j] == years {
				if !strings.HasSuffix(got[i][j], " years ago") {
					t.Errorf("row %d col %d = %q, want N years ago", i, j, got[i][j])
				}
			} else if got[i][j] != want[i][j] {
				t.Errorf("row %d col %d = %q, want %q", i, j, got[i][j], want[i][j])
			}
		}
	}
	// The continuation row leaves the pod's columns empty: the app is the
	// second cell of a tab-separated line starting with empty cells.
	if lines := strings.Split(r.Stdout, "\n"); !strings.HasPrefix(lines[2], "\t") {
		t.Errorf("continuation row %q", lines[2])
	}

	long := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.999 -0700 MST") }
	r = e.Rkt("list", "--full", "--no-legend").OK(t)
	got = prFields(r.Stdout)
	wantFull := [][]string{
		{prExited, "web", "example.com/web:1.0", "sha512-111111111111", "exited", long(f.created), long(f.started), "default:ip4=172.16.28.2, lan:ip4=10.1.0.7"},
		{"db", "example.com/db", "sha512-222222222222"},
		{prPrepared, "web", "example.com/web:1.0", "sha512-111111111111", "prepared", long(f.created)},
		{prRunning, "web", "example.com/web:1.0", "sha512-111111111111", "running", long(f.created), long(f.started), "default:ip4=172.16.28.2, lan:ip4=10.1.0.7"},
		{prGarbage, "job", "example.com/job:2", "sha512-333333333333", "exited garbage", long(f.created), long(f.started)},
		{prAborted, "-", "-", "-", "aborted prepare", long(f.created)},
	}
	if strings.Join(flat(got), "|") != strings.Join(flat(wantFull), "|") {
		t.Errorf("list --full --no-legend:\n%s\nwant cells:\n%q", r.Stdout, wantFull)
	}
	if strings.Contains(r.Stdout, prHidden) {
		t.Error("garbage pod listed")
	}
	hdr := prFields(e.Rkt("list", "--full").OK(t).Stdout)[0]
	if strings.Join(hdr, "|") != "UUID|APP|IMAGE NAME|IMAGE ID|STATE|CREATED|STARTED|NETWORKS" {
		t.Errorf("--full legend %q", hdr)
	}
}

func flat(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join(r, ","))
	}
	return out
}

func TestPodReadListJSON(t *testing.T) {
	f := prSetup(t)
	e := f.e
	for _, format := range []string{"json", "json-pretty"} {
		r := e.Rkt("list", "--format="+format).OK(t)
		if (format == "json") != (strings.Count(r.Stdout, "\n") == 1) {
			t.Errorf("--format=%s layout:\n%s", format, r.Stdout)
		}
		var pods []struct {
			Name     string `json:"name"`
			State    string `json:"state"`
			Networks []struct {
				NetName string `json:"netName"`
				IP      string `json:"ip"`
			} `json:"networks"`
			AppNames []string `json:"app_names"`
			Apps     []struct {
				Name       string `json:"name"`
				State      string `json:"state"`
				ExitCode   *int   `json:"exit_code"`
				ImageID    string `json:"image_id"`
				FinishedAt *int64 `json:"finished_at"`
			} `json:"apps"`
			CreatedAt int64  `json:"created_at"`
			StartedAt *int64 `json:"started_at"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &pods); err != nil {
			t.Fatalf("%v:\n%s", err, r.Stdout)
		}
		var names []string
		for _, p := range pods {
			names = append(names, p.Name)
		}
		if strings.Join(names, " ") != strings.Join([]string{prExited, prPrepared, prRunning, prGarbage, prAborted}, " ") {
			t.Fatalf("pods %v", names)
		}
		ex := pods[0]
		if ex.State != "exited" || ex.CreatedAt != f.created.Unix() || ex.StartedAt == nil || *ex.StartedAt != f.started.Unix() ||
			len(ex.Networks) != 2 || ex.Networks[0].IP != "172.16.28.2" || strings.Join(ex.AppNames, ",") != "web,db" {
			t.Errorf("exited pod: %+v", ex)
		}
		if db := ex.Apps[1]; db.State != "exited" || db.ExitCode == nil || *db.ExitCode != 3 || db.ImageID != prImageID("example.com/db") {
			t.Errorf("app db: %+v", db)
		}
		if pods[1].State != "prepared" || pods[1].StartedAt != nil || pods[1].Apps[0].State != "created" {
			t.Errorf("prepared pod: %+v", pods[1])
		}
		if pods[2].State != "running" || pods[2].Apps[0].State != "running" || pods[2].Apps[0].ExitCode != nil {
			t.Errorf("running pod: %+v", pods[2])
		}
		if g := pods[3]; g.State != "exited garbage" || g.Networks != nil || g.Apps[0].FinishedAt == nil {
			t.Errorf("exited garbage pod: %+v", g)
		}
		if a := pods[4]; a.State != "aborted prepare" || a.Apps != nil {
			t.Errorf("aborted prepare: %+v", a)
		}
	}
	// No pods: null.
	e2 := harness.NewEnv(t)
	if r := e2.Rkt("list", "--format=json").OK(t); r.Stdout != "null\n" {
		t.Errorf("empty: %q", r.Stdout)
	}
	if r := e2.Rkt("list", "--no-legend").OK(t); r.Stdout != "" {
		t.Errorf("empty table: %q", r.Stdout)
	}
}

func TestPodReadListErrors(t *testing.T) {
	e := harness.NewEnv(t)
	prMakePod(t, e, prPod{uuid: prExited, place: "run", created: time.Now(), apps: []prApp{{name: "web", image: "example.com/web"}}})
	prWrite(t, filepath.Join(e.DataDir, "pods", "run", prExited, "pod"), "{broken")
	prMakePod(t, e, prPod{uuid: prPrepared, place: "prepared", created: time.Now(), apps: []prApp{{name: "web", image: "example.com/web"}}})
	os.RemoveAll(filepath.Join(e.DataDir, "pods", "prepared", prPrepared, "appsinfo"))
	os.MkdirAll(filepath.Join(e.DataDir, "pods", "run", "not-a-pod"), 0o750)
	r := e.Rkt("list", "--no-legend").OK(t)
	rows := prFields(r.Stdout)
	if len(rows) != 2 || rows[0][1] != "-" || rows[1][1] != "web" || rows[1][2] != "--" {
		t.Errorf("list:\n%s", r.Stdout)
	}
	for _, want := range []string{"rkt: 3 error(s) encountered when listing pods:", prExited, prPrepared, "not-a-pod"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
}

func TestPodReadStatus(t *testing.T) {
	f := prSetup(t)
	e := f.e
	long := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.999 -0700 MST") }
	head := "created=" + long(f.created) + "\n"
	ran := head + "started=" + long(f.started) + "\n"
	nets := "networks=default:ip4=172.16.28.2, lan:ip4=10.1.0.7\n"
	for uuid, want := range map[string]string{
		prPrepared: "state=prepared\n" + head,
		prAborted:  "state=aborted prepare\n" + head,
		prExited:   "state=exited\n" + ran + nets + "pid=4242\nexited=true\napp-web=0\napp-db=3\n",
		prRunning:  "state=running\n" + ran + nets + "pid=4242\nexited=false\n",
		prGarbage:  "state=exited garbage\n" + ran + "pid=4242\nexited=true\napp-job=1\n",
	} {
		if r := e.Rkt("status", uuid).OK(t); r.Stdout != want {
			t.Errorf("status %s:\n%s\nwant:\n%s", uuid, r.Stdout, want)
		}
		if r := e.Rkt("status", uuid[:4]).OK(t); r.Stdout != want {
			t.Errorf("status by prefix %s:\n%s", uuid[:4], r.Stdout)
		}
	}
	r := e.Rkt("status", "--format=json", prExited).OK(t)
	var obj struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Apps  []struct {
			ExitCode *int `json:"exit_code"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &obj); err != nil || obj.Name != prExited || obj.State != "exited" || len(obj.Apps) != 2 || *obj.Apps[1].ExitCode != 3 {
		t.Errorf("status --format=json: %v\n%s", err, r.Stdout)
	}

	// Errors (reference CLI-GEN-05).
	e.Rkt("status", "nosuch").Fails(t, 254, `rkt: no matches found for "nosuch"`)
	e.Rkt("status", prHidden).Fails(t, 254, "no matches found")
	os.Mkdir(filepath.Join(e.DataDir, "pods", "prepared", "11111111-0000-4000-8000-000000000000"), 0o750)
	e.Rkt("status", "1111").Fails(t, 254, "rkt: ambiguous uuid, 2 matches")
	e.Rkt("status", "").Fails(t, 254, "rkt: UUID cannot be empty")
	e.Rkt("status").Fails(t, 254, "Usage: rkt status")
	e.Rkt("status", "--wait=later", prExited).Fails(t, 254, "--wait")
}

func TestPodReadStatusWait(t *testing.T) {
	f := prSetup(t)
	e := f.e
	e.Rkt("status", "--wait=300ms", prRunning).Fails(t, 254, "context deadline exceeded")
	e.Rkt("status", "--wait-ready=300ms", prRunning).Fails(t, 254, "context deadline exceeded")
	if r := e.Rkt("status", "--wait", prExited).OK(t); !strings.HasPrefix(r.Stdout, "state=exited\n") {
		t.Errorf("--wait on an exited pod:\n%s", r.Stdout)
	}
	if r := e.Rkt("status", "--wait=5s", prGarbage).OK(t); !strings.HasPrefix(r.Stdout, "state=exited garbage\n") {
		t.Errorf("--wait=5s on an exited garbage pod:\n%s", r.Stdout)
	}
	// The supervisor says ready, then the stage1 exits while we wait.
	link := filepath.Join(e.DataDir, "pods", "run", prRunning, "stage1", "rootfs", "rkt", "supervisor-status")
	os.MkdirAll(filepath.Dir(link), 0o750)
	if err := os.Symlink("ready", link); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	time.AfterFunc(500*time.Millisecond, func() { f.release(); close(released) })
	r := e.Rkt("status", "--wait-ready", "--wait=30s", prRunning).OK(t)
	<-released
	if !strings.HasPrefix(r.Stdout, "state=exited\n") || !strings.Contains(r.Stdout, "\nexited=true\n") {
		t.Errorf("after waiting:\n%s", r.Stdout)
	}
}

func TestPodReadUUIDFileAndCatManifest(t *testing.T) {
	f := prSetup(t)
	e := f.e
	file := filepath.Join(e.Root, "uuid")
	prWrite(t, file, prExited+"\n")
	if r := e.Rkt("status", "--uuid-file="+file).OK(t); !strings.HasPrefix(r.Stdout, "state=exited\n") {
		t.Errorf("status --uuid-file:\n%s", r.Stdout)
	}
	missing := filepath.Join(e.Root, "missing")
	e.Rkt("status", "--uuid-file="+missing).Fails(t, 1, "UUID file")
	e.Rkt("status", "--uuid-file="+file, prExited).Fails(t, 254, "not both")
	e.Rkt("cat-manifest", "--uuid-file="+missing).Fails(t, 254, "UUID file")

	pretty := e.Rkt("cat-manifest", "--uuid-file", file).OK(t).Stdout
	if !strings.HasPrefix(pretty, "{\n\t\"acVersion\": \"0.8.11\",\n\t\"acKind\": \"PodManifest\",\n") {
		t.Errorf("cat-manifest:\n%s", pretty)
	}
	compact := e.Rkt("cat-manifest", "--pretty-print=false", prExited[:8]).OK(t).Stdout
	if strings.Count(compact, "\n") != 1 || !strings.HasPrefix(compact, `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"web",`) {
		t.Errorf("cat-manifest --pretty-print=false:\n%s", compact)
	}
	var a, b map[string]any
	if json.Unmarshal([]byte(pretty), &a) != nil || json.Unmarshal([]byte(compact), &b) != nil || len(a["apps"].([]any)) != 2 {
		t.Errorf("cat-manifest output is not the manifest")
	}
	e.Rkt("cat-manifest", "nosuch").Fails(t, 254, `rkt: no matches found for "nosuch"`)
	e.Rkt("cat-manifest", prAborted).Fails(t, 254, "manifest")
}
