package tests

import (
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

func TestImageExportExtract(t *testing.T) {
	e := harness.NewEnv(t)
	id := fetchOut(t, e.Rkt("fetch", "--insecure-options=image", "--full", fix(t, "busybox.aci")))
	out := filepath.Join(t.TempDir(), "exported.aci")
	e.Rkt("image", "export", id, out).OK(t)
	e.Rkt("image", "export", id, out).Fails(t, 254, "exists (try --overwrite)")
	e.Rkt("image", "export", "--overwrite", id, out).OK(t)
	// Re-importing the export into a fresh store gives the same ID.
	e2 := harness.NewEnv(t)
	if got := fetchOut(t, e2.Rkt("fetch", "--insecure-options=image", "--full", out)); got != id {
		t.Errorf("re-imported export has ID %s, want %s", got, id)
	}
	dir := filepath.Join(t.TempDir(), "x")
	e.Rkt("image", "extract", "--rootfs-only", "example.com/busybox", dir).OK(t)
	want := readFile(t, filepath.Join(harness.Fixtures(t), "rootfs", "etc", "motd"))
	if got := readFile(t, filepath.Join(dir, "etc", "motd")); got != want {
		t.Errorf("extracted /etc/motd differs")
	}
	if fi, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("busybox not extracted executable: %v", err)
	}
	e.Rkt("image", "extract", "example.com/busybox", dir).Fails(t, 254, "exists (try --overwrite)")
	e.Rkt("image", "extract", "--overwrite", "example.com/busybox", dir).OK(t)
	if _, err := os.Stat(filepath.Join(dir, "manifest")); err != nil {
		t.Errorf("extract without --rootfs-only has no manifest: %v", err)
	}
	m := e.Rkt("image", "cat-manifest", "--pretty-print=false", id[:19]).OK(t).Stdout
	var mf struct{ Name string }
	if json.Unmarshal([]byte(m), &mf) != nil || mf.Name != "example.com/busybox" || strings.Count(m, "\n") != 1 {
		t.Errorf("cat-manifest: %q", m)
	}
	e.Rkt("image", "cat-manifest", "example.com/nosuch").Fails(t, 254, "not found")
}

