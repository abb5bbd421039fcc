package network

import (
	"net"
	"reflect"
	"strings"
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
	// The plugins never masquerade for the built-in networks: rkt does
	// it itself for the default one.
	if masq(confs["default-restricted"].list) || masq(confs["default"].list) {
		t.Error("ipMasq of the built-in networks")
	}
	if confs["default-restricted"].masquerades() || !confs["default"].masquerades() {
		t.Error("rkt's masquerading of the built-in networks")
	}
}

func TestSplitRule(t *testing.T) {
	got := splitRule(`-m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`)
	want := []string{"-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitRule: %q", got)
	}
}

func TestWithPortmap(t *testing.T) {
	confs, err := loadConfs("", func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	c, err := withPortmap(confs["default"], []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.file != "99-default.conflist" || !c.rktMasq || len(c.list.Plugins) != 2 || !hasPortmap(c.list) || c.list.Plugins[0].Network.Type != "ptp" {
		t.Errorf("withPortmap: %s %s", c.file, c.bytes)
	}
	if !strings.Contains(string(c.bytes), `"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"}]`) {
		t.Errorf("withPortmap: %s", c.bytes)
	}
}

func TestMasqRule(t *testing.T) {
	_, subnet, _ := net.ParseCIDR("172.16.28.0/24")
	r := newMasqRule("u-u-i-d", net.ParseIP("172.16.28.5"), subnet)
	want := "-s 172.16.28.5/32 ! -d 172.16.28.0/24 -m comment --comment rkt u-u-i-d -j MASQUERADE"
	if r.Tool != "iptables" || strings.Join(r.Spec, " ") != want {
		t.Errorf("newMasqRule: %s %q", r.Tool, r.Spec)
	}
}
