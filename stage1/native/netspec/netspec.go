// Package netspec is what the native stage1 decides about a pod's
// networks before any CNI code runs: the --net value (Parse), the port
// forwards, and the request and reply that `run` and `gc` exchange with
// the stage1's network helper (/net, package network), the one binary
// that links libcni and the CNI plugins' libraries. Keeping those out
// of the `run` entrypoint saves every pod start ~0.35 ms of Go start-up
// (libcni alone brings net/http and OpenTelemetry), while only pods
// with CNI networks pay for the helper's exec.
package netspec

import (
	"fmt"
	"strings"
)

// Mode is how a pod is networked.
type Mode int

const (
	ModeCNI  Mode = iota // a netns with CNI networks
	ModeNone             // a netns with loopback only
	ModeHost             // the host's netns
)

// Request is one network named by --net with its CNI_ARGS.
type Request struct {
	Name string      `json:"name"`
	Args [][2]string `json:"args,omitempty"`
}

// Parse splits a --net value: "host", "none", or a comma list of
// name[:K=V[;K=V...]] ("" and "default" mean the default network;
// "all" every configured one).
func Parse(v string) (Mode, []Request, error) {
	v = strings.TrimSpace(v)
	switch v {
	case "host":
		return ModeHost, nil, nil
	case "none":
		return ModeNone, nil, nil
	case "":
		return ModeCNI, []Request{{Name: "default"}}, nil
	}
	var out []Request
	seen := map[string]bool{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, args, _ := strings.Cut(item, ":")
		if name == "host" || name == "none" {
			return 0, nil, fmt.Errorf("--net=%s cannot be combined with other networks", name)
		}
		if seen[name] {
			return 0, nil, fmt.Errorf("network %q named twice in --net", name)
		}
		seen[name] = true
		r := Request{Name: name}
		for _, kv := range strings.Split(args, ";") {
			if kv == "" {
				continue
			}
			k, val, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return 0, nil, fmt.Errorf("invalid argument %q for network %q: want KEY=VALUE", kv, name)
			}
			r.Args = append(r.Args, [2]string{k, val})
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		out = []Request{{Name: "default"}}
	}
	return ModeCNI, out, nil
}

// PortMapping is one port forwarded from the host to the pod: an entry
// of the portmap plugin's portMappings.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// DoneFile, in the pod directory, marks that the pod's networks were
// torn down.
const DoneFile = "net/torn-down"

// HelperName is the network helper's path in the stage1 rootfs.
const HelperName = "net"

// NetnsFD is the descriptor on which the helper gets the pod's network
// namespace, when it is still alive.
const NetnsFD = 3

// Helper operations.
const (
	OpSetup    = "setup"
	OpTeardown = "teardown"
)

// HelperRequest is what the helper is asked to do, as JSON on its
// stdin: set up (OpSetup) the networks of Nets with the port forwards
// Ports in the netns on NetnsFD, or tear the pod's networks down
// (OpTeardown), in that netns if Netns is set (else after it died).
type HelperRequest struct {
	Op          string        `json:"op"`
	PodDir      string        `json:"podDir"`
	UUID        string        `json:"uuid"`
	LocalConfig string        `json:"localConfig,omitempty"`
	Nets        []Request     `json:"nets,omitempty"`
	Ports       []PortMapping `json:"ports,omitempty"`
	Netns       bool          `json:"netns,omitempty"`
	Debug       bool          `json:"debug,omitempty"`
}

// HelperReply is the helper's answer, as JSON on its stdout: what the
// setup gave (the pod's address on its first network, the first IPv4
// gateway, the resolv.conf of the first result with DNS settings; each
// may be empty) or the error that stopped it. Warnings and debug
// messages go to its stderr as they happen.
type HelperReply struct {
	IP      string `json:"ip,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	DNS     string `json:"dns,omitempty"`
	Error   string `json:"error,omitempty"`
}
