package stage1abi

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// ParseStage1Manifest reads what the schema reads of a stage1 manifest.
func TestParseStage1Manifest(t *testing.T) {
	im := schema.BlankImageManifest()
	im.Name = "coreos.com/rkt/stage1-fly"
	im.Annotations.Set(types.ACIdentifier(AnnotationRun), "/run")
	im.Annotations.Set(types.ACIdentifier(AnnotationInterfaceVersion), "5")
	data, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseStage1Manifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "coreos.com/rkt/stage1-fly" {
		t.Errorf("name %q", m.Name)
	}
	if ep, err := m.Entrypoint(AnnotationRun); err != nil || ep != "/run" {
		t.Errorf("run entrypoint %q, %v", ep, err)
	}
	if _, err := m.Entrypoint(AnnotationGC); !errors.Is(err, ErrNoEntrypoint) {
		t.Errorf("gc entrypoint: %v, want ErrNoEntrypoint", err)
	}
	if v, err := m.InterfaceVersion(); err != nil || v != 5 {
		t.Errorf("interface version %d, %v", v, err)
	}

	m, err = ParseStage1Manifest([]byte(`{"acKind":"ImageManifest","name":"x","annotations":[{"name":"coreos.com/rkt/stage1/interface-version","value":"zero"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.InterfaceVersion(); err == nil {
		t.Error("a version that is not a number accepted")
	}
	m, _ = ParseStage1Manifest([]byte(`{"acKind":"ImageManifest","name":"x"}`))
	if v, err := m.InterfaceVersion(); err != nil || v != 1 {
		t.Errorf("no version annotation: %d, %v; want 1", v, err)
	}
	for _, bad := range []string{``, `[]`, `{"acKind":"PodManifest","name":"x"}`, `{"acKind":"ImageManifest","annotations":{}}`} {
		if _, err := ParseStage1Manifest([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCallerTimerSlack(t *testing.T) {
	for v, want := range map[string]uint64{"": 0, "50000": 50000, "x": 0, "-1": 0, "2000000": 2000000} {
		t.Setenv(TimerSlackEnv, v)
		if got := CallerTimerSlack(); got != want {
			t.Errorf("%q: %d, want %d", v, got, want)
		}
	}
}
