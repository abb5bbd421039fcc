package ociimage

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func testConfig() *v1.ConfigFile {
	return &v1.ConfigFile{
		Architecture: "arm64",
		OS:           "linux",
		Author:       "someone",
		Created:      v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		Config: v1.Config{
			Entrypoint:   []string{"/bin/app"},
			Cmd:          []string{"--serve"},
			Env:          []string{"A=1", "B=x=y", "BROKEN", "=nokey"},
			WorkingDir:   "/srv",
			User:         "www:staff",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}, "9000": {}},
			Volumes:      map[string]struct{}{"/data": {}, "/var/lib/x": {}, "/data/": {}},
			Labels:       map[string]string{"org.example.version": "3", "Bad Label": "x"},
		},
	}
}

func TestConvert(t *testing.T) {
	o := Origin{Original: "docker://127.0.0.1:5000/library/app:1.0", Registry: "127.0.0.1:5000", Repository: "library/app",
		Tag: "1.0", ManifestDigest: "sha256:aa", ConfigDigest: "sha256:bb"}
	m, err := Convert(o, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "127.0.0.1_5000/library/app" {
		t.Errorf("name %s", m.Name)
	}
	for k, want := range map[types.ACIdentifier]string{"version": "1.0", "os": "linux", "arch": "aarch64"} {
		if got, _ := m.Labels.Get(string(k)); got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	app := m.App
	if !reflect.DeepEqual([]string(app.Exec), []string{"/bin/app", "--serve"}) {
		t.Errorf("exec %v", app.Exec)
	}
	if app.User != "www" || app.Group != "staff" || app.WorkingDirectory != "/srv" {
		t.Errorf("user %q group %q dir %q", app.User, app.Group, app.WorkingDirectory)
	}
	if v, _ := app.Environment.Get("B"); v != "x=y" || len(app.Environment) != 2 {
		t.Errorf("environment %v", app.Environment)
	}
	var ports []string
	for _, p := range app.Ports {
		ports = append(ports, p.Name.String()+"/"+p.Protocol)
	}
	if !reflect.DeepEqual(ports, []string{"53-udp/udp", "8080-tcp/tcp", "9000-tcp/tcp"}) {
		t.Errorf("ports %v", ports)
	}
	var mps []string
	for _, mp := range app.MountPoints {
		mps = append(mps, mp.Name.String()+"="+mp.Path)
	}
	if !reflect.DeepEqual(mps, []string{"volume-data=/data", "volume-data-2=/data", "volume-var-lib-x=/var/lib/x"}) {
		t.Errorf("mount points %v", mps)
	}
	for k, want := range map[string]string{
		AnnotationEntrypoint: `["/bin/app"]`, AnnotationCmd: `["--serve"]`, AnnotationManifestHash: "sha256:aa",
		AnnotationImageID: "sha256:bb", AnnotationRegistryURL: "127.0.0.1:5000", AnnotationTag: "1.0",
		AnnotationCreated: "2024-01-02T03:04:05Z", AnnotationAuthors: "someone", "org.example.version": "3",
	} {
		if got, _ := m.Annotations.Get(k); got != want {
			t.Errorf("annotation %s = %q, want %q", k, got, want)
		}
	}
	// The result is a valid manifest, and converting is deterministic
	// (the image ID is the hash of the manifest).
	b1, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := Convert(o, testConfig())
	if b2, _ := json.Marshal(m2); string(b1) != string(b2) {
		t.Error("two conversions differ")
	}
}

func TestConvertDefaults(t *testing.T) {
	m, err := Convert(Origin{Repository: "x"}, &v1.ConfigFile{})
	if err != nil {
		t.Fatal(err)
	}
	if m.App.User != "0" || m.App.Group != "0" || len(m.App.Exec) != 0 {
		t.Errorf("defaults: %+v", m.App)
	}
	if _, err := Convert(Origin{Repository: "x"}, &v1.ConfigFile{Config: v1.Config{ExposedPorts: map[string]struct{}{"http/tcp": {}}}}); err == nil {
		t.Error("a bad port was accepted")
	}
}

func TestExec(t *testing.T) {
	m, err := Convert(Origin{Repository: "x"}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		exec    string
		args    []string
		hasArgs bool
		want    []string
	}{
		{want: []string{"/bin/app", "--serve"}},
		{args: []string{"--debug"}, hasArgs: true, want: []string{"/bin/app", "--debug"}},
		{hasArgs: true, want: []string{"/bin/app"}},
		{exec: "/bin/sh", want: []string{"/bin/sh"}},
		{exec: "/bin/sh", args: []string{"-c", "x"}, hasArgs: true, want: []string{"/bin/sh", "-c", "x"}},
	} {
		got, ok := Exec(m, tc.exec, tc.args, tc.hasArgs)
		if !ok || !reflect.DeepEqual([]string(got), tc.want) {
			t.Errorf("Exec(%q, %v): %v, want %v", tc.exec, tc.args, got, tc.want)
		}
	}
	// Not a converted image: the caller's rule applies.
	m.Annotations = nil
	if _, ok := Exec(m, "", nil, false); ok {
		t.Error("Exec applied to an ACI")
	}
}
