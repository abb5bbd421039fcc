package manifest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/common/stage1abi"
)

// A pod manifest with every field a stage1 reads, as stage0 writes it.
const fullPod = `{"acVersion":"0.8.11","acKind":"PodManifest",
 "apps":[{"name":"web","image":{"name":"example.com/web","id":"sha512-` + zeros + `","labels":[{"name":"version","value":"1"}]},
   "app":{"exec":["/bin/web","--x"],"user":"1000","group":"web","supplementaryGIDs":[5,6],
     "eventHandlers":[{"name":"pre-start","exec":["/bin/pre"]}],"workingDirectory":"/srv",
     "environment":[{"name":"A","value":"1"},{"name":"B","value":"x=y"}],
     "isolators":[{"name":"resource/memory","value":{"limit":"64M"}},{"name":"os/linux/no-new-privileges","value":true}],
     "mountPoints":[{"name":"data","path":"/data","readOnly":true}],
     "ports":[{"name":"http","protocol":"tcp","port":80,"count":1,"socketActivated":false}]},
   "readOnlyRootFS":true,
   "mounts":[{"volume":"data","path":"/data"},{"volume":"inline","path":"/in","appVolume":{"name":"inline","kind":"empty","mode":"0700","uid":1,"gid":2}}],
   "annotations":[{"name":"coreos.com/rkt/volume-copy-up","value":"true"}]},
  {"name":"side","image":{"id":"sha512-` + zeros + `"}}],
 "volumes":[{"name":"data","kind":"host","source":"/srv/data","readOnly":false,"recursive":true}],
 "isolators":null,
 "annotations":[{"name":"coreos.com/rkt/stage1/mutable","value":"false"}],
 "ports":[{"name":"http","hostPort":8080,"hostIP":"127.0.0.1"}]}`

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

func TestParsePodAsSchema(t *testing.T) {
	pm, err := ParsePod([]byte(fullPod))
	if err != nil {
		t.Fatal(err)
	}
	// The schema reads the same manifest; the fields agree.
	sm := &schema.PodManifest{}
	if err := json.Unmarshal([]byte(fullPod), sm); err != nil {
		t.Fatalf("the schema refuses the test manifest: %v", err)
	}
	agree(t, pm, sm)
	web := pm.Apps[0]
	if web.App.Isolators[0].Name != "resource/memory" || string(web.App.Isolators[0].Value) != `{"limit":"64M"}` {
		t.Errorf("isolator: %+v", web.App.Isolators[0])
	}
	if !reflect.DeepEqual(web.App.SupplementaryGIDs, []int{5, 6}) || web.App.EventHandlers[0].Exec[0] != "/bin/pre" {
		t.Errorf("app: %+v", web.App)
	}
	v := web.Mounts[1].AppVolume
	if v == nil || *v.Mode != "0700" || *v.UID != 1 || *v.GID != 2 || v.Kind != "empty" {
		t.Errorf("inline volume: %+v", v)
	}
	if pm.Ports[0].HostPort != 8080 || pm.Ports[0].HostIP != "127.0.0.1" || web.App.Ports[0].Port != 80 {
		t.Errorf("ports: %+v %+v", pm.Ports, web.App.Ports)
	}
	if string(pm.Raw) != fullPod {
		t.Error("Raw is not the manifest as read")
	}
	if got, ok := web.Annotations.Get("coreos.com/rkt/volume-copy-up"); !ok || got != "true" {
		t.Errorf("annotation: %q %v", got, ok)
	}
	if _, ok := web.Annotations.Get("nope"); ok {
		t.Error("Get found a missing annotation")
	}
}

// agree checks what a stage1 reads of a pod manifest against the
// schema's reading of it.
func agree(t *testing.T, pm *PodManifest, sm *schema.PodManifest) {
	t.Helper()
	if len(pm.Apps) != len(sm.Apps) || len(pm.Volumes) != len(sm.Volumes) || len(pm.Ports) != len(sm.Ports) {
		t.Fatalf("lengths differ: %d/%d apps, %d/%d volumes", len(pm.Apps), len(sm.Apps), len(pm.Volumes), len(sm.Volumes))
	}
	for i, ra := range pm.Apps {
		sa := sm.Apps[i]
		if ra.Name != sa.Name.String() || ra.ReadOnlyRootFS != sa.ReadOnlyRootFS || len(ra.Mounts) != len(sa.Mounts) {
			t.Errorf("app %d: %+v, schema %+v", i, ra, sa)
		}
		if (ra.App == nil) != (sa.App == nil) {
			t.Fatalf("app %d: app section %v, schema %v", i, ra.App, sa.App)
		}
		if ra.App != nil {
			if !reflect.DeepEqual(ra.App.Exec, []string(sa.App.Exec)) || ra.App.User != sa.App.User || ra.App.Group != sa.App.Group ||
				ra.App.WorkingDirectory != sa.App.WorkingDirectory || len(ra.App.Environment) != len(sa.App.Environment) ||
				len(ra.App.MountPoints) != len(sa.App.MountPoints) || len(ra.App.Isolators) != len(sa.App.Isolators) {
				t.Errorf("app %d: %+v, schema %+v", i, ra.App, sa.App)
			}
			for j, e := range ra.App.Environment {
				if e.Name != sa.App.Environment[j].Name || e.Value != sa.App.Environment[j].Value {
					t.Errorf("app %d env %d: %+v", i, j, e)
				}
			}
			for j, mp := range ra.App.MountPoints {
				smp := sa.App.MountPoints[j]
				if mp.Name != smp.Name.String() || mp.Path != smp.Path || mp.ReadOnly != smp.ReadOnly {
					t.Errorf("app %d mount point %d: %+v", i, j, mp)
				}
			}
		}
		for j, m := range ra.Mounts {
			if m.Volume != sa.Mounts[j].Volume.String() || m.Path != sa.Mounts[j].Path || (m.AppVolume == nil) != (sa.Mounts[j].AppVolume == nil) {
				t.Errorf("app %d mount %d: %+v", i, j, m)
			}
		}
	}
	for i, v := range pm.Volumes {
		sv := sm.Volumes[i]
		if v.Name != sv.Name.String() || v.Kind != sv.Kind || v.Source != sv.Source ||
			!reflect.DeepEqual(v.ReadOnly, sv.ReadOnly) || !reflect.DeepEqual(v.Recursive, sv.Recursive) {
			t.Errorf("volume %d: %+v, schema %+v", i, v, sv)
		}
	}
}