func TestImageRenderDependencies(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	dir := t.TempDir()
	base, _ := makeACI(t, dir, testImage{Name: "example.com/base", Version: "1", Files: map[string]string{"etc/base": "base", "etc/shared": "from base"}})
	app, _ := makeACI(t, dir, testImage{Name: "example.com/app", Version: "1", Files: map[string]string{"etc/app": "app", "etc/shared": "from app"}, Deps: []string{"example.com/base"}})
	fetchOut(t, e.Rkt("fetch", "--insecure-options=image", base))
	fetchOut(t, e.Rkt("fetch", "--insecure-options=image", app))
	out := filepath.Join(t.TempDir(), "r")
	e.Rkt("image", "render", "example.com/app", out).OK(t)
	for p, want := range map[string]string{"etc/base": "base", "etc/app": "app", "etc/shared": "from app"} {
		if got := readFile(t, filepath.Join(out, "rootfs", p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	// A dependency missing from the store is looked up by discovery (here
	// example.com is 127.0.0.1, where nothing answers) and the error names it.
	e2 := harness.NewEnv(t)
	hosts := filepath.Join(e2.Root, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e2.RktOpts(harness.RunOpts{Hosts: hosts}, "fetch", "--insecure-options=image", app).Fails(t, 254, "example.com/base")
}

func TestImageListAndRm(t *testing.T) {
	e := harness.NewEnv(t)
	dir := t.TempDir()
	a, _ := makeACI(t, dir, testImage{Name: "example.com/a", Version: "1"})
	b, _ := makeACI(t, dir, testImage{Name: "example.com/b", Version: "2", Files: map[string]string{"big": strings.Repeat("y", 1<<20)}})
	ida := fetchOut(t, e.Rkt("fetch", "--insecure-options=image", a))
	time.Sleep(10 * time.Millisecond)
	idb := fetchOut(t, e.Rkt("fetch", "--insecure-options=image", b))
	r := e.Rkt("image", "list").OK(t)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "IMPORT TIME") {
		t.Fatalf("image list:\n%s", r.Stdout)
	}
	if !strings.HasPrefix(lines[1], ida[:19]+"\t") && !strings.HasPrefix(lines[1], ida[:19]+" ") {
		t.Errorf("first row is not the first import with a 12-digit ID: %q", lines[1])
	}
	if !strings.Contains(lines[2], "example.com/b:2") {
		t.Errorf("NAME column: %q", lines[2])
	}
	desc := e.Rkt("image", "list", "--no-legend", "--order=desc", "--fields=name").OK(t).Stdout
	if strings.Fields(desc)[0] != "example.com/b:2" {
		t.Errorf("--order=desc: %q", desc)
	}
	bySize := e.Rkt("image", "list", "--no-legend", "--sort=size", "--order=desc", "--fields=name,size", "--full").OK(t).Stdout
	if !strings.HasPrefix(bySize, "example.com/b:2") {
		t.Errorf("--sort=size: %q", bySize)
	}
	var js []map[string]any
	if err := json.Unmarshal([]byte(e.Rkt("image", "list", "--format=json").OK(t).Stdout), &js); err != nil || len(js) != 2 {
		t.Fatalf("json: %v %v", err, js)
	}
	for _, k := range []string{"id", "name", "import_time", "last_used_time", "size"} {
		if _, ok := js[0][k]; !ok {
			t.Errorf("json lacks %s: %v", k, js[0])
		}
	}
	e.Rkt("image", "list", "--fields=bogus").Fails(t, 254, "bogus")
	e.Rkt("image", "list", "--sort=bogus").Fails(t, 254, "bogus")

	r = e.Rkt("image", "rm", idb, "example.com/a:1", "example.com/nosuch")
	r.Fails(t, 254, "2 image(s) successfully removed", "1 image(s) cannot be removed")
	if strings.Count(r.Stdout, "successfully removed aci for image:") != 2 {
		t.Errorf("rm stdout: %q", r.Stdout)
	}
	if imageCount(t, e) != 0 {
		t.Error("images left after rm")
	}
	e.Rkt("image", "rm").Fails(t, 254)
}

func TestImageVerifyAndGC(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	id := fetchOut(t, e.Rkt("fetch", "--insecure-options=image", fix(t, "busybox.aci")))
	r := e.Rkt("image", "verify", id).OK(t)
	if !strings.Contains(r.Stdout, "successfully verified checksum for image") {
		t.Errorf("verify: %s", r)
	}
	trees, _ := filepath.Glob(filepath.Join(e.DataDir, "cas", "tree", "deps-*", "rootfs", "etc", "motd"))
	if len(trees) != 1 {
		t.Fatalf("fetch as root did not render the tree: %v", trees)
	}
	if err := os.Remove(trees[0]); err != nil {
		t.Fatal(err)
	}
	r = e.Rkt("image", "verify", id).OK(t)
	if !strings.Contains(r.Stdout, "verification failed") {
		t.Errorf("damage not detected: %s", r)
	}
	if _, err := os.Stat(trees[0]); err != nil {
		t.Errorf("damaged tree not repaired: %v", err)
	}
	e.Rkt("image", "verify", id).OK(t)

	// gc: no pod uses the tree, so it goes; the image stays within grace.
	r = e.Rkt("image", "gc").OK(t)
	if !strings.Contains(r.Stderr, "removed treestore") {
		t.Errorf("gc kept an unreferenced tree: %s", r)
	}
	if imageCount(t, e) != 1 {
		t.Error("gc removed an image within the grace period")
	}
	r = e.Rkt("image", "verify", id).OK(t)
	if !strings.Contains(r.Stdout, "not rendered") {
		t.Errorf("verify after gc: %s", r)
	}
	e.Rkt("image", "gc", "--grace-period=0s").OK(t)
	if imageCount(t, e) != 0 {
		t.Error("gc --grace-period=0s kept an unused image")
	}
	assertCleanTmp(t, e)
}

// A fetch killed at random points never leaves a partial image, and the
// next fetch succeeds.
func TestFetchKilled(t *testing.T) {
	e := harness.NewEnv(t)
	dir := t.TempDir()
	files := map[string]string{}
	for i := 0; i < 300; i++ {
		files["d/f"+strconv.Itoa(i)] = strings.Repeat("z", 4096)
	}
	img, _ := makeACI(t, dir, testImage{Name: "example.com/killme", Version: "1", Files: files})
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		cmd := exec.Command(harness.Bin("rkt"), append([]string{"fetch"}, append(e.GlobalFlags(), "--insecure-options=image", img)...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Intn(40)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		out := e.Rkt("image", "list", "--no-legend", "--fields=name").OK(t).Stdout
		n := strings.Count(out, "example.com/killme")
		if n > 1 {
			t.Fatalf("%d entries for one image", n)
		}
		if i%5 == 4 && n == 1 {
			e.Rkt("image", "rm", "example.com/killme").OK(t)
		}
	}
	fetchOut(t, e.Rkt("fetch", "--insecure-options=image", img))
	checkStore(t, e)
	if os.Geteuid() == 0 {
		e.Rkt("image", "verify", "example.com/killme").OK(t)
		// gc clears what the killed fetches left behind.
		e.Rkt("image", "gc").OK(t)
		assertCleanTmp(t, e)
	}
}

func TestImageGCConcurrentWithFetch(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	var wg sync.WaitGroup
	fetches := make([]*harness.Result, 6)
	for i := range fetches {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fetches[i] = e.Rkt("fetch", "--insecure-options=image", fix(t, "busybox.aci"))
		}(i)
	}
	for i := 0; i < 3; i++ {
		e.Rkt("image", "gc", "--grace-period=0s").OK(t)
	}
	wg.Wait()
	for _, r := range fetches {
		fetchOut(t, r)
	}
	fetchOut(t, e.Rkt("fetch", "--insecure-options=image", fix(t, "busybox.aci")))
	checkStore(t, e)
}

// A member of group rkt fetches into a data dir set up by the installer;
// what root created there stays readable by the group.
func TestFetchUnprivileged(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t)
	harness.Run(t, filepath.Join(harness.Top(), "scripts", "setup-data-dir"), e.DataDir, filepath.Join(e.Root, "etc-rkt")).OK(t)
	gid := groupID(t, "rkt")
	// The test dirs are private to root; open the way to the data dir.
	for _, d := range []string{harness.TmpRoot(), e.Root, e.LocalConfig, e.SystemConfig, e.UserConfig} {
		os.Chmod(d, 0o755)
	}
	fetchOut(t, e.Rkt("fetch", "--insecure-options=image", fix(t, "busybox.aci")))
	user := harness.RunOpts{UID: 65534, GID: 65534, Groups: []uint32{gid}}
	other, _ := makeACI(t, e.Root, testImage{Name: "example.com/user", Version: "1"})
	os.Chmod(other, 0o644)
	r := e.RktOpts(user, "fetch", "--insecure-options=image", other)
	fetchOut(t, r)
	r = e.RktOpts(user, "image", "list", "--no-legend", "--fields=name").OK(t)
	if !strings.Contains(r.Stdout, "example.com/busybox") || !strings.Contains(r.Stdout, "example.com/user") {
		t.Errorf("group member's list: %s", r)
	}
	// Group members may not gc (the tree store is root's).
	e.RktOpts(user, "image", "gc").Fails(t, 254, "unprivileged")
}
