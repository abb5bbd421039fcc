package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/tests/harness"
)

// runEnv is a test environment with the busybox image in its store.
func runEnv(t *testing.T) (*harness.Env, string) {
	t.Helper()
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	id := fetchOut(t, e.Rkt("fetch", "--insecure-options=image", "--full", fix(t, "busybox.aci")))
	return e, id
}

// sh runs one shell command in a busybox pod and returns the result.
func sh(e *harness.Env, script string, flags ...string) *harness.Result {
	args := append([]string{"run"}, flags...)
	args = append(args, "example.com/busybox", "--exec=/bin/sh", "--", "-c", script)
	return e.Rkt(args...)
}

func TestRunExitCodes(t *testing.T) {
	e, _ := runEnv(t)
	r := e.Rkt("run", "example.com/busybox").OK(t)
	if !strings.Contains(r.Stdout, "hello from busybox ACI") {
		t.Errorf("image's own exec did not run: %s", r)
	}
	e.Rkt("run", "example.com/busybox", "--exec=/bin/true").OK(t)
	if r := e.Rkt("run", "example.com/busybox", "--exec=/bin/false"); r.Code != 1 {
		t.Errorf("/bin/false: %s", r)
	}
	uuidFile := filepath.Join(e.Root, "uuid")
	r = sh(e, "exit 42", "--uuid-file-save="+uuidFile)
	if r.Code != 42 {
		t.Fatalf("exit 42: %s", r)
	}
	uuid := readFile(t, uuidFile)
	if len(uuid) != 36 || strings.Contains(uuid, "\n") {
		t.Errorf("uuid file: %q", uuid)
	}
	st := e.Rkt("status", uuid).OK(t)
	for _, want := range []string{"state=exited", "exited=true", "app-busybox=42"} {
		if !strings.Contains(st.Stdout, want) {
			t.Errorf("status lacks %s:\n%s", want, st.Stdout)
		}
	}
	// rkt's own failures are 254.
	e.Rkt("run", "example.com/nosuch", "--pull-policy=never").Fails(t, 254)
}

func TestRunAppFlags(t *testing.T) {
	e, _ := runEnv(t)
	envFile := filepath.Join(e.Root, "env")
	os.WriteFile(envFile, []byte("# the file\n;comment\n\nL=file\nF=file\n"), 0o644)
	t.Setenv("L", "parent")
	t.Setenv("P", "parent")
	r := e.Rkt("run", "--inherit-env", "--set-env=L=setenv", "--set-env=S=setenv", "--set-env-file="+envFile,
		"example.com/busybox", "--environment=L=app", "--exec=/bin/sh", "--", "-c", `echo "L=$L F=$F S=$S P=$P FIXTURE=$FIXTURE HOME=$HOME AC=$AC_APP_NAME"`).OK(t)
	if want := "L=app F=file S=setenv P=parent FIXTURE=busybox HOME=/root AC=busybox"; !strings.Contains(r.Stdout, want) {
		t.Errorf("env precedence: got %q want %q", r.Stdout, want)
	}
	r = e.Rkt("run", "--set-env=L=setenv", "--set-env-file="+envFile, "example.com/busybox", "--exec=/bin/sh", "--", "-c", `echo "L=$L"`).OK(t)
	if !strings.Contains(r.Stdout, "L=setenv") {
		t.Errorf("--set-env must beat the file: %q", r.Stdout)
	}
	// Arguments: -- starts them, --- ends them (then another image would follow).
	r = e.Rkt("run", "example.com/busybox", "--exec=/bin/echo", "--", "a", "--b", "---").OK(t)
	if strings.TrimSpace(r.Stdout) != "a --b" {
		t.Errorf("args: %q", r.Stdout)
	}
	for _, u := range []struct{ user, group, want string }{{"1000", "1000", "1000 1000"}, {"fixture", "fixture", "1000 1000"}, {"nobody", "nogroup", "65534 65534"}} {
		r = e.Rkt("run", "example.com/busybox", "--user="+u.user, "--group="+u.group, "--exec=/bin/sh", "--", "-c", "echo $(id -u) $(id -g)").OK(t)
		if strings.TrimSpace(r.Stdout) != u.want {
			t.Errorf("--user=%s --group=%s: %q", u.user, u.group, r.Stdout)
		}
	}
	r = e.Rkt("run", "example.com/busybox", "--supplementary-gids=5,6", "--exec=/bin/sh", "--", "-c", "id -G").OK(t)
	if !strings.Contains(r.Stdout, "5") || !strings.Contains(r.Stdout, "6") {
		t.Errorf("--supplementary-gids: %q", r.Stdout)
	}
	r = e.Rkt("run", "example.com/busybox", "--working-dir=/etc", "--exec=/bin/pwd").OK(t)
	if strings.TrimSpace(r.Stdout) != "/etc" {
		t.Errorf("--working-dir: %q", r.Stdout)
	}
}

