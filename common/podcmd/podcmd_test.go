package podcmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/ui"
)

// Hand-made pods: what prepare and a stage1 would leave in the pod
// directory, without running either.

type fakeApp struct {
	name, image, version string
	status               string // exit status file content; "" for none
	noAppsInfo           bool   // the pod's copy of the image manifest is missing
}

type fakePod struct {
	place    pod.Place // Prepare means an aborted prepare
	running  bool      // in Run: the lock stays held until the test ends
	apps     []fakeApp
	created  time.Time
	started  time.Time // zero: never started (no pid file)
	nets     string    // net-info.json
	manifest string    // raw manifest instead of one made from apps
	overlay  bool      // exit statuses in the overlay's upper dir
}

func imageID(name string) string {
	h := strings.Repeat(hexOf(name), 128)
	return "sha512-" + h[:128]
}

func hexOf(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func podManifestJSON(apps []fakeApp) string {
	type label struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var list []map[string]any
	for _, a := range apps {
		img := map[string]any{"name": a.image, "id": imageID(a.image)}
		if a.version != "" {
			img["labels"] = []label{{"version", a.version}}
		}
		list = append(list, map[string]any{
			"name":  a.name,
			"image": img,
			"app":   map[string]any{"exec": []string{"/bin/" + a.name}, "user": "0", "group": "0"},
		})
	}
	b, _ := json.Marshal(map[string]any{
		"acVersion": "0.8.11", "acKind": "PodManifest", "apps": list,
		"userLabels": map[string]string{"team": "x"},
	})
	return string(b)
}

func imageManifestJSON(a fakeApp) string {
	m := map[string]any{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": a.image}
	labels := []map[string]string{{"name": "os", "value": "linux"}}
	if a.version != "" {
		labels = append(labels, map[string]string{"name": "version", "value": a.version})
	}
	m["labels"] = labels
	b, _ := json.Marshal(m)
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, path string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

func newRoot(t *testing.T) dirs.Root {
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

// makePod builds a pod with pod.Create, fills its directory and moves it
// to its place.
func makePod(t *testing.T, root dirs.Root, f fakePod) *pod.Pod {
	t.Helper()
	p, err := pod.Create(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if f.created.IsZero() {
		f.created = time.Now()
	}
	if f.place != pod.Prepare {
		m := f.manifest
		if m == "" {
			m = podManifestJSON(f.apps)
		}
		writeFile(t, p.Path(stage1abi.PodManifestFile), m)
	}
	touch(t, p.Path(stage1abi.PodCreatedFile), f.created)
	statusDir := p.Path(filepath.Join(stage1abi.Stage1RootfsRel, stage1abi.StatusDir))
	if f.overlay {
		writeFile(t, p.Path(stage1abi.OverlayPrepared), "")
		statusDir = filepath.Join(p.Stage1UpperDir(), stage1abi.StatusDir)
	}
	for _, a := range f.apps {
		if !a.noAppsInfo {
			writeFile(t, p.Path(filepath.Join(stage1abi.AppsInfoDir, a.name, stage1abi.AppManifestFile)), imageManifestJSON(a))
		}
		if a.status != "" {
			writeFile(t, filepath.Join(statusDir, a.name), a.status)
		}
	}
	if !f.started.IsZero() {
		writeFile(t, p.Path(stage1abi.PIDFile), "4242")
		touch(t, p.Path(stage1abi.PIDFile), f.started)
	}
	if f.nets != "" {
		writeFile(t, p.Path(stage1abi.NetInfoFile), f.nets)
	}
	switch f.place {
	case pod.Prepare:
	case pod.Prepared, pod.Run, pod.Garbage:
		if err := p.MoveTo(f.place); err != nil {
			t.Fatal(err)
		}
	case pod.ExitedGarbage:
		if err := p.MoveTo(pod.Run); err != nil {
			t.Fatal(err)
		}
		if err := p.MoveTo(pod.ExitedGarbage); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("makePod: place %v", f.place)
	}
	if !f.running {
		p.Close()
	}
	return p
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, root dirs.Root, c *cli.Command, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(c, append([]string{"--dir=" + root.Path()}, args...), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func (r result) fails(t *testing.T, code int, msg string) result {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, msg) {
		t.Fatalf("want exit %d and %q on stderr; got exit %d\nstdout:\n%s\nstderr:\n%s", code, msg, r.code, r.stdout, r.stderr)
	}
	return r
}

// table renders rows the way rkt list aligns them.
func table(rows ...[]string) string {
	var b bytes.Buffer
	tw := ui.NewTable(&b)
	for _, r := range rows {
		tw.Write([]byte(strings.Join(r, "\t") + "\n"))
	}
	tw.Flush()
	return b.String()
}

const twoNets = `[{"netName":"default","netConf":"net.d/10-default.conf","pluginPath":"/p/ptp","ifName":"eth0","ip":"172.16.28.2","args":"","mask":"255.255.0.0"},` +
	`{"netName":"lan","netConf":"net.d/20-lan.conf","pluginPath":"/p/bridge","ifName":"eth1","ip":"10.1.0.7","args":"","mask":"255.255.255.0"}]`

// fixture is a data dir holding one pod of every kind list shows, and two
// it does not.
type fixture struct {
	root                                        dirs.Root
	exited, prepared, aborted, garbage, running *pod.Pod
	created, started                            time.Time
	hidden                                      []*pod.Pod
}

func newFixture(t *testing.T) *fixture {
	now := time.Now()
	f := &fixture{root: newRoot(t), created: now.Add(-3*time.Hour - time.Minute), started: now.Add(-2*time.Hour - time.Minute)}
	f.exited = makePod(t, f.root, fakePod{place: pod.Run, created: f.created, started: f.started, nets: twoNets,
		apps: []fakeApp{{name: "web", image: "example.com/web", version: "1.0", status: "0"}, {name: "db", image: "example.com/db", status: "3"}}})
	f.prepared = makePod(t, f.root, fakePod{place: pod.Prepared, created: f.created,
		apps: []fakeApp{{name: "web", image: "example.com/web", version: "1.0"}}})
	f.aborted = makePod(t, f.root, fakePod{place: pod.Prepare, created: f.created})
	f.garbage = makePod(t, f.root, fakePod{place: pod.ExitedGarbage, created: f.created, started: f.started, nets: twoNets,
		apps: []fakeApp{{name: "job", image: "example.com/job", version: "2", status: "1"}}})
	f.running = makePod(t, f.root, fakePod{place: pod.Run, running: true, created: f.created, started: f.started, nets: twoNets,
		apps: []fakeApp{{name: "web", image: "example.com/web", version: "1.0"}}})
	f.hidden = []*pod.Pod{
		makePod(t, f.root, fakePod{place: pod.Garbage, apps: []fakeApp{{name: "x", image: "example.com/x"}}}),
	}
	return f
}

// rows returns the expected table rows of each pod, in UUID order.
func (f *fixture) rows(full bool) [][]string {
	when := func(t time.Time) string {
		if full {
			return t.Format(ui.LongTime)
		}
		return ui.Ago(t, time.Now())
	}
	short := func(p *pod.Pod) string {
		if full {
			return p.UUID
		}
		return p.UUID[:8]
	}
	id := func(image string) []string {
		if full {
			return []string{imageID(image)[:19]}
		}
		return nil
	}
	cols := func(c ...any) []string {
		var out []string
		for _, x := range c {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case []string:
				out = append(out, x...)
			}
		}
		return out
	}
	nets := "default:ip4=172.16.28.2, lan:ip4=10.1.0.7"
	byPod := map[string][][]string{
		f.exited.UUID: {
			cols(short(f.exited), "web", "example.com/web:1.0", id("example.com/web"), "exited", when(f.created), when(f.started), nets),
			cols("", "db", "example.com/db", id("example.com/db"), "", "", "", ""),
		},
		f.prepared.UUID: {cols(short(f.prepared), "web", "example.com/web:1.0", id("example.com/web"), "prepared", when(f.created), "", "")},
		f.aborted.UUID:  {cols(short(f.aborted), "-", "-", map[bool][]string{true: {"-"}}[full], "aborted prepare", when(f.created), "", "")},
		f.garbage.UUID:  {cols(short(f.garbage), "job", "example.com/job:2", id("example.com/job"), "exited garbage", when(f.created), when(f.started), "")},
		f.running.UUID:  {cols(short(f.running), "web", "example.com/web:1.0", id("example.com/web"), "running", when(f.created), when(f.started), nets)},
	}
	var ids []string
	for id := range byPod {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out [][]string
	for _, id := range ids {
		out = append(out, byPod[id]...)
	}
	return out
}

var (
	legend     = []string{"UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS"}
	fullLegend = []string{"UUID", "APP", "IMAGE NAME", "IMAGE ID", "STATE", "CREATED", "STARTED", "NETWORKS"}
)

func TestListTable(t *testing.T) {
	f := newFixture(t)
	r := run(t, f.root, List()).ok(t)
	if want := table(append([][]string{legend}, f.rows(false)...)...); r.stdout != want {
		t.Errorf("list:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = run(t, f.root, List(), "--full").ok(t)
	if want := table(append([][]string{fullLegend}, f.rows(true)...)...); r.stdout != want {
		t.Errorf("list --full:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = run(t, f.root, List(), "--no-legend").ok(t)
	if want := table(f.rows(false)...); r.stdout != want {
		t.Errorf("list --no-legend:\n%s\nwant:\n%s", r.stdout, want)
	}
	if strings.Contains(r.stdout, f.hidden[0].UUID[:8]) {
		t.Errorf("garbage pod listed:\n%s", r.stdout)
	}
}

// TestListGolden pins the exact bytes of a small listing.
func TestListGolden(t *testing.T) {
	root := newRoot(t)
	created := time.Now().Add(-90 * time.Minute)
	p := makePod(t, root, fakePod{place: pod.Prepared, created: created,
		apps: []fakeApp{{name: "a", image: "example.com/a", version: "1"}, {name: "bb", image: "example.com/bb"}}})
	r := run(t, root, List()).ok(t)
	want := "UUID\t\tAPP\tIMAGE NAME\tSTATE\t\tCREATED\t\tSTARTED\tNETWORKS\n" +
		p.UUID[:8] + "\ta\texample.com/a:1\tprepared\t1 hour ago\t\t\n" +
		"\t\tbb\texample.com/bb\t\t\t\t\t\t\n"
	if r.stdout != want {
		t.Errorf("got  %q\nwant %q", r.stdout, want)
	}
}

func TestListEmpty(t *testing.T) {
	root := newRoot(t)
	if r := run(t, root, List(), "--no-legend").ok(t); r.stdout != "" {
		t.Errorf("empty list: %q", r.stdout)
	}
	if r := run(t, root, List(), "--format=json").ok(t); r.stdout != "null\n" {
		t.Errorf("empty json list: %q", r.stdout)
	}
	// No pods directory at all is still an empty list.
	bare, _ := dirs.New(t.TempDir())
	if r := run(t, bare, List(), "--no-legend").ok(t); r.stdout != "" {
		t.Errorf("list without pods dir: %q", r.stdout)
	}
	run(t, root, List(), "--format=yaml").fails(t, cli.ExitFailure, "format must be json or json-pretty")
	run(t, root, List(), "extra").fails(t, cli.ExitFailure, "list takes no arguments")
}

func TestListErrors(t *testing.T) {
	root := newRoot(t)
	broken := makePod(t, root, fakePod{place: pod.Run, manifest: "{not json", started: time.Now()})
	noInfo := makePod(t, root, fakePod{place: pod.Prepared,
		apps: []fakeApp{{name: "app", image: "example.com/app", noAppsInfo: true}}})
	os.Mkdir(filepath.Join(root.PodsIn("run"), "junk"), 0o755)
	r := run(t, root, List(), "--no-legend").ok(t)
	rows := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(l)
		rows[f[0]] = strings.Join(f[1:3], " ")
	}
	if rows[broken.UUID[:8]] != "- -" {
		t.Errorf("pod with a broken manifest: %q", rows[broken.UUID[:8]])
	}
	if rows[noInfo.UUID[:8]] != "app --" {
		t.Errorf("pod without its image manifest copy: %q", rows[noInfo.UUID[:8]])
	}
	for _, want := range []string{"rkt: 3 error(s) encountered when listing pods:", broken.UUID, noInfo.UUID, "junk", "rkt's appc version: 0.8.11"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestListJSON(t *testing.T) {
	f := newFixture(t)
	r := run(t, f.root, List(), "--format=json").ok(t)
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--format=json is not one line: %q", r.stdout)
	}
	var pods []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &pods); err != nil {
		t.Fatal(err)
	}
	if len(pods) != 5 {
		t.Fatalf("%d pods, want 5: %s", len(pods), r.stdout)
	}
	byID := map[string]map[string]any{}
	var order []string
	for _, p := range pods {
		byID[p["name"].(string)] = p
		order = append(order, p["name"].(string))
	}
	if !sort.StringsAreSorted(order) {
		t.Errorf("not in UUID order: %v", order)
	}
	ex := byID[f.exited.UUID]
	if ex["state"] != "exited" || ex["created_at"] != float64(f.created.Unix()) || ex["started_at"] != float64(f.started.Unix()) {
		t.Errorf("exited pod: %v", ex)
	}
	if nets := ex["networks"].([]any); len(nets) != 2 || nets[1].(map[string]any)["netName"] != "lan" || nets[1].(map[string]any)["ip"] != "10.1.0.7" {
		t.Errorf("networks: %v", ex["networks"])
	}
	if names := ex["app_names"].([]any); len(names) != 2 || names[0] != "web" || names[1] != "db" {
		t.Errorf("app_names: %v", names)
	}
	apps := ex["apps"].([]any)
	db := apps[1].(map[string]any)
	if db["name"] != "db" || db["state"] != "exited" || db["exit_code"] != float64(3) || db["image_id"] != imageID("example.com/db") ||
		db["created_at"] != float64(f.created.UnixNano()) || db["started_at"] != float64(f.started.UnixNano()) {
		t.Errorf("app db: %v", db)
	}
	if _, ok := db["finished_at"]; ok {
		t.Errorf("finished_at before gc marked the pod: %v", db)
	}
	if ex["user_labels"].(map[string]any)["team"] != "x" {
		t.Errorf("user_labels: %v", ex["user_labels"])
	}
	// Garbage: no networks, finished at the gc mark.
	g := byID[f.garbage.UUID]
	if _, ok := g["networks"]; ok || g["state"] != "exited garbage" {
		t.Errorf("exited garbage pod: %v", g)
	}
	if job := g["apps"].([]any)[0].(map[string]any); job["finished_at"] == nil || job["exit_code"] != float64(1) {
		t.Errorf("app of exited garbage pod: %v", job)
	}
	if web := byID[f.running.UUID]["apps"].([]any)[0].(map[string]any); web["state"] != "running" || web["exit_code"] != nil {
		t.Errorf("app of running pod: %v", web)
	}
	if web := byID[f.prepared.UUID]["apps"].([]any)[0].(map[string]any); web["state"] != "created" || web["started_at"] != nil {
		t.Errorf("app of prepared pod: %v", web)
	}
	if ab := byID[f.aborted.UUID]; ab["state"] != "aborted prepare" || ab["apps"] != nil || ab["created_at"] == nil {
		t.Errorf("aborted prepare: %v", ab)
	}
	// json-pretty: the same, tab-indented.
	r2 := run(t, f.root, List(), "--format=json-pretty").ok(t)
	if !strings.HasPrefix(r2.stdout, "[\n\t{\n\t\t\"name\": ") {
		t.Errorf("json-pretty: %.60q", r2.stdout)
	}
	var again []map[string]any
	if err := json.Unmarshal([]byte(r2.stdout), &again); err != nil || len(again) != 5 {
		t.Errorf("json-pretty: %v, %d pods", err, len(again))
	}
}

func TestMutablePodApps(t *testing.T) {
	root := newRoot(t)
	m := strings.Replace(podManifestJSON([]fakeApp{{name: "a", image: "example.com/a"}, {name: "b", image: "example.com/b"}, {name: "c", image: "example.com/c"}}),
		`"acKind"`, `"annotations":[{"name":"coreos.com/rkt/stage1/mutable","value":"true"}],"acKind"`, 1)
	p := makePod(t, root, fakePod{place: pod.Run, running: true, manifest: m, started: time.Now(),
		apps: []fakeApp{{name: "a", image: "example.com/a", status: "5"}, {name: "b", image: "example.com/b"}, {name: "c", image: "example.com/c"}}})
	status := func(n string) string { return p.Stage1Path(filepath.Join(stage1abi.StatusDir, n)) }
	for _, f := range []string{"a-created", "a-started", "b-created", "b-started"} {
		writeFile(t, status(f), "")
	}
	r := run(t, root, Status(), "--format=json", p.UUID).ok(t)
	var got jsonPod
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, a := range got.Apps {
		states[a.Name] = a.State
	}
	if states["a"] != "exited" || states["b"] != "running" || states["c"] != "unknown" {
		t.Errorf("app states %v, want a exited, b running, c unknown", states)
	}
	if got.Apps[0].ExitCode == nil || *got.Apps[0].ExitCode != 5 || got.Apps[0].FinishedAt == nil {
		t.Errorf("app a: %+v", got.Apps[0])
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	long := func(t time.Time) string { return t.Format(ui.LongTime) }
	for _, tt := range []struct {
		name string
		p    *pod.Pod
		want string
	}{
		{"prepared", f.prepared, "state=prepared\ncreated=" + long(f.created) + "\n"},
		{"aborted", f.aborted, "state=aborted prepare\ncreated=" + long(f.created) + "\n"},
		{"exited", f.exited, "state=exited\ncreated=" + long(f.created) + "\nstarted=" + long(f.started) +
			"\nnetworks=default:ip4=172.16.28.2, lan:ip4=10.1.0.7\npid=4242\nexited=true\napp-web=0\napp-db=3\n"},
		{"running", f.running, "state=running\ncreated=" + long(f.created) + "\nstarted=" + long(f.started) +
			"\nnetworks=default:ip4=172.16.28.2, lan:ip4=10.1.0.7\npid=4242\nexited=false\n"},
		{"exited garbage", f.garbage, "state=exited garbage\ncreated=" + long(f.created) + "\nstarted=" + long(f.started) +
			"\npid=4242\nexited=true\napp-job=1\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, f.root, Status(), tt.p.UUID).ok(t)
			if r.stdout != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", r.stdout, tt.want)
			}
			// A unique prefix does as well.
			if r2 := run(t, f.root, Status(), strings.ToUpper(tt.p.UUID[:13])).ok(t); r2.stdout != tt.want {
				t.Errorf("by prefix:\n%s", r2.stdout)
			}
		})
	}
}

func TestStatusOverlayAndNoNetworks(t *testing.T) {
	root := newRoot(t)
	p := makePod(t, root, fakePod{place: pod.Run, overlay: true, started: time.Now(),
		apps: []fakeApp{{name: "a", image: "example.com/a", status: "7"}}})
	r := run(t, root, Status(), p.UUID).ok(t)
	// An exited pod without net-info.json ran with the host's network:
	// networks= is there, empty.
	for _, want := range []string{"\nnetworks=\n", "\nexited=true\napp-a=7\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	f := newFixture(t)
	r := run(t, f.root, Status(), "--format=json-pretty", f.exited.UUID).ok(t)
	var got jsonPod
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.UUID != f.exited.UUID || got.State != "exited" || len(got.Apps) != 2 || len(got.Networks) != 2 {
		t.Errorf("status json: %s", r.stdout)
	}
	// The same object as in the list.
	l := run(t, f.root, List(), "--format=json").ok(t)
	s := run(t, f.root, Status(), "--format=json", f.exited.UUID).ok(t)
	if !strings.Contains(l.stdout, strings.TrimSpace(s.stdout)) {
		t.Errorf("status object not in list:\n%s\n%s", s.stdout, l.stdout)
	}
}

func TestStatusWait(t *testing.T) {
	f := newFixture(t)
	start := time.Now()
	run(t, f.root, Status(), "--wait=300ms", f.running.UUID).fails(t, cli.ExitFailure, "context deadline exceeded")
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("--wait=300ms took %v", d)
	}
	// A finished pod: no waiting at all.
	for _, w := range []string{"--wait", "--wait=true", "--wait=-1s", "--wait=10s"} {
		start = time.Now()
		r := run(t, f.root, Status(), w, f.exited.UUID).ok(t)
		if !strings.HasPrefix(r.stdout, "state=exited\n") || time.Since(start) > 2*time.Second {
			t.Errorf("%s on an exited pod: %v\n%s", w, time.Since(start), r.stdout)
		}
	}
	// --wait=false and 0: the state as it is now.
	for _, w := range []string{"--wait=false", "--wait=0", "--wait=0s"} {
		r := run(t, f.root, Status(), w, f.running.UUID).ok(t)
		if !strings.HasPrefix(r.stdout, "state=running\n") {
			t.Errorf("%s: %s", w, r.stdout)
		}
	}
	// The stage1 exits while we wait: the final state is printed.
	closed := make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { f.running.Close(); close(closed) })
	r := run(t, f.root, Status(), "--wait=20s", f.running.UUID).ok(t)
	<-closed
	if !strings.HasPrefix(r.stdout, "state=exited\n") || !strings.Contains(r.stdout, "exited=true\n") {
		t.Errorf("after waiting:\n%s", r.stdout)
	}
	run(t, f.root, Status(), "--wait=soon", f.exited.UUID).fails(t, cli.ExitFailure, "--wait")
}

func TestStatusWaitReady(t *testing.T) {
	root := newRoot(t)
	p := makePod(t, root, fakePod{place: pod.Run, running: true, started: time.Now(),
		apps: []fakeApp{{name: "a", image: "example.com/a"}}})
	run(t, root, Status(), "--wait-ready=250ms", p.UUID).fails(t, cli.ExitFailure, "context deadline exceeded")
	link := p.Stage1Path(stage1abi.SupervisorStatusRel)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not ready yet, then ready while we wait.
	if err := os.Symlink("starting", link); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(300*time.Millisecond, func() {
		os.Remove(link)
		os.Symlink("ready", link)
	})
	defer timer.Stop()
	r := run(t, root, Status(), "--wait-ready=20s", p.UUID).ok(t)
	if !strings.HasPrefix(r.stdout, "state=running\n") {
		t.Errorf("after ready:\n%s", r.stdout)
	}
	// A regular file named like the link is not readiness.
	os.Remove(link)
	writeFile(t, link, "ready")
	run(t, root, Status(), "--wait-ready=200ms", p.UUID).fails(t, cli.ExitFailure, "context deadline exceeded")
}

func TestParseWait(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": -1, "true": -1, "TRUE": -1, "t": -1, "1": -1, "false": 0, "0": 0, "0s": 0,
		"-1s": -1, "-5m": -1, "150ms": 150 * time.Millisecond, "2m": 2 * time.Minute,
	} {
		got, err := parseWait(in)
		if err != nil || got != want {
			t.Errorf("parseWait(%q) = %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"soon", "5", "1x"} {
		if _, err := parseWait(in); err == nil {
			t.Errorf("parseWait(%q): no error", in)
		}
	}
}

func TestUUIDFile(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "uuid")
	writeFile(t, file, "\n  "+f.exited.UUID+"\n\n")
	if r := run(t, f.root, Status(), "--uuid-file="+file).ok(t); !strings.HasPrefix(r.stdout, "state=exited\n") {
		t.Errorf("status --uuid-file: %s", r.stdout)
	}
	if r := run(t, f.root, CatManifest(), "--uuid-file", file).ok(t); !strings.Contains(r.stdout, `"name": "db"`) {
		t.Errorf("cat-manifest --uuid-file: %s", r.stdout)
	}
	missing := filepath.Join(dir, "nope")
	run(t, f.root, Status(), "--uuid-file="+missing).fails(t, 1, "reading UUID file")
	run(t, f.root, CatManifest(), "--uuid-file="+missing).fails(t, cli.ExitFailure, "reading UUID file")
	run(t, f.root, Status(), "--uuid-file="+file, f.exited.UUID).fails(t, cli.ExitFailure, "not both")
	run(t, f.root, Status()).fails(t, cli.ExitFailure, "Usage: rkt status")
	run(t, f.root, Status(), "a", "b").fails(t, cli.ExitFailure, "expected one pod UUID")
	run(t, f.root, CatManifest()).fails(t, cli.ExitFailure, "Usage: rkt cat-manifest")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, " \n")
	run(t, f.root, Status(), "--uuid-file="+empty).fails(t, cli.ExitFailure, "rkt: UUID cannot be empty\n")
}

func TestLookupErrors(t *testing.T) {
	f := newFixture(t)
	// Two pods sharing a first hex digit make an ambiguous prefix; with
	// five random UUIDs there may be none, so make one.
	amb := "f0000000-0000-4000-8000-00000000000"
	for _, c := range []string{"1", "2"} {
		os.Mkdir(filepath.Join(f.root.PodsIn("prepared"), amb+c), 0o750)
	}
	for _, c := range []*cli.Command{Status(), CatManifest()} {
		run(t, f.root, c, "nosuchpod").fails(t, cli.ExitFailure, "rkt: no matches found for \"nosuchpod\"\n")
		run(t, f.root, c, "f0000000").fails(t, cli.ExitFailure, "rkt: ambiguous uuid, 2 matches\n")
		run(t, f.root, c, "").fails(t, cli.ExitFailure, "rkt: UUID cannot be empty\n")
		// Garbage that never ran is not found by name.
		run(t, f.root, c, f.hidden[0].UUID).fails(t, cli.ExitFailure, "no matches found")
	}
	run(t, f.root, Status(), "--format=xml", f.exited.UUID).fails(t, cli.ExitFailure, "format must be")
}

func TestCatManifest(t *testing.T) {
	f := newFixture(t)
	pretty := run(t, f.root, CatManifest(), f.exited.UUID).ok(t).stdout
	if !strings.HasPrefix(pretty, "{\n\t\"acVersion\": \"0.8.11\",\n\t\"acKind\": \"PodManifest\",\n\t\"apps\": [\n") || !strings.HasSuffix(pretty, "\n}\n") {
		t.Errorf("pretty:\n%s", pretty)
	}
	compact := run(t, f.root, CatManifest(), "--pretty-print=false", f.exited.UUID).ok(t).stdout
	if strings.Count(compact, "\n") != 1 || !strings.HasPrefix(compact, `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"web"`) {
		t.Errorf("compact:\n%s", compact)
	}
	var a, b any
	if json.Unmarshal([]byte(pretty), &a) != nil || json.Unmarshal([]byte(compact), &b) != nil {
		t.Fatal("not JSON")
	}
	if ja, _ := json.Marshal(a); string(ja) != strings.TrimSpace(func() string { jb, _ := json.Marshal(b); return string(jb) }()) {
		t.Error("pretty and compact differ")
	}
	// A pod that is being prepared has no manifest yet.
	run(t, f.root, CatManifest(), f.aborted.UUID).fails(t, cli.ExitFailure, "reading manifest")
}

func TestStatusWaitPodRemoved(t *testing.T) {
	root := newRoot(t)
	p := makePod(t, root, fakePod{place: pod.Run, running: true, started: time.Now(),
		apps: []fakeApp{{name: "a", image: "example.com/a"}}})
	dir := p.Dir()
	done := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() {
		os.RemoveAll(dir)
		p.Close()
		close(done)
	})
	run(t, root, Status(), "--wait=20s", p.UUID).fails(t, cli.ExitFailure, "was removed while waiting")
	<-done
}