func TestParsePodRefuses(t *testing.T) {
	for name, js := range map[string]string{
		"not JSON":          `{`,
		"kind":              `{"acKind":"ImageManifest","apps":[]}`,
		"app name":          `{"acKind":"PodManifest","apps":[{"name":"../x","image":{"id":"x"}}]}`,
		"app name case":     `{"acKind":"PodManifest","apps":[{"name":"Web","image":{"id":"x"}}]}`,
		"duplicate app":     `{"acKind":"PodManifest","apps":[{"name":"a","image":{"id":"x"}},{"name":"a","image":{"id":"x"}}]}`,
		"volume name":       `{"acKind":"PodManifest","volumes":[{"name":"a/b","kind":"empty"}]}`,
		"mount volume name": `{"acKind":"PodManifest","apps":[{"name":"a","image":{"id":"x"},"mounts":[{"volume":"..","path":"/x"}]}]}`,
		"inline volume":     `{"acKind":"PodManifest","apps":[{"name":"a","image":{"id":"x"},"mounts":[{"volume":"v","path":"/x","appVolume":{"name":"V","kind":"empty"}}]}]}`,
		"mount point name":  `{"acKind":"PodManifest","apps":[{"name":"a","image":{"id":"x"},"app":{"exec":["/x"],"mountPoints":[{"name":"","path":"/x"}]}}]}`,
	} {
		if _, err := ParsePod([]byte(js)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, js := range map[string]string{
		"kind":             `{"acKind":"PodManifest","name":"x"}`,
		"no name":          `{"acKind":"ImageManifest"}`,
		"mount point name": `{"acKind":"ImageManifest","name":"x","app":{"exec":["/x"],"mountPoints":[{"name":"-x","path":"/x"}]}}`,
	} {
		if _, err := ParseImage([]byte(js)); err == nil {
			t.Errorf("image %s: accepted", name)
		}
	}
}

func TestEffective(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(stage1abi.PodManifestFile, fullPod)
	write(stage1abi.AppManifestRel("side"), `{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/side","labels":[{"name":"os","value":"linux"}],
		"app":{"exec":["/bin/side"],"user":"0","group":"0"},"annotations":[{"name":"a","value":"b"}]}`)
	pm, err := ReadPod(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The pod manifest's app section wins; the image is read anyway.
	app, name, im, err := Effective(dir, &pm.Apps[0])
	if err != nil || app.Exec[0] != "/bin/web" || name != "example.com/web" || im != nil {
		t.Errorf("web: %v %q %v %v", app, name, im, err)
	}
	app, name, im, err = Effective(dir, &pm.Apps[1])
	if err != nil || app.Exec[0] != "/bin/side" || name != "example.com/side" || im == nil || !strings.Contains(string(im.Raw), `"labels"`) {
		t.Errorf("side: %v %q %v %v", app, name, im, err)
	}
	if v, _ := im.Annotations.Get("a"); v != "b" {
		t.Errorf("image annotation %q", v)
	}
	// No exec anywhere.
	write(stage1abi.AppManifestRel("side"), `{"acKind":"ImageManifest","name":"example.com/side","app":{"exec":[" "]}}`)
	if _, _, _, err := Effective(dir, &pm.Apps[1]); err == nil || !strings.Contains(err.Error(), `"example.com/side" has an empty "exec"`) {
		t.Errorf("empty exec: %v", err)
	}
	if got := Env(app.Environment); len(got) != 0 {
		t.Errorf("Env: %q", got)
	}
	if got := Env([]EnvVar{{"A", "1"}, {"B", "="}}); !reflect.DeepEqual(got, []string{"A=1", "B=="}) {
		t.Errorf("Env: %q", got)
	}
}

// FuzzParsePod holds ParsePod to the schema: a manifest the schema
// accepts is read alike, and one ParsePod accepts has app names that are
// safe as paths. ParsePod is stricter in one way: the schema checks a
// name only when the field is there, and lets an app, volume or mount
// point without one through.
func FuzzParsePod(f *testing.F) {
	f.Add([]byte(fullPod))
	f.Add([]byte(`{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"a","image":{"id":"sha512-` + zeros + `"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pm, err := ParsePod(b)
		sm := &schema.PodManifest{}
		serr := schemaDecode(b, sm)
		if serr == nil && err != nil && !strings.Contains(err.Error(), "ACName cannot be empty") {
			t.Fatalf("the schema accepts what ParsePod refuses: %v", err)
		}
		if err != nil {
			return
		}
		for _, ra := range pm.Apps {
			if ra.Name == "" || strings.ContainsAny(ra.Name, "/.") {
				t.Fatalf("app name %q accepted", ra.Name)
			}
		}
		if serr == nil {
			agree(t, pm, sm)
		}
	})
}

// schemaDecode is the schema's decoding, whose panics (an isolator
// without a value) count as refusals.
func schemaDecode(b []byte, sm *schema.PodManifest) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("the schema panicked")
		}
	}()
	return json.Unmarshal(b, sm)
}
