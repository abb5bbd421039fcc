package isolators

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"

	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/security/caps"
)

// iso decodes one isolator as run does (Decode).
func iso(t *testing.T, name, value string) types.Isolator {
	t.Helper()
	isos, err := Decode([]manifest.Isolator{{Name: name, Value: json.RawMessage(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return isos[0]
}

func testIsolators(t *testing.T) types.Isolators {
	// Built through the appc constructors on purpose: their AsIsolator
	// leaves the value empty and must still work.
	mem, err := types.NewResourceMemoryIsolator("64Mi", "64Mi")
	if err != nil {
		t.Fatal(err)
	}
	return types.Isolators{
		mem.AsIsolator(),
		iso(t, types.ResourceCPUName, `{"request":"250m","limit":"500m"}`),
		iso(t, types.LinuxCPUSharesName, `512`),
		iso(t, types.LinuxOOMScoreAdjName, `42`),
	}
}

func TestCapsDefault(t *testing.T) {
	s, err := Caps(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := caps.Names(s.Bounding)
	want := slices.Clone(caps.DefaultRetained)
	slices.SortFunc(want, func(a, b string) int { p, _ := caps.Parse(a); q, _ := caps.Parse(b); return int(p) - int(q) })
	if !slices.Equal(got, want) {
		t.Fatalf("default bounding = %v, want %v", got, want)
	}
	if !slices.Equal(s.Effective, s.Bounding) || !slices.Equal(s.Permitted, s.Bounding) || len(s.Ambient) != 0 || len(s.Inheritable) != 0 {
		t.Fatalf("unexpected root sets %+v", s)
	}
	nr := s.ForUID(1000)
	if len(nr.Effective)+len(nr.Permitted)+len(nr.Ambient)+len(nr.Inheritable) != 0 || !slices.Equal(nr.Bounding, s.Bounding) {
		t.Fatalf("unexpected non-root sets %+v", nr)
	}
}

func TestCapsRetainRemove(t *testing.T) {
	s, err := Caps(types.Isolators{iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN","CAP_SYS_ADMIN"]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := caps.Names(s.Bounding); !slices.Equal(got, []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}) {
		t.Fatalf("retain: %v", got)
	}
	s, err = Caps(types.Isolators{iso(t, types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_NET_RAW","CAP_MKNOD"]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := caps.Names(s.Bounding)
	if len(got) != len(caps.DefaultRetained)-2 || slices.Contains(got, "CAP_NET_RAW") || slices.Contains(got, "CAP_MKNOD") || !slices.Contains(got, "CAP_CHOWN") {
		t.Fatalf("remove: %v", got)
	}
	_, err = Caps(types.Isolators{
		iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN"]}`),
		iso(t, types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_NET_RAW"]}`),
	}, false)
	if err == nil {
		t.Fatal("retain+remove: expected error")
	}
	if _, err := Caps(types.Isolators{iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_BOGUS"]}`)}, false); err == nil {
		t.Fatal("unknown capability: expected error")
	}
}

func TestCapsDisabled(t *testing.T) {
	s, err := Caps(types.Isolators{iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN"]}`)}, true)
	if err != nil {
		t.Fatal(err)
	}
	all, err := capability.ListSupported()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Bounding) != len(all) {
		t.Fatalf("disabled restriction: %d caps, want %d", len(s.Bounding), len(all))
	}
}

func TestNoNewPrivs(t *testing.T) {
	nnp := func(v string) types.Isolator {
		var i types.Isolator
		if err := i.UnmarshalJSON([]byte(`{"name":"` + types.LinuxNoNewPrivilegesName + `","value":` + v + `}`)); err != nil {
			t.Fatal(err)
		}
		return i
	}
	for i, tc := range []struct {
		isos types.Isolators
		want bool
	}{
		{nil, false},
		{types.Isolators{nnp("true")}, true},
		{types.Isolators{nnp("false")}, false},
		{types.Isolators{nnp("false"), nnp("true"), nnp("false")}, true},
	} {
		if got := NoNewPrivs(tc.isos); got != tc.want {
			t.Errorf("case %d: got %v want %v", i, got, tc.want)
		}
	}
}

func TestResources(t *testing.T) {
	res, oom, err := Resources(testIsolators(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Memory != 64<<20 || res.CpuQuota != 50000 || res.CpuPeriod != 100000 || res.CpuShares != 512 || oom == nil || *oom != 42 {
		t.Fatalf("unexpected resources %+v oom %v", res, oom)
	}
	if res, oom, err := Resources(nil); err != nil || oom != nil || res.Memory != 0 {
		t.Fatalf("no isolators: %+v %v %v", res, oom, err)
	}
	if _, _, err := Resources(types.Isolators{iso(t, types.ResourceMemoryName, `{"limit":"0"}`)}); err == nil {
		t.Fatal("a zero memory limit: accepted")
	}
}

// Decode gives what the schema gives for the app as a whole, and refuses
// an isolator without a value, which the schema's decoder would crash on.
func TestDecode(t *testing.T) {
	app := `{"exec":["/x"],"user":"0","group":"0","isolators":[` +
		`{"name":"resource/memory","value":{"limit":"64M"}},` +
		`{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_NET_BIND_SERVICE"]}},` +
		`{"name":"os/linux/no-new-privileges","value":true}]}`
	var lean manifest.App
	if err := json.Unmarshal([]byte(app), &lean); err != nil {
		t.Fatal(err)
	}
	var want types.App
	if err := json.Unmarshal([]byte(app), &want); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(lean.Isolators)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want.Isolators) {
		t.Errorf("got %+v, want %+v", got, want.Isolators)
	}
	if isos, err := Decode(nil); err != nil || isos != nil {
		t.Errorf("no isolators: %v %v", isos, err)
	}
	for _, v := range []string{"", "null", " null "} {
		if _, err := Decode([]manifest.Isolator{{Name: "resource/memory", Value: json.RawMessage(v)}}); err == nil {
			t.Errorf("value %q: accepted", v)
		}
	}
	if _, err := Decode([]manifest.Isolator{{Name: "resource/memory", Value: json.RawMessage(`{"limit":"lots"}`)}}); err == nil {
		t.Error("a bad limit: accepted")
	}
}
