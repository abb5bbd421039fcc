package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/rkt/rkt/common/pod"
)

// masqRule is rkt's masquerading rule for a pod on a built-in network,
// as recorded in <pod>/net/masq-<ifname>.json before it is added, so
// that the teardown (at exit or at gc, after a SIGKILL) deletes it with
// the identical specification.
type masqRule struct {
	Tool string   `json:"tool"` // iptables or ip6tables
	Spec []string `json:"spec"` // the rule in the nat table's POSTROUTING
}

const masqChain = "POSTROUTING"

func masqRecord(podDir, ifname string) string {
	return filepath.Join(podDir, Dir, "masq-"+ifname+".json")
}

// newMasqRule masquerades what the pod (ip) sends outside its network
// (subnet): one rule, commented with the pod's uuid.
func newMasqRule(uuid string, ip net.IP, subnet *net.IPNet) masqRule {
	tool, host := "iptables", "/32"
	if ip.To4() == nil {
		tool, host = "ip6tables", "/128"
	}
	return masqRule{Tool: tool, Spec: []string{
		"-s", ip.String() + host, "!", "-d", subnet.String(),
		"-m", "comment", "--comment", "rkt " + uuid, "-j", "MASQUERADE",
	}}
}

func (r masqRule) run(op string) (string, error) {
	args := append([]string{"-w", "-t", "nat", op, masqChain}, r.Spec...)
	out, err := exec.Command(r.Tool, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", r.Tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// addMasq adds rkt's masquerading rule for the pod's address ni.IP (one
// of ips) on the network ni.
func addMasq(o Options, ni pod.NetInfo, ips []*current.IPConfig) error {
	var ipc *current.IPConfig
	for _, c := range ips {
		if c.Address.IP.String() == ni.IP {
			ipc = c
			break
		}
	}
	if ipc == nil {
		return nil // no address: nothing to masquerade
	}
	subnet := &net.IPNet{IP: ipc.Address.IP.Mask(ipc.Address.Mask), Mask: ipc.Address.Mask}
	r := newMasqRule(o.UUID, ipc.Address.IP, subnet)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(masqRecord(o.PodDir, ni.IfName), b, 0o644); err != nil {
		return err
	}
	o.Debugf("masquerade %s: %s -A %s %s", ni.NetName, r.Tool, masqChain, strings.Join(r.Spec, " "))
	if _, err := r.run("-A"); err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	return nil
}

// delMasq deletes rkt's masquerading rule of the pod on the network ni,
// if it added one, then its record. A rule already gone is no error.
func delMasq(o Options, ni pod.NetInfo) error {
	p := masqRecord(o.PodDir, ni.IfName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var r masqRule
	if err := json.Unmarshal(b, &r); err != nil || (r.Tool != "iptables" && r.Tool != "ip6tables") || len(r.Spec) == 0 {
		o.Warnf("%s: invalid record of a masquerading rule: removed", p)
		return os.Remove(p)
	}
	o.Debugf("masquerade %s: %s -D %s %s", ni.NetName, r.Tool, masqChain, strings.Join(r.Spec, " "))
	if out, err := r.run("-D"); err != nil {
		var ee *exec.ExitError
		gone := errors.Is(err, exec.ErrNotFound) ||
			(errors.As(err, &ee) && (strings.Contains(out, "does a matching rule exist") || strings.Contains(out, "No chain/target/match")))
		if !gone {
			return fmt.Errorf("masquerade teardown: %w", err)
		}
		o.Debugf("masquerade %s: rule already gone", ni.NetName)
	}
	return os.Remove(p)
}