func TestRunVolumes(t *testing.T) {
	e, _ := runEnv(t)
	host := filepath.Join(e.Root, "hostdir")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "in"), []byte("from host"), 0o644)
	// A read-write host volume mounted for all apps (--mount before the image).
	r := e.Rkt("run", "--volume=data,kind=host,source="+host, "--mount=volume=data,target=/data",
		"example.com/busybox", "--exec=/bin/sh", "--", "-c", "cat /data/in && echo out > /data/out").OK(t)
	if !strings.Contains(r.Stdout, "from host") || readFile(t, filepath.Join(host, "out")) != "out\n" {
		t.Errorf("rw host volume: %s", r)
	}
	// Read-only, mounted after the image: writes fail.
	r = e.Rkt("run", "--volume=data,kind=host,source="+host+",readOnly=true", "example.com/busybox", "--mount=volume=data,target=/data",
		"--exec=/bin/sh", "--", "-c", "cat /data/in; echo x > /data/nope")
	if r.Code == 0 {
		t.Errorf("write to a read-only volume succeeded: %s", r)
	}
	if _, err := os.Stat(filepath.Join(host, "nope")); err == nil {
		t.Error("file written through a read-only volume")
	}
	// An empty volume with mode and owner.
	r = e.Rkt("run", "--volume=scratch,kind=empty,mode=0700,uid=1000,gid=1000", "example.com/busybox", "--mount=volume=scratch,target=/scratch",
		"--exec=/bin/sh", "--", "-c", "stat -c '%a %u %g' /scratch").OK(t)
	if strings.TrimSpace(r.Stdout) != "700 1000 1000" {
		t.Errorf("empty volume: %q", r.Stdout)
	}
	e.Rkt("run", "--volume=bad,kind=nope", "example.com/busybox").Fails(t, 254, "--volume")
}

func TestPrepareRunPrepared(t *testing.T) {
	e, _ := runEnv(t)
	r := e.Rkt("prepare", "--quiet", "example.com/busybox", "--exec=/bin/sh", "--", "-c", "echo prepared-ran; exit 3").OK(t)
	uuid := strings.TrimSpace(r.Stdout)
	if len(uuid) != 36 {
		t.Fatalf("prepare printed %q", r.Stdout)
	}
	if st := e.Rkt("status", uuid).OK(t).Stdout; !strings.HasPrefix(st, "state=prepared\ncreated=") {
		t.Errorf("status of a prepared pod:\n%s", st)
	}
	if l := e.Rkt("list", "--no-legend").OK(t).Stdout; !strings.Contains(l, "prepared") {
		t.Errorf("list: %s", l)
	}
	// The appc schema's own decoding validates the manifest.
	var pm schema.PodManifest
	if err := json.Unmarshal([]byte(e.Rkt("cat-manifest", uuid).OK(t).Stdout), &pm); err != nil || pm.ACKind != "PodManifest" || len(pm.Apps) != 1 {
		t.Errorf("cat-manifest does not validate: %v %+v", err, pm)
	}
	r = e.Rkt("run-prepared", uuid[:8])
	if r.Code != 3 || !strings.Contains(r.Stdout, "prepared-ran") {
		t.Fatalf("run-prepared: %s", r)
	}
	e.Rkt("run-prepared", uuid).Fails(t, 254, "is not prepared")
	if st := e.Rkt("status", uuid).OK(t).Stdout; !strings.Contains(st, "state=exited") || !strings.Contains(st, "app-busybox=3") {
		t.Errorf("status after run-prepared:\n%s", st)
	}
	// Removing the image does not stop a prepared pod from running.
	r = e.Rkt("prepare", "--quiet", "--no-overlay", "example.com/busybox", "--exec=/bin/true").OK(t)
	uuid2 := strings.TrimSpace(r.Stdout)
	e.Rkt("image", "rm", "example.com/busybox").OK(t)
	e.Rkt("run-prepared", uuid2).OK(t)
}

