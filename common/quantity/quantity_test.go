package quantity

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/appc/spec/schema/types/resource"
)

// quantities are written as in image manifests and rkt's flags, with the
// corners of appc's grammar.
var quantities = []string{
	"64M", "64Mi", "1G", "1Gi", "1.5Gi", "0.5Gi", "500m", "250m", "0.5", "2", "2.5",
	"1e3", "1E3", "1e-3", "12e-2", "5e+2", "2k", "1Ki", "100", "0", "-1", "+5", "-0",
	"1.", ".5", ".", "0.0000000001", "1n", "1u", "1500u", "5000m", "1P", "1Pi", "1E",
	"1Ei", "007", "00k", "3.14159", "999999999999", "0.001m", "1.0000000001",
	"", "abc", "1x", "1e", "E", "1Mi1", "1.5.5", "1 M", "M", "1kk", "1e1.5", "--1", "1Mi-",
}

// ParseQuantity accepts and refuses what appc's does, and gives the
// same values.
func TestParseAsAppc(t *testing.T) {
	for _, s := range quantities {
		compareQuantity(t, s)
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range quantities {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 40 {
			return
		}
		compareQuantity(t, s)
	})
}

func compareQuantity(t *testing.T, s string) {
	t.Helper()
	ours, err := Parse(s)
	if errors.Is(err, ErrExponentRange) {
		// Refused here; appc computes such powers of ten (1e999999999
		// runs it out of time and memory).
		return
	}
	theirs, theirErr := resource.ParseQuantity(s)
	if theirErr != nil {
		if err == nil {
			t.Errorf("%q: accepted, appc refuses: %v", s, theirErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%q: refused (%v), appc accepts: %s", s, err, theirs.String())
		return
	}
	// appc's int64 arithmetic wraps beyond ~9.2e18 (and its milli values
	// beyond ~9.2e15), and it rounds tiny negative values (-1e-10) to +1:
	// values compared where it holds. (Resources refuses every limit that
	// is not positive.)
	if ours.v.Sign() < 0 || ours.v.Cmp(big.NewRat(9e15, 1)) > 0 {
		return
	}
	v, verr := ours.Value()
	m, merr := ours.MilliValue()
	if verr != nil || merr != nil {
		t.Errorf("%q: %v %v", s, verr, merr)
		return
	}
	if v != theirs.Value() || m != theirs.MilliValue() {
		t.Errorf("%q: value %d milli %d, appc's %d and %d", s, v, m, theirs.Value(), theirs.MilliValue())
	}
	if ours.String() != s {
		t.Errorf("%q: String() %q", s, ours.String())
	}
}

func TestQuantityTooLarge(t *testing.T) {
	for _, s := range []string{"9Ei", "1e19", "100E"} {
		q, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Value(); err == nil {
			t.Errorf("%s: Value() beyond int64 accepted", s)
		}
	}
	if q, err := Parse("9e15"); err != nil {
		t.Fatal(err)
	} else if _, err := q.MilliValue(); err != nil || math.MaxInt64/1000 < 9e15 {
		t.Errorf("9e15: MilliValue: %v", err)
	}
	for _, s := range []string{"1e1001", "1e-1001", "1e99999999999999999999"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
}

// CheckIsolators refuses what would hold the schema's parser, and
// nothing else.
func TestCheckIsolators(t *testing.T) {
	for _, c := range []struct {
		isos string
		ok   bool
	}{
		{``, true},
		{`[]`, true},
		{`[{"name":"os/linux/cpu-shares","value":512}]`, true},
		{`[{"name":"resource/memory","value":{"limit":"64M","request":"1e3"}}]`, true},
		{`[{"name":"resource/memory","value":{"limit":"lots"}}]`, true},
		{`not json`, true},
		{`[{"name":"resource/memory","value":{"limit":"1e-999999999"}}]`, false},
		{`[{"name":"resource/cpu","value":{"request":"1e999999999"}}]`, false},
		{`[{"name":"resource/block-bandwidth","value":{"limit":"5e-1001"}}]`, false},
	} {
		if err := CheckIsolators(json.RawMessage(c.isos)); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.isos, err)
		}
	}
}

// CheckManifest finds the isolators of an image manifest and of each app
// of a pod manifest.
func TestCheckManifest(t *testing.T) {
	bad := `[{"name":"resource/memory","value":{"limit":"1e-999999999"}}]`
	good := `[{"name":"resource/memory","value":{"limit":"64M"}}]`
	for _, c := range []struct {
		m  string
		ok bool
	}{
		{`{"acKind":"ImageManifest","name":"a"}`, true},
		{`{"acKind":"ImageManifest","app":{"isolators":` + good + `}}`, true},
		{`{"acKind":"ImageManifest","app":{"isolators":` + bad + `}}`, false},
		{`{"acKind":"PodManifest","apps":[{"name":"a","app":{"isolators":` + good + `}},{"name":"b"}]}`, true},
		{`{"acKind":"PodManifest","apps":[{"name":"a"},{"name":"b","app":{"isolators":` + bad + `}}]}`, false},
		{`{"resource/":`, true},
	} {
		if err := CheckManifest([]byte(c.m)); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.m, err)
		}
	}
}
