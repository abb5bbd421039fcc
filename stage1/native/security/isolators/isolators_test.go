package isolators

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/appc/spec/schema/types"
	"github.com/appc/spec/schema/types/resource"
	"github.com/moby/sys/capability"

	"github.com/rkt/rkt/common/quantity"
	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/security/caps"
)

// iso decodes one isolator as run does (Decode).
func iso(t *testing.T, name, value string) Isolator {
	t.Helper()
	isos, err := Decode([]manifest.Isolator{{Name: name, Value: json.RawMessage(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return isos[0]
}

func testIsolators(t *testing.T) Isolators {
	return Isolators{
		iso(t, MemoryName, `{"request":"64Mi","limit":"64Mi"}`),
		iso(t, CPUName, `{"request":"250m","limit":"500m"}`),
		iso(t, CPUSharesName, `512`),
		iso(t, OOMScoreAdjName, `42`),
	}
}

// The names are the appc schema's.
func TestNames(t *testing.T) {
	for ours, theirs := range map[string]types.ACIdentifier{
		CapsRetainSetName:    CapsRetainSetName,
		CapsRemoveSetName:    CapsRemoveSetName,
		SeccompRetainSetName: types.LinuxSeccompRetainSetName,
		SeccompRemoveSetName: types.LinuxSeccompRemoveSetName,
		NoNewPrivilegesName:  types.LinuxNoNewPrivilegesName,
		OOMScoreAdjName:      types.LinuxOOMScoreAdjName,
		CPUSharesName:        types.LinuxCPUSharesName,
		MemoryName:           MemoryName,
		CPUName:              types.ResourceCPUName,
	} {
		if ours != string(theirs) {
			t.Errorf("%s, the schema's %s", ours, theirs)
		}
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
	s, err := Caps(Isolators{iso(t, CapsRetainSetName, `{"set":["CAP_NET_ADMIN","CAP_SYS_ADMIN"]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := caps.Names(s.Bounding); !slices.Equal(got, []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}) {
		t.Fatalf("retain: %v", got)
	}
	s, err = Caps(Isolators{iso(t, CapsRemoveSetName, `{"set":["CAP_NET_RAW","CAP_MKNOD"]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := caps.Names(s.Bounding)
	if len(got) != len(caps.DefaultRetained)-2 || slices.Contains(got, "CAP_NET_RAW") || slices.Contains(got, "CAP_MKNOD") || !slices.Contains(got, "CAP_CHOWN") {
		t.Fatalf("remove: %v", got)
	}
	_, err = Caps(Isolators{
		iso(t, CapsRetainSetName, `{"set":["CAP_NET_ADMIN"]}`),
		iso(t, CapsRemoveSetName, `{"set":["CAP_NET_RAW"]}`),
	}, false)
	if err == nil {
		t.Fatal("retain+remove: expected error")
	}
	if _, err := Caps(Isolators{iso(t, CapsRetainSetName, `{"set":["CAP_BOGUS"]}`)}, false); err == nil {
		t.Fatal("unknown capability: expected error")
	}
}

func TestCapsDisabled(t *testing.T) {
	s, err := Caps(Isolators{iso(t, CapsRetainSetName, `{"set":["CAP_NET_ADMIN"]}`)}, true)
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
	nnp := func(v string) Isolator { return iso(t, NoNewPrivilegesName, v) }
	for i, tc := range []struct {
		isos Isolators
		want bool
	}{
		{nil, false},
		{Isolators{nnp("true")}, true},
		{Isolators{nnp("false")}, false},
		{Isolators{nnp("false"), nnp("true"), nnp("false")}, true},
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
	for _, bad := range []Isolator{
		iso(t, MemoryName, `{"limit":"0"}`),
		iso(t, MemoryName, `{"limit":"-1Mi"}`),
		iso(t, MemoryName, `{"limit":"9Ei"}`),
		iso(t, CPUName, `{"limit":"0m"}`),
		iso(t, CPUName, `{"limit":"1e14"}`),
	} {
		if _, _, err := Resources(Isolators{bad}); err == nil {
			t.Errorf("%s %s: accepted", bad.Name, bad.Raw)
		}
	}
	// A request alone sets no limit; fractions round up.
	res, _, err = Resources(Isolators{iso(t, MemoryName, `{"request":"1Gi"}`), iso(t, CPUName, `{"limit":"0.0001"}`)})
	if err != nil || res.Memory != 0 || res.CpuQuota != 1000 {
		t.Errorf("request only, tiny cpu: %+v %v", res, err)
	}
	res, _, err = Resources(Isolators{iso(t, MemoryName, `{"limit":"1.5Ki"}`), iso(t, CPUName, `{"limit":"1.5"}`)})
	if err != nil || res.Memory != 1536 || res.CpuQuota != 150000 {
		t.Errorf("1.5Ki, 1.5 CPUs: %+v %v", res, err)
	}
}

// Decode accepts and refuses what the appc schema's decoder accepts
// and refuses, for the kinds the stage1 applies, and decodes them to the
// same values; other kinds are kept undecoded. It refuses an isolator
// without a value, which the schema's decoder would crash on.
func TestDecode(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{MemoryName, `{"limit":"64M"}`},
		{MemoryName, `{"request":"1Gi","limit":"1.5Gi"}`},
		{MemoryName, `{"limit":"lots"}`},
		{MemoryName, `{"limit":"64M","default":true}`},
		{MemoryName, `{"limit":64000000}`},
		{MemoryName, `{}`},
		{MemoryName, `[]`},
		{CPUName, `{"limit":"500m"}`},
		{CPUName, `{"request":"2","limit":"2.5"}`},
		{CPUName, `{"limit":"1e3m"}`},
		{CPUSharesName, `512`},
		{CPUSharesName, `1`},
		{CPUSharesName, `262145`},
		{CPUSharesName, `"512"`},
		{OOMScoreAdjName, `42`},
		{OOMScoreAdjName, `-1000`},
		{OOMScoreAdjName, `1001`},
		{OOMScoreAdjName, `1.5`},
		{NoNewPrivilegesName, `true`},
		{NoNewPrivilegesName, `"yes"`},
		{CapsRetainSetName, `{"set":["CAP_NET_BIND_SERVICE"]}`},
		{CapsRetainSetName, `{"set":[]}`},
		{CapsRemoveSetName, `{"set":["CAP_NET_RAW","CAP_MKNOD"]}`},
		{CapsRemoveSetName, `{"set":"CAP_NET_RAW"}`},
		{SeccompRetainSetName, `{"set":["@rkt/default-whitelist"],"errno":"EPERM"}`},
		{SeccompRemoveSetName, `{"set":["reboot"]}`},
		{SeccompRemoveSetName, `{"set":[]}`},
		{SeccompRemoveSetName, `{"set":["reboot"],"errno":"eperm"}`},
		{SeccompRemoveSetName, `{"set":["reboot"],"errno":"E_PERM"}`},
		{SeccompRemoveSetName, `{"set":["reboot"],"errno":"PERM"}`},
		{"os/linux/selinux-context", `{"user":"u","role":"r","type":"t","level":"s0"}`},
		{"example.com/own", `{"anything":1}`},
	} {
		var want types.Isolator
		wantErr := want.UnmarshalJSON([]byte(`{"name":"` + tc.name + `","value":` + tc.value + `}`))
		isos, err := Decode([]manifest.Isolator{{Name: tc.name, Value: json.RawMessage(tc.value)}})
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s %s: error %v, the schema's %v", tc.name, tc.value, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		got := isos[0]
		if got.Name != tc.name || string(got.Raw) != tc.value {
			t.Errorf("%s %s: decoded as %+v", tc.name, tc.value, got)
		}
		if !sameValue(t, got.Value, want.Value()) {
			t.Errorf("%s %s: value %#v, the schema's %#v", tc.name, tc.value, got.Value, want.Value())
		}
	}
	if isos, err := Decode(nil); err != nil || isos != nil {
		t.Errorf("no isolators: %v %v", isos, err)
	}
	for _, v := range []string{"", "null", " null "} {
		if _, err := Decode([]manifest.Isolator{{Name: MemoryName, Value: json.RawMessage(v)}}); err == nil {
			t.Errorf("value %q: accepted", v)
		}
	}
}

// sameValue reports whether our decoded value says what the schema's
// does.
func sameValue(t *testing.T, ours any, theirs types.IsolatorValue) bool {
	t.Helper()
	switch v := theirs.(type) {
	case nil:
		return ours == nil
	case types.LinuxCapabilitiesSet:
		o, ok := ours.(CapsSet)
		var want []string
		for _, c := range v.Set() {
			want = append(want, string(c))
		}
		return ok && slices.Equal(o, want)
	case types.LinuxSeccompSet:
		o, ok := ours.(SeccompSet)
		var want []string
		for _, e := range v.Set() {
			want = append(want, string(e))
		}
		return ok && slices.Equal(o.Set, want) && o.Errno == string(v.Errno())
	case *types.LinuxNoNewPrivileges:
		o, ok := ours.(NoNewPrivileges)
		return ok && bool(o) == bool(*v)
	case *types.LinuxOOMScoreAdj:
		o, ok := ours.(OOMScoreAdj)
		return ok && int(o) == int(*v)
	case *types.LinuxCPUShares:
		o, ok := ours.(CPUShares)
		return ok && int(o) == int(*v)
	case *types.ResourceMemory:
		o, ok := ours.(*Resource)
		return ok && sameQuantity(t, o.Limit, v.Limit()) && sameQuantity(t, o.Request, v.Request())
	case *types.ResourceCPU:
		o, ok := ours.(*Resource)
		return ok && sameQuantity(t, o.Limit, v.Limit()) && sameQuantity(t, o.Request, v.Request())
	}
	// Kinds the stage1 does not apply are not decoded.
	return ours == nil
}

func sameQuantity(t *testing.T, ours *quantity.Quantity, theirs *resource.Quantity) bool {
	t.Helper()
	if ours == nil || theirs == nil {
		return ours == nil && theirs == nil
	}
	v, err := ours.Value()
	m, err2 := ours.MilliValue()
	return err == nil && err2 == nil && v == theirs.Value() && m == theirs.MilliValue()
}
