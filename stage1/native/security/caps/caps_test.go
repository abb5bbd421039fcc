package caps

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
	"github.com/moby/sys/capability"
	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/appspawn/appspawntest"
)

func iso(t *testing.T, name, value string) types.Isolator {
	t.Helper()
	var i types.Isolator
	if err := json.Unmarshal([]byte(`{"name":"`+name+`","value":`+value+`}`), &i); err != nil {
		t.Fatal(err)
	}
	return i
}

func TestComputeDefault(t *testing.T) {
	s, err := Compute(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := Names(s.Bounding)
	want := slices.Clone(DefaultRetained)
	slices.SortFunc(want, func(a, b string) int { p, _ := Parse(a); q, _ := Parse(b); return int(p) - int(q) })
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

func TestComputeRetainRemove(t *testing.T) {
	s, err := Compute(types.Isolators{iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN","CAP_SYS_ADMIN"]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := Names(s.Bounding); !slices.Equal(got, []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}) {
		t.Fatalf("retain: %v", got)
	}
	s, err = Compute(types.Isolators{iso(t, types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_NET_RAW","CAP_MKNOD"]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := Names(s.Bounding)
	if len(got) != len(DefaultRetained)-2 || slices.Contains(got, "CAP_NET_RAW") || slices.Contains(got, "CAP_MKNOD") || !slices.Contains(got, "CAP_CHOWN") {
		t.Fatalf("remove: %v", got)
	}
	_, err = Compute(types.Isolators{
		iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN"]}`),
		iso(t, types.LinuxCapabilitiesRevokeSetName, `{"set":["CAP_NET_RAW"]}`),
	}, false)
	if err == nil {
		t.Fatal("retain+remove: expected error")
	}
	if _, err := Compute(types.Isolators{iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_BOGUS"]}`)}, false); err == nil {
		t.Fatal("unknown capability: expected error")
	}
}

func TestComputeDisabled(t *testing.T) {
	s, err := Compute(types.Isolators{iso(t, types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_ADMIN"]}`)}, true)
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

// statusCaps starts cat /proc/self/status the way the supervisor starts
// an app (appspawn) with the sets Compute gives for a retain-set of
// CAP_NET_RAW and CAP_SETPCAP, as root (mode "root") or as uid 1000,
// and returns its Cap* lines.
func statusCaps(t *testing.T, mode string) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat")
	}
	r, _ := types.NewLinuxCapabilitiesRetainSet("CAP_NET_RAW", "CAP_SETPCAP")
	i, err := r.AsIsolator()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compute(types.Isolators{*i}, false)
	if err != nil {
		t.Fatal(err)
	}
	uid := uint32(0)
	if mode == "nonroot" {
		uid = 1000
	}
	out, ws, err := appspawntest.Run(t, &appspawn.Spec{
		Path: cat, Argv: []string{"cat", "/proc/self/status"}, UID: uid, GID: uid,
		Caps: s.ForUID(int(uid)).Masks(),
	})
	if err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("cat: %v, %v: %s", err, ws, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Cap") {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// mask is the hex capability mask of CAP_NET_RAW (13) and CAP_SETPCAP (8).
const mask = "0000000000002100"

func TestApplyRoot(t *testing.T) {
	m := statusCaps(t, "root")
	for _, k := range []string{"CapBnd", "CapEff", "CapPrm"} {
		if m[k] != mask {
			t.Errorf("%s = %s, want %s (%v)", k, m[k], mask, m)
		}
	}
	if m["CapAmb"] != "0000000000000000" || m["CapInh"] != "0000000000000000" {
		t.Errorf("unexpected inheritable/ambient: %v", m)
	}
}

func TestApplyNonRoot(t *testing.T) {
	m := statusCaps(t, "nonroot")
	if m["CapBnd"] != mask {
		t.Errorf("CapBnd = %s, want %s", m["CapBnd"], mask)
	}
	for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb"} {
		if m[k] != "0000000000000000" {
			t.Errorf("%s = %s, want 0", k, m[k])
		}
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
	tests := []struct {
		isos   types.Isolators
		uid    int
		active bool
		want   bool
	}{
		{nil, 0, true, false},
		{types.Isolators{nnp("true")}, 0, true, true},
		{types.Isolators{nnp("false")}, 0, false, false},
		{types.Isolators{nnp("false"), nnp("true"), nnp("false")}, 0, false, true},
		{nil, 1000, true, true},
		{types.Isolators{nnp("false")}, 1000, true, true},
		{nil, 1000, false, false},
	}
	for i, tc := range tests {
		if got := NoNewPrivs(tc.isos, tc.uid, tc.active); got != tc.want {
			t.Errorf("case %d: got %v want %v", i, got, tc.want)
		}
	}
}
