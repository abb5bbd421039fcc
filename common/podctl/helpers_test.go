package podctl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// fixture is a data directory with pods made by hand, the way prepare
// and a stage1 leave them on disk, and a log the fake stage1 entrypoints
// append their argv and working directory to.
type fixture struct {
	t    *testing.T
	dir  string
	root dirs.Root
	log  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	root, err := dirs.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(root.Path(), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := root.Ensure(); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, root: root, log: filepath.Join(dir, "stage1.log")}
}

// podSpec describes a pod to make.
type podSpec struct {
	apps []string
	// entrypoints: annotation -> exit code of its fake script; an
	// annotation mapped to -1 is declared but its script is missing.
	entrypoints map[string]int
	noStage1    bool // no stage1 manifest at all
	version     int  // stage1 interface version (default 5)
}

var defaultEntrypoints = map[string]int{
	stage1abi.AnnotationGC:    0,
	stage1abi.AnnotationStop:  0,
	stage1abi.AnnotationEnter: 0,
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// makePod creates a pod with spec and leaves it in place. It returns the
// pod, still locked by this process when hold is true (a running pod, a
// prepare in progress), unlocked otherwise.
func (f *fixture) makePod(spec podSpec, place pod.Place, hold bool) *pod.Pod {
	t := f.t
	t.Helper()
	p, err := pod.Create(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if spec.apps == nil {
		spec.apps = []string{"app"}
	}
	var apps []string
	for i, a := range spec.apps {
		apps = append(apps, fmt.Sprintf(`{"name":%q,"image":{"name":"example.com/%s","id":"sha512-%s"}}`, a, a, strings.Repeat(fmt.Sprint(i+1), 128)))
		write(t, p.Path(filepath.Join(stage1abi.AppsInfoDir, a, stage1abi.AppManifestFile)),
			fmt.Sprintf(`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/%s","labels":[{"name":"version","value":"1"}],"dependencies":[{"imageName":"example.com/base"}]}`, a), 0o640)
		write(t, p.Path(filepath.Join(stage1abi.AppRootfsRel(a), "etc", "app")), a+"\n", 0o644)
	}
	write(t, p.Path(stage1abi.PodManifestFile), `{"acKind":"PodManifest","acVersion":"0.8.11","apps":[`+strings.Join(apps, ",")+`]}`, 0o640)
	if !spec.noStage1 {
		eps := spec.entrypoints
		if eps == nil {
			eps = defaultEntrypoints
		}
		if spec.version == 0 {
			spec.version = 5
		}
		var ann []string
		for a, code := range eps {
			name := "/" + filepath.Base(a) + ".sh"
			ann = append(ann, fmt.Sprintf(`{"name":%q,"value":%q}`, a, name))
			if code >= 0 {
				write(t, p.Path(filepath.Join(stage1abi.Stage1RootfsRel, name)),
					fmt.Sprintf("#!/bin/sh\necho \"%s $* cwd=$(pwd)\" >> %s\nexit %d\n", filepath.Base(a), f.log, code), 0o755)
			}
		}
		ann = append(ann, fmt.Sprintf(`{"name":%q,"value":"%d"}`, stage1abi.AnnotationInterfaceVersion, spec.version))
		write(t, p.Path(stage1abi.Stage1ManifestRel),
			`{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/stage1","annotations":[`+strings.Join(ann, ",")+`]}`, 0o640)
	}
	if place != pod.Prepare {
		if err := p.MoveTo(place); err != nil {
			t.Fatal(err)
		}
	}
	if hold {
		t.Cleanup(func() { p.Close() })
	} else {
		p.Close()
	}
	return p
}

// lock takes the exclusive lock of a pod on a descriptor of its own, as
// another process would; release drops it.
func (f *fixture) lock(p *pod.Pod) (release func()) {
	f.t.Helper()
	l, err := flock.OpenDir(p.Dir())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := l.TryExclusive(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
	return func() { l.Close() }
}

// run runs a command in-process with --dir pointing at the fixture.
func (f *fixture) run(c *cli.Command, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	args = append([]string{"--dir=" + f.root.Path(), "--local-config=" + filepath.Join(f.dir, "local")}, args...)
	code := cli.Run(c, args, &out, &errb)
	return code, out.String(), errb.String()
}

// logLines returns what the fake entrypoints logged.
func (f *fixture) logLines() []string {
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// where returns the place a pod is in now, or -1 if it is gone.
func (f *fixture) where(p *pod.Pod) pod.Place {
	for _, pl := range pod.Places {
		if _, err := os.Lstat(filepath.Join(f.root.PodsIn(pl.Dir()), p.UUID)); err == nil {
			return pl
		}
	}
	return -1
}

func (f *fixture) wantPlace(p *pod.Pod, want pod.Place) {
	f.t.Helper()
	if got := f.where(p); got != want {
		f.t.Errorf("pod %s is in %v, want %v", p.UUID, got, want)
	}
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
