package imagename

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/appc/spec/schema/types"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		arg    string
		name   string
		labels map[string]string
	}{
		{"example.com/app", "example.com/app", map[string]string{}},
		{"example.com/app:1.0.0", "example.com/app", map[string]string{"version": "1.0.0"}},
		{"example.com/app,channel=alpha,label=value", "example.com/app", map[string]string{"channel": "alpha", "label": "value"}},
		{"example.com/app:1.0.0,os=linux", "example.com/app", map[string]string{"version": "1.0.0", "os": "linux"}},
		{"example.com/app,version=2", "example.com/app", map[string]string{"version": "2"}},
		{"example.com/app,commit=a:b", "example.com/app", map[string]string{"commit": "a:b"}},
		{"example.com/app,expr=a=b", "example.com/app", map[string]string{"expr": "a=b"}},
		{"example.com/app,source=/tmp$1+2", "example.com/app", map[string]string{"source": "/tmp$1+2"}},
	} {
		name, labels, err := Parse(tc.arg)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.arg, err)
			continue
		}
		if name != tc.name || !reflect.DeepEqual(labels, tc.labels) {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", tc.arg, name, labels, tc.name, tc.labels)
		}
	}
}

func TestParseNameErrors(t *testing.T) {
	for _, arg := range []string{
		"",
		":1.0",
		",a=b",
		"Example.com/App",
		"example.com/app:",
		"example.com/app:1:2",
		"example.com/app,",
		"example.com/app,channel",
		"example.com/app,channel=",
		"example.com/app,=x",
		"example.com/app,name=x",
		"example.com/app,Bad=x",
		"example.com/app,a%62=x",
		"example.com/app,a&b=x",
		"example.com/app,a=1,a=2",
		"example.com/app:1,version=2",
		"example.com/app,a=1,,b=2",
	} {
		if name, labels, err := Parse(arg); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %q, %v, %v; want ErrInvalid", arg, name, labels, err)
		}
	}
}

// formatName is ParseName's inverse: the version goes in as a label because
// a version may contain "=" or start the labels, never a colon ambiguity.
func formatName(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		b.WriteString("," + k + "=" + labels[k])
	}
	return b.String()
}

func FuzzParseName(f *testing.F) {
	for _, seed := range []string{
		"example.com/app",
		"example.com/app:1.0.0",
		"example.com/app:1.0.0,os=linux,arch=amd64",
		"example.com/app,channel=alpha",
		"example.com/app,commit=a:b",
		"example.com/app:1:2",
		"example.com/app,name=x",
		"a,b=c=d",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		name, labels, err := Parse(arg)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalid", arg, err)
			}
			return
		}
		if _, err := types.NewACIdentifier(name); err != nil {
			t.Fatalf("Parse(%q): name %q is not an AC identifier", arg, name)
		}
		for k, v := range labels {
			if _, err := types.NewACIdentifier(k); err != nil || k == "name" {
				t.Fatalf("Parse(%q): bad label name %q", arg, k)
			}
			if v == "" || strings.Contains(v, ",") {
				t.Fatalf("Parse(%q): bad value %q for label %q", arg, v, k)
			}
		}
		again := formatName(name, labels)
		name2, labels2, err := Parse(again)
		if err != nil || name2 != name || !reflect.DeepEqual(labels2, labels) {
			t.Fatalf("round trip of %q via %q: %q, %v, %v", arg, again, name2, labels2, err)
		}
	})
}