func TestRunPodManifest(t *testing.T) {
	e, id := runEnv(t)
	pm := `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"hello","image":{"id":"` + id + `"},
	  "app":{"exec":["/bin/sh","-c","echo from-manifest $X; pwd"],"user":"0","group":"0","workingDirectory":"/tmp","environment":[{"name":"X","value":"y"}]}}],
	  "volumes":[],"isolators":[],"annotations":[],"ports":[]}`
	p := filepath.Join(e.Root, "pod.json")
	os.WriteFile(p, []byte(pm), 0o644)
	r := e.Rkt("run", "--pod-manifest="+p).OK(t)
	if !strings.Contains(r.Stdout, "from-manifest y") || !strings.Contains(r.Stdout, "/tmp") {
		t.Errorf("--pod-manifest: %s", r)
	}
	for _, conflict := range [][]string{{"example.com/busybox"}, {"--volume=v,kind=empty"}, {"--set-env=A=B"}, {"--inherit-env"}, {"--pull-policy=update"}} {
		args := append([]string{"run", "--pod-manifest=" + p}, conflict...)
		e.Rkt(args...).Fails(t, 254, "conflicting flags set with --pod-manifest")
	}
}

func TestRunErrors(t *testing.T) {
	e, _ := runEnv(t)
	e.Rkt("run", "example.com/busybox", "example.com/busybox", "--exec=/bin/true").Fails(t, 254, "used twice")
	e.Rkt("run", "--interactive", "example.com/busybox", "--exec=/bin/true", "example.com/busybox", "--name=two", "--exec=/bin/true").Fails(t, 254, "--interactive")
	e.Rkt("run", "--", "example.com/busybox").Fails(t, 254)
	e.Rkt("run").Fails(t, 254, "no image")
	e.Rkt("status", "nosuch").Fails(t, 254, `no matches found for "nosuch"`)
	e.Rkt("status", "").Fails(t, 254, "UUID cannot be empty")
	e.Rkt("run-prepared", "nosuch").Fails(t, 254, "no matches found")
	e.Rkt("run", "--ipc=bogus", "example.com/busybox").Fails(t, 254, "--ipc")
	// Unprivileged users are refused.
	user := harness.RunOpts{UID: 65534, GID: 65534}
	for _, sub := range []string{"run", "prepare", "run-prepared"} {
		e.RktOpts(user, sub, "x").Fails(t, 254, "cannot run as unprivileged user")
	}
}

// An image for another architecture is refused before anything of a pod
// is made (reference CLI-RUN-22), whether its tree was rendered or not.
func TestRunRefusesForeignArch(t *testing.T) {
	e, _ := runEnv(t)
	path, _ := makeACI(t, t.TempDir(), testImage{Name: "example.com/arm", Version: "1", Arch: "aarch64"})
	e.Rkt("fetch", "--insecure-options=image", path).OK(t)
	e.Rkt("run", "example.com/arm:1").Fails(t, 254, `image example.com/arm:1: bad arch "aarch64"`)
	e.Rkt("prepare", "example.com/arm:1").Fails(t, 254, `bad arch "aarch64"`)
	if out := e.Rkt("list", "--no-legend").OK(t).Stdout; strings.TrimSpace(out) != "" {
		t.Errorf("pods left after the refusals:\n%s", out)
	}
}

func TestRunConcurrent(t *testing.T) {
	e, _ := runEnv(t)
	var wg sync.WaitGroup
	results := make([]*harness.Result, 20)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.Rkt("run", "--uuid-file-save="+filepath.Join(e.Root, "u"+strconv.Itoa(i)), "example.com/busybox", "--exec=/bin/true")
		}(i)
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, r := range results {
		r.OK(t)
		u := readFile(t, filepath.Join(e.Root, "u"+strconv.Itoa(i)))
		if seen[u] {
			t.Errorf("UUID %s used twice", u)
		}
		seen[u] = true
	}
}

func TestRunDNSAndHosts(t *testing.T) {
	e, _ := runEnv(t)
	r := e.Rkt("run", "--dns=10.1.2.3", "--dns=10.1.2.4", "--dns-search=a.example", "--dns-opt=ndots:2", "--dns-domain=example.org",
		"--hosts-entry=10.9.9.9=one", "--hosts-entry=10.9.9.9=two,10.8.8.8=three",
		"example.com/busybox", "--exec=/bin/sh", "--", "-c", "cat /etc/resolv.conf /etc/hosts").OK(t)
	for _, want := range []string{"nameserver 10.1.2.3", "nameserver 10.1.2.4", "search a.example", "options ndots:2", "domain example.org", "10.9.9.9\tone two", "10.8.8.8\tthree", "localhost"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("lacks %q:\n%s", want, r.Stdout)
		}
	}
	host := readFile(t, "/etc/resolv.conf")
	r = e.Rkt("run", "--dns=host", "example.com/busybox", "--exec=/bin/cat", "--", "/etc/resolv.conf").OK(t)
	if r.Stdout != host {
		t.Errorf("--dns=host: %q, want the host's %q", r.Stdout, host)
	}
	e.Rkt("run", "--dns=host", "--dns-search=x", "example.com/busybox").Fails(t, 254, "cannot be used with --dns=host")
	e.Rkt("run", "--dns=host", "--dns=1.1.1.1", "example.com/busybox").Fails(t, 254, "must be the only --dns")
	e.Rkt("run", "--dns=notanip", "example.com/busybox").Fails(t, 254, "not an IP address")
	e.Rkt("run", "--hosts-entry=host", "--hosts-entry=1.2.3.4=x", "example.com/busybox").Fails(t, 254, "cannot be mixed")
}

