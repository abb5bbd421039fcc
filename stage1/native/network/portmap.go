package network

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/containernetworking/cni/libcni"

	"github.com/rkt/rkt/stage1/native/netspec"
)

// PortmapType is the CNI plugin forwarding the ports.
const PortmapType = "portmap"

// The portmap plugin's shared chains in the nat table: it creates them
// for the first pod and never removes them.
var portmapChains = []struct{ name, entryRule string }{
	{"CNI-HOSTPORT-DNAT", "PREROUTING,OUTPUT"},
	{"CNI-HOSTPORT-MASQ", "POSTROUTING"},
	{"CNI-HOSTPORT-SETMARK", ""},
}

// withPortmap returns c as a configuration list with the portmap plugin
// chained last, its mappings in its runtimeConfig (so that a DEL from
// the saved copy, at gc, finds them without capability arguments). SNAT
// is on: 127.0.0.1:HOSTPORT works from the host (route_localnet).
func withPortmap(c *conf, ports []netspec.PortMapping) (*conf, error) {
	var plugins []any
	for _, p := range c.list.Plugins {
		var m map[string]any
		if err := json.Unmarshal(p.Bytes, &m); err != nil {
			return nil, err
		}
		delete(m, "cniVersion")
		delete(m, "name")
		plugins = append(plugins, m)
	}
	plugins = append(plugins, map[string]any{
		"type":          PortmapType,
		"backend":       "iptables",
		"snat":          true,
		"runtimeConfig": map[string]any{"portMappings": ports},
	})
	b, err := json.Marshal(map[string]any{
		"cniVersion": c.list.CNIVersion,
		"name":       c.list.Name,
		"plugins":    plugins,
	})
	if err != nil {
		return nil, err
	}
	l, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("network %s with port forwarding: %w", c.list.Name, err)
	}
	file := strings.TrimSuffix(strings.TrimSuffix(c.file, ".conflist"), ".conf") + ".conflist"
	return &conf{file: file, path: c.path, bytes: b, list: l, rktMasq: c.rktMasq}, nil
}

// hasPortmap reports whether a network list chains the portmap plugin.
func hasPortmap(l *libcni.NetworkConfigList) bool {
	for _, p := range l.Plugins {
		if p.Network.Type == PortmapType {
			return true
		}
	}
	return false
}

// cleanupPortmapChains removes the portmap plugin's shared chains (and
// the rules jumping to them) once no pod forwards ports any more: the
// top-level DNAT chain holds no per-pod chain then.
func cleanupPortmapChains(debugf func(string, ...any)) {
	for _, tool := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		ipt := func(args ...string) (string, error) {
			out, err := exec.Command(tool, append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput()
			return string(out), err
		}
		top := portmapChains[0].name
		rules, err := ipt("-S", top)
		if err != nil { // no such chain
			continue
		}
		if n := len(strings.Split(strings.TrimSpace(rules), "\n")); n > 1 { // the first line is "-N CHAIN"
			continue
		}
		for _, c := range portmapChains {
			for _, entry := range strings.Split(c.entryRule, ",") {
				if entry == "" {
					continue
				}
				rules, err := ipt("-S", entry)
				if err != nil {
					continue
				}
				for _, r := range strings.Split(rules, "\n") {
					if !strings.HasPrefix(r, "-A "+entry+" ") || !strings.HasSuffix(strings.TrimSpace(r), "-j "+c.name) {
						continue
					}
					if out, err := ipt(append([]string{"-D", entry}, splitRule(strings.TrimPrefix(strings.TrimSpace(r), "-A "+entry+" "))...)...); err != nil {
						debugf("%s: delete %q: %v: %s", tool, r, err, out)
					}
				}
			}
		}
		for _, c := range portmapChains {
			if _, err := ipt("-S", c.name); err != nil {
				continue
			}
			if out, err := ipt("-F", c.name); err != nil {
				debugf("%s: flush %s: %v: %s", tool, c.name, err, out)
			}
		}
		for _, c := range portmapChains {
			if _, err := ipt("-S", c.name); err != nil {
				continue
			}
			if out, err := ipt("-X", c.name); err != nil {
				debugf("%s: remove %s: %v: %s", tool, c.name, err, out)
			}
		}
	}
}

// splitRule splits a rule as `iptables -S` prints it: fields separated
// by spaces, double-quoted ones (comments) kept whole.
func splitRule(r string) []string {
	var out []string
	var cur strings.Builder
	quoted, have := false, false
	for i := 0; i < len(r); i++ {
		switch ch := r[i]; {
		case ch == '\\' && quoted && i+1 < len(r):
			i++
			cur.WriteByte(r[i])
		case ch == '"':
			quoted, have = !quoted, true
		case ch == ' ' && !quoted:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
