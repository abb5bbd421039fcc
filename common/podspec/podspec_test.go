package podspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

func TestParseApps(t *testing.T) {
	apps, err := ParseApps([]string{"img1", "--name=a", "--exec=/bin/sh", "--", "-c", "echo hi", "---", "img2", "--user=5", "--supplementary-gids=1,2", "img3", "--", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 3 {
		t.Fatalf("%d apps", len(apps))
	}
	a := apps[0]
	if a.Image != "img1" || a.Name != "a" || a.Exec != "/bin/sh" || strings.Join(a.Args, "|") != "-c|echo hi" {
		t.Errorf("app 1: %+v", a)
	}
	if apps[1].User != "5" || len(apps[1].SupplementaryGIDs) != 2 || apps[1].HasArgs {
		t.Errorf("app 2: %+v", apps[1])
	}
	if !apps[2].HasArgs || strings.Join(apps[2].Args, "|") != "x" {
		t.Errorf("app 3: %+v", apps[2])
	}
	for _, bad := range [][]string{
		{"--", "x"},
		{"img", "--bogus"},
		{"img", "--caps-retain=CAP_KILL", "--caps-remove=CAP_CHOWN"},
		{"img", "--supplementary-gids=a"},
		{"img", "--cpu-shares=x"},
	} {
		if _, err := ParseApps(bad); !errors.Is(err, ErrArgs) {
			t.Errorf("ParseApps(%q) = %v", bad, err)
		}
	}
}

func image(t *testing.T, name string, env map[string]string) Image {
	t.Helper()
	m := schema.BlankImageManifest()
	m.Name = types.ACIdentifier(name)
	m.Labels = types.Labels{{Name: "os", Value: "linux"}, {Name: "arch", Value: "amd64"}}
	m.App = &types.App{Exec: types.Exec{"/bin/app", "arg"}, User: "0", Group: "0"}
	for k, v := range env {
		m.App.Environment.Set(k, v)
	}
	h, _ := types.NewHash("sha512-" + strings.Repeat("a", 128))
	return Image{ID: *h, Manifest: m}
}

func TestEnvPrecedence(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# comment\n; also\n\nL=file\nF=file\n"), 0o644)
	p := &Pod{InheritEnv: true, ParentEnv: []string{"L=parent", "P=parent", "PATH=/parent"}, SetEnv: []string{"L=setenv", "S=setenv"}, SetEnvFile: envFile}
	img := image(t, "example.com/app", map[string]string{"L": "image", "I": "image"})
	apps, _ := ParseApps([]string{"example.com/app", "--environment=L=app"})
	pm, err := Build(p, apps, []Image{img})
	if err != nil {
		t.Fatal(err)
	}
	env := pm.Apps[0].App.Environment
	for k, want := range map[string]string{"L": "app", "I": "image", "F": "file", "S": "setenv", "P": "parent", "PATH": "/parent", "HOME": "/root", "SHELL": "/bin/sh", "AC_APP_NAME": "app"} {
		if got, _ := env.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Without --environment, --set-env beats the file, the file beats the image.
	apps, _ = ParseApps([]string{"example.com/app"})
	pm, _ = Build(&Pod{SetEnv: []string{"L=setenv"}, SetEnvFile: envFile}, apps, []Image{img})
	if got, _ := pm.Apps[0].App.Environment.Get("L"); got != "setenv" {
		t.Errorf("--set-env vs file: %q", got)
	}
	pm, _ = Build(&Pod{SetEnvFile: envFile}, apps, []Image{img})
	if got, _ := pm.Apps[0].App.Environment.Get("L"); got != "file" {
		t.Errorf("file vs image: %q", got)
	}
	os.WriteFile(envFile, []byte("A=1\nA=2\n"), 0o644)
	if _, err := Build(&Pod{SetEnvFile: envFile}, apps, []Image{img}); err == nil || !strings.Contains(err.Error(), "already set on line 1") {
		t.Errorf("duplicate in env file: %v", err)
	}
}

func TestBuildOverridesAndChecks(t *testing.T) {
	img := image(t, "example.com/busy-box_1", nil)
	apps, _ := ParseApps([]string{"x", "--exec=/bin/echo", "--user=nobody", "--working-dir=/tmp", "--readonly-rootfs=true", "--memory=64M", "--cpu=500m", "--cpu-shares=512", "--oom-score-adj=42", "--caps-retain=kill,CAP_CHOWN", "--seccomp=mode=remove,errno=EPERM,reboot", "--mount=volume=v,target=/a", "--annotation=example.com/a=b", "--user-label=l=1", "--", "hi"})
	pm, err := Build(&Pod{Volumes: []string{"v,kind=empty"}, Ports: []string{"http:127.0.0.1:8080"}, Mounts: []string{"volume=v,target=/a", "volume=v,target=/b"}}, apps, []Image{img})
	if err != nil {
		t.Fatal(err)
	}
	ra := pm.Apps[0]
	if ra.Name != "busy-box_1" && ra.Name != "busy-box-1" {
		t.Errorf("default app name %q", ra.Name)
	}
	if strings.Join(ra.App.Exec, " ") != "/bin/echo hi" || ra.App.User != "nobody" || ra.App.WorkingDirectory != "/tmp" || !ra.ReadOnlyRootFS {
		t.Errorf("overrides: %+v", ra.App)
	}
	var names []string
	for _, iso := range ra.App.Isolators {
		names = append(names, string(iso.Name))
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"os/linux/cpu-shares", "os/linux/oom-score-adj", "os/linux/capabilities-retain-set", "os/linux/seccomp-remove-set", "resource/memory", "resource/cpu"} {
		if !strings.Contains(got, want) {
			t.Errorf("isolators %q lack %s", got, want)
		}
	}
	if !strings.HasSuffix(got, "resource/memory resource/cpu") {
		t.Errorf("memory and cpu must come last: %s", got)
	}
	if len(ra.Mounts) != 2 || pm.Ports[0].HostPort != 8080 || len(pm.Volumes) != 1 {
		t.Errorf("mounts %v ports %v volumes %v", ra.Mounts, pm.Ports, pm.Volumes)
	}
	if v, _ := pm.Annotations.Get("coreos.com/rkt/stage1/mutable"); v != "false" || pm.ACVersion.String() != "0.8.11" {
		t.Errorf("pod annotations/version: %v %s", pm.Annotations, pm.ACVersion)
	}
	for _, bad := range []struct {
		p    Pod
		args []string
	}{
		{Pod{Volumes: []string{"v,kind=bogus"}}, []string{"x"}},
		{Pod{Volumes: []string{"v,kind=empty", "v,kind=empty"}}, []string{"x"}},
		{Pod{Volumes: []string{"v,kind=host,source=rel"}}, []string{"x"}},
		{Pod{Ports: []string{"http"}}, []string{"x"}},
		{Pod{Mounts: []string{"volume=v"}}, []string{"x"}},
		{Pod{}, []string{"x", "--memory=1"}},
		{Pod{}, []string{"x", "--memory=1e999999999"}},
		{Pod{}, []string{"x", "--memory=1e30"}},
		{Pod{}, []string{"x", "--seccomp=mode=bogus,reboot"}},
		{Pod{}, []string{"x", "x"}}, // duplicate app name
	} {
		apps, err := ParseApps(bad.args)
		if err == nil {
			imgs := []Image{img, img}[:len(apps)]
			_, err = Build(&bad.p, apps, imgs)
		}
		if err == nil {
			t.Errorf("%+v %v accepted", bad.p, bad.args)
		}
	}
}

// A memory limit beyond int64 is refused as such (the schema's Value
// wraps around: 1e30 came out under 4096 bytes).
func TestMemoryTooLarge(t *testing.T) {
	for _, m := range []string{"1e30", "9Ei", "1e999999999", "1e-999999999"} {
		apps, err := ParseApps([]string{"x", "--memory=" + m})
		if err == nil {
			_, err = Build(&Pod{}, apps, []Image{image(t, "x", nil)})
		}
		if err == nil || strings.Contains(err.Error(), "4096") || !strings.Contains(err.Error(), m) {
			t.Errorf("--memory=%s: %v", m, err)
		}
	}
}

// A --cpu the schema's parser would compute for minutes is refused
// first.
func TestCPUExponent(t *testing.T) {
	apps, err := ParseApps([]string{"x", "--cpu=1e-999999999"})
	if err == nil {
		_, err = Build(&Pod{}, apps, []Image{image(t, "x", nil)})
	}
	if err == nil || !strings.Contains(err.Error(), "exponent out of range") {
		t.Errorf("--cpu=1e-999999999: %v", err)
	}
}

func TestNoAppSectionNeedsExec(t *testing.T) {
	img := image(t, "example.com/noapp", nil)
	img.Manifest.App = nil
	apps, _ := ParseApps([]string{"x"})
	if _, err := Build(&Pod{}, apps, []Image{img}); err == nil || !strings.Contains(err.Error(), "--exec") {
		t.Errorf("no app section: %v", err)
	}
	apps, _ = ParseApps([]string{"x", "--exec=/bin/true"})
	if _, err := Build(&Pod{}, apps, []Image{img}); err != nil {
		t.Error(err)
	}
}

// Several apps of one image share its manifest (prepare resolves an
// image once): one app's flags must not reach another app, nor the image.
func TestAppsShareAnImage(t *testing.T) {
	img := image(t, "example.com/app", map[string]string{"E": "1"})
	img.Manifest.App.UserAnnotations = types.UserAnnotations{"from": "image"}
	apps := []*App{
		{Name: "a", UserAnnotations: []string{"only=a"}, Environment: []string{"E=a"}, Exec: "/bin/a"},
		{Name: "b"},
	}
	pm, err := Build(&Pod{}, apps, []Image{img, img})
	if err != nil {
		t.Fatal(err)
	}
	a, b := pm.Apps[0].App, pm.Apps[1].App
	if a.UserAnnotations["only"] != "a" || b.UserAnnotations["only"] != "" || b.UserAnnotations["from"] != "image" {
		t.Errorf("user annotations: a %v, b %v", a.UserAnnotations, b.UserAnnotations)
	}
	if len(img.Manifest.App.UserAnnotations) != 1 {
		t.Errorf("the image's annotations changed: %v", img.Manifest.App.UserAnnotations)
	}
	if v, _ := b.Environment.Get("E"); v != "1" {
		t.Errorf("app b's environment: %v", b.Environment)
	}
	if b.Exec[0] != "/bin/app" || a.Exec[0] != "/bin/a" || img.Manifest.App.Exec[0] != "/bin/app" {
		t.Errorf("exec: a %v, b %v, image %v", a.Exec, b.Exec, img.Manifest.App.Exec)
	}
}
