package stage2app

import (
	"fmt"
	"slices"
	"strings"
)

// DNSModes are the --dns-conf-mode settings (reference S1-RUN-01,
// NET-10, NET-11): where the app's /etc/resolv.conf and /etc/hosts come
// from.
type DNSModes struct {
	// Resolv is host, stage0, none or default.
	Resolv string
	// Hosts is host, stage0 or default.
	Hosts string
}

// ParseDNSModes parses `resolv=MODE,hosts=MODE` (either part may be
// missing: it is then "default").
func ParseDNSModes(s string) (DNSModes, error) {
	m := DNSModes{Resolv: "default", Hosts: "default"}
	if s == "" {
		return m, nil
	}
	valid := map[string][]string{
		"resolv": {"host", "stage0", "none", "default"},
		"hosts":  {"host", "stage0", "default"},
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		modes, known := valid[k]
		if !ok || !known || !slices.Contains(modes, v) {
			return m, fmt.Errorf("invalid --dns-conf-mode %q: want resolv=(host|stage0|none|default),hosts=(host|stage0|default)", s)
		}
		if k == "resolv" {
			m.Resolv = v
		} else {
			m.Hosts = v
		}
	}
	return m, nil
}
