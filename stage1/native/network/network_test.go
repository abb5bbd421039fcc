package network

import (
	"net"
	"strings"
	"testing"

	"github.com/rkt/rkt/stage1/native/netspec"
)

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
	c, err := withPortmap(confs["default"], []netspec.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}})
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