// A pod whose trees are missing (here removed by image gc; an image
// fetched by an unprivileged user has none either) gets them rendered
// by rkt-fetch, which rkt-prepare runs since it links no decompressor:
// the stage1's and the app's, from the compressed images in the store.
func TestRunRendersMissingTrees(t *testing.T) {
	e, _ := runEnv(t)
	// The first run imports the stage1 and renders its tree.
	e.Rkt("run", "example.com/busybox", "--exec=/bin/true").OK(t)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	e.Rkt("image", "gc").OK(t)
	trees := func() []string {
		t.Helper()
		got, _ := filepath.Glob(filepath.Join(e.DataDir, "cas", "tree", "deps-*", "rendered"))
		return got
	}
	if got := trees(); len(got) != 0 {
		t.Fatalf("image gc left trees: %v", got)
	}
	r := sh(e, "cat /etc/motd").OK(t)
	if !strings.Contains(r.Stdout, "busybox") {
		t.Errorf("pod on the new tree: %s", r)
	}
	got := trees()
	if len(got) != 2 {
		t.Fatalf("trees after the run: %v, want the stage1's and busybox's", got)
	}
	// The next pod uses them as they are.
	stamps := map[string]time.Time{}
	for _, f := range got {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		stamps[f] = fi.ModTime()
	}
	e.Rkt("run", "example.com/busybox", "--exec=/bin/true").OK(t)
	for f, was := range stamps {
		if fi, err := os.Stat(f); err != nil || !fi.ModTime().Equal(was) {
			t.Errorf("%s rendered again (%v)", f, err)
		}
	}
	assertCleanTmp(t, e)
}

// The ondisk check: a damaged tree is rendered again before a pod uses
// it, unless --insecure-options=ondisk.
func TestRunRerendersDamagedTree(t *testing.T) {
	e, _ := runEnv(t)
	motds, _ := filepath.Glob(filepath.Join(e.DataDir, "cas", "tree", "deps-*", "rootfs", "etc", "motd"))
	if len(motds) != 1 {
		t.Fatalf("rendered trees with /etc/motd: %v", motds)
	}
	want := readFile(t, motds[0])
	if err := os.WriteFile(motds[0], []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.Rkt("run", "--insecure-options=ondisk", "example.com/busybox", "--exec=/bin/cat", "--", "/etc/motd").OK(t)
	if r.Stdout != "tampered\n" {
		t.Errorf("--insecure-options=ondisk should use the tree as it is: %q", r.Stdout)
	}
	// A pod still running on the damaged tree keeps it: the new pod gets
	// a fresh one, and gc removes the old one once no pod uses it.
	cmd, uuid := startPod(t, e, "--insecure-options=ondisk", "example.com/busybox", "--exec=/bin/sleep", "--", "1000")
	r = e.Rkt("run", "example.com/busybox", "--exec=/bin/cat", "--", "/etc/motd").OK(t)
	if r.Stdout != want {
		t.Errorf("damaged tree used: %q, want %q", r.Stdout, want)
	}
	if r := e.Rkt("enter", uuid, "/bin/cat", "/etc/motd").OK(t); r.Stdout != "tampered\n" {
		t.Errorf("the running pod's tree changed under it: %q", r.Stdout)
	}
	e.Rkt("stop", "--force", uuid).OK(t)
	cmd.Wait()
	e.Rkt("gc", "--grace-period=0s").OK(t)
	e.Rkt("image", "gc").OK(t)
	if retired, _ := filepath.Glob(filepath.Join(e.DataDir, "cas", "tmp", "retired-*")); len(retired) != 0 {
		t.Errorf("retired trees left after gc: %v", retired)
	}
}

func TestRunPortNeedsPodNetwork(t *testing.T) {
	e, _ := runEnv(t)
	e.Rkt("run", "--net=host", "--port=http:8080", "example.com/busybox", "--exec=/bin/true").Fails(t, 254, "--port cannot be used with --net=host")
	// The fly stage1 shares the host's network.
	e.Rkt("run", "--stage1-from-dir=stage1-fly.aci", "--port=http:8080", "example.com/busybox", "--exec=/bin/true").Fails(t, 254, "--port needs a pod network")
}
