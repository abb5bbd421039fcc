package fly

import (
	"reflect"
	"testing"
)

func TestSelectEntrypoint(t *testing.T) {
	for _, c := range []struct {
		argv []string
		name string
		rest []string
		err  bool
	}{
		{[]string{"/var/lib/rkt/pods/run/u/stage1/rootfs/run", "--net=host", "u"}, "run", []string{"--net=host", "u"}, false},
		{[]string{"stop", "--force", "u"}, "stop", []string{"--force", "u"}, false},
		{[]string{"/fly", "enter", "--pid=1", "--", "sh"}, "enter", []string{"--pid=1", "--", "sh"}, false},
		{[]string{"fly", "gc", "u"}, "gc", []string{"u"}, false},
		{[]string{"fly"}, "", nil, true},
		{[]string{"fly", "frobnicate"}, "", nil, true},
		{nil, "", nil, true},
	} {
		name, rest, err := selectEntrypoint(c.argv)
		if (err != nil) != c.err || name != c.name || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("selectEntrypoint(%q) = %q %q %v", c.argv, name, rest, err)
		}
	}
}
