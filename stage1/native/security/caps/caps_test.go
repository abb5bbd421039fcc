package caps

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/appspawn/appspawntest"
)

func TestBounded(t *testing.T) {
	s := Bounded([]capability.Cap{capability.CAP_SETPCAP, capability.CAP_NET_RAW, capability.CAP_SETPCAP})
	if got := Names(s.Bounding); !slices.Equal(got, []string{"CAP_SETPCAP", "CAP_NET_RAW"}) {
		t.Fatalf("bounding %v", got)
	}
	if !slices.Equal(s.Effective, s.Bounding) || !slices.Equal(s.Permitted, s.Bounding) || len(s.Ambient) != 0 || len(s.Inheritable) != 0 {
		t.Fatalf("unexpected root sets %+v", s)
	}
	nr := s.ForUID(1000)
	if len(nr.Effective)+len(nr.Permitted)+len(nr.Ambient)+len(nr.Inheritable) != 0 || !slices.Equal(nr.Bounding, s.Bounding) {
		t.Fatalf("unexpected non-root sets %+v", nr)
	}
	all, err := Supported()
	if err != nil || len(all) < 38 {
		t.Fatalf("Supported: %d, %v", len(all), err)
	}
}

// statusCaps starts cat /proc/self/status the way the supervisor starts
// an app (appspawn) with the sets of a retain-set of
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
	s := Bounded([]capability.Cap{capability.CAP_NET_RAW, capability.CAP_SETPCAP})
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
	tests := []struct {
		requested bool
		uid       int
		active    bool
		want      bool
	}{
		{false, 0, true, false},
		{true, 0, true, true},
		{true, 0, false, true},
		{false, 1000, true, true},
		{true, 1000, false, true},
		{false, 1000, false, false},
	}
	for i, tc := range tests {
		if got := NoNewPrivs(tc.requested, tc.uid, tc.active); got != tc.want {
			t.Errorf("case %d: got %v want %v", i, got, tc.want)
		}
	}
}
