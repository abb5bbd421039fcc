package network

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		mode Mode
		reqs []Request
		bad  bool
	}{
		{"host", ModeHost, nil, false},
		{"none", ModeNone, nil, false},
		{"", ModeCNI, []Request{{Name: "default"}}, false},
		{"default", ModeCNI, []Request{{Name: "default"}}, false},
		{"default:IP=172.16.28.42", ModeCNI, []Request{{Name: "default", Args: [][2]string{{"IP", "172.16.28.42"}}}}, false},
		{"default,mynet:A=1;B=2", ModeCNI, []Request{{Name: "default"}, {Name: "mynet", Args: [][2]string{{"A", "1"}, {"B", "2"}}}}, false},
		{"default,host", 0, nil, true},
		{"default,default", 0, nil, true},
		{"default:IP", 0, nil, true},
	} {
		mode, reqs, err := Parse(c.in)
		if (err != nil) != c.bad || (!c.bad && (mode != c.mode || !reflect.DeepEqual(reqs, c.reqs))) {
			t.Errorf("Parse(%q) = %v, %v, %v", c.in, mode, reqs, err)
		}
	}
}

func TestBuiltins(t *testing.T) {
	confs, err := loadConfs("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"default", "default-restricted"} {
		if c := confs[n]; c == nil || c.list.Name != n || c.list.Plugins[0].Network.Type != "ptp" {
			t.Errorf("built-in %s: %+v", n, c)
		}
	}
	if masq(confs["default-restricted"].list) || !masq(confs["default"].list) {
		t.Error("ipMasq of the built-in networks")
	}
}
