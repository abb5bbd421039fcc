// Package network sets up and tears down the CNI networks of a native
// pod (reference NET-01..NET-08): it parses --net, loads the built-in
// and the user's network configurations, runs the CNI plugins (ADD at
// run, DEL at exit/gc) through libcni and records what it did in
// <pod>/net-info.json, the file `rkt list`/`status` read.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"

	"github.com/rkt/rkt/common/atomicfile"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/netspec"
)

// Dir, in the pod directory, holds the copies of the network
// configurations a pod uses and libcni's result cache.
const Dir = "net"

// PluginsRel is where the stage1 image holds the CNI plugins.
const PluginsRel = "usr/lib/rkt/plugins/net"

// HostPluginsDir is the host's directory of rkt CNI plugins.
const HostPluginsDir = "/usr/lib/rkt/plugins/net"

// IPAMDataDir is where host-local keeps the built-in networks' leases.
const IPAMDataDir = "/var/lib/cni/rkt-networks"

// Built-in networks (NET-02), sorted after any user file by name. The
// ptp plugin never masquerades for them: when masq is set, rkt adds one
// MASQUERADE rule per pod itself (masq.go), which costs one iptables
// run at setup and one at teardown instead of the plugin's chain.
var builtins = map[string]struct {
	file, conf string
	masq       bool
}{
	"default": {"99-default.conf", `{"cniVersion":"1.0.0","name":"default","type":"ptp","ipMasq":false,` +
		`"ipam":{"type":"host-local","subnet":"172.16.28.0/24","dataDir":"` + IPAMDataDir + `","routes":[{"dst":"0.0.0.0/0"}]}}`, true},
	"default-restricted": {"99-default-restricted.conf", `{"cniVersion":"1.0.0","name":"default-restricted","type":"ptp","ipMasq":false,` +
		`"ipam":{"type":"host-local","subnet":"172.31.0.0/16","dataDir":"` + IPAMDataDir + `"}}`, false},
}

// conf is one loadable network configuration.
type conf struct {
	file  string // file name, for ordering
	path  string // its path ("" for a built-in)
	bytes []byte
	list  *libcni.NetworkConfigList
	// rktMasq: rkt masquerades the pod's traffic leaving the network
	// (built-in networks only; the plugins' ipMasq is off for them).
	rktMasq bool
}

// masquerades reports whether the pod's traffic on c is masqueraded,
// by its plugins or by rkt.
func (c *conf) masquerades() bool {
	return c.rktMasq || masq(c.list)
}

func loadBytes(name string, b []byte) (*libcni.NetworkConfigList, error) {
	if strings.HasSuffix(name, ".conflist") {
		return libcni.NetworkConfFromBytes(b)
	}
	// A .conf file is one plugin: wrap it as a list of one, which is what
	// libcni's deprecated ConfListFromConf did.
	var plugin map[string]any
	if err := json.Unmarshal(b, &plugin); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	list, err := json.Marshal(map[string]any{
		"name":       plugin["name"],
		"cniVersion": plugin["cniVersion"],
		"plugins":    []any{plugin},
	})
	if err != nil {
		return nil, err
	}
	return libcni.NetworkConfFromBytes(list)
}

// loadConfs returns the configured networks by name: the built-in ones,
// overridden by <localConfig>/net.d/*.conf|*.conflist.
func loadConfs(localConfig string, warn func(string, ...any)) (map[string]*conf, error) {
	out := map[string]*conf{}
	for name, b := range builtins {
		l, err := loadBytes(b.file, []byte(b.conf))
		if err != nil {
			return nil, fmt.Errorf("built-in network %s: %w", name, err)
		}
		out[name] = &conf{file: b.file, bytes: []byte(b.conf), list: l, rktMasq: b.masq}
	}
	if localConfig == "" {
		return out, nil
	}
	dir := filepath.Join(localConfig, "net.d")
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	user := map[string]bool{}
	for _, e := range ents { // sorted by name
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".conf") || strings.HasSuffix(n, ".conflist")) {
			continue
		}
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		l, err := loadBytes(n, b)
		if err != nil {
			return nil, fmt.Errorf("network configuration %s: %w", p, err)
		}
		if user[l.Name] {
			warn("%s: network %q already defined: ignored", p, l.Name)
			continue
		}
		if _, ok := builtins[l.Name]; ok {
			warn("overriding %q network with %s", l.Name, p)
		}
		user[l.Name] = true
		out[l.Name] = &conf{file: n, path: p, bytes: b, list: l}
	}
	return out, nil
}

// Options say where and how to set up a pod's networks.
type Options struct {
	PodDir      string
	UUID        string
	LocalConfig string
	PluginDirs  []string
	Warnf       func(string, ...any)
	Debugf      func(string, ...any)
	// Ports are forwarded from the host to the pod (--port) on the
	// forwarding network by the portmap plugin.
	Ports []netspec.PortMapping
}

// PluginDirs is the CNI_PATH (NET-06): the user's net.d, the host's rkt
// plugins, the stage1 image's plugins below stage1Rootfs.
func PluginDirs(localConfig, stage1Rootfs string) []string {
	var out []string
	if localConfig != "" {
		out = append(out, filepath.Join(localConfig, "net.d"))
	}
	return append(out, HostPluginsDir, filepath.Join(stage1Rootfs, PluginsRel))
}

func (o *Options) fix() {
	if o.Warnf == nil {
		o.Warnf = func(string, ...any) {}
	}
	if o.Debugf == nil {
		o.Debugf = func(string, ...any) {}
	}
}

func (o *Options) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(o.PluginDirs, filepath.Join(o.PodDir, Dir, "cache"), nil)
}

// Result is what Setup did.
type Result struct {
	Nets []pod.NetInfo
	// DNS is the resolv.conf built from the first network result
	// carrying DNS settings ("" when none did).
	DNS string
	// Gateway is the first IPv4 gateway of the networks (for the ptp
	// networks, the host side of the pod's link), nil when none had one.
	Gateway net.IP
}

func writeInfo(dir string, nets []pod.NetInfo) error {
	b, err := json.Marshal(nets)
	if err != nil {
		return err
	}
	return atomicfile.Publish(filepath.Join(dir, stage1abi.NetInfoFile), b, 0o644)
}

// Setup adds the pod's netns at nsPath to the requested networks in
// conf file order, naming the interfaces eth0, eth1, ... It records each
// network in net-info.json before adding it, so a teardown after a crash
// finds it. On error the networks already added are torn down.
func Setup(ctx context.Context, o Options, reqs []netspec.Request, nsPath string) (*Result, error) {
	o.fix()
	confs, err := loadConfs(o.LocalConfig, o.Warnf)
	if err != nil {
		return nil, err
	}
	type sel struct {
		c *conf
		r netspec.Request
	}
	var sels []sel
	var missing []string
	for _, r := range reqs {
		if r.Name == "all" {
			for _, c := range confs {
				sels = append(sels, sel{c: c})
			}
			continue
		}
		c, ok := confs[r.Name]
		if !ok {
			missing = append(missing, r.Name)
			continue
		}
		sels = append(sels, sel{c: c, r: r})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("networks not found: %s", strings.Join(missing, ", "))
	}
	sort.SliceStable(sels, func(i, j int) bool { return sels[i].c.file < sels[j].c.file })
	if len(o.Ports) > 0 && len(sels) > 0 {
		// NET-09: the forwarding network is the first one with ipMasq,
		// else the last one. The portmap plugin is chained to it, with
		// the mappings in its configuration, so that the copy in the pod
		// directory tears them down too.
		fwd := len(sels) - 1
		for i, s := range sels {
			if s.c.masquerades() {
				fwd = i
				break
			}
		}
		pc, err := withPortmap(sels[fwd].c, o.Ports)
		if err != nil {
			return nil, err
		}
		sels[fwd].c = pc
	}

	ndir := filepath.Join(o.PodDir, Dir)
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return nil, err
	}
	cc := o.cni()
	res := &Result{}
	for i, s := range sels {
		ifname := fmt.Sprintf("eth%d", i)
		// Relative to the pod directory: gc finds the pod moved.
		confPath := filepath.Join(Dir, fmt.Sprintf("%02d-%s", i, s.c.file))
		if err := os.WriteFile(filepath.Join(o.PodDir, confPath), s.c.bytes, 0o644); err != nil {
			return nil, err
		}
		ni := pod.NetInfo{NetName: s.c.list.Name, ConfPath: confPath, IfName: ifname, Args: argString(s.r.Args)}
		for j, pl := range s.c.list.Plugins {
			p, err := invoke.FindInPath(pl.Network.Type, o.PluginDirs)
			if err != nil {
				err = fmt.Errorf("network %s: %w", ni.NetName, err)
				if i > 0 {
					if terr := Teardown(ctx, o, nsPath); terr != nil {
						o.Warnf("teardown after a failed setup: %v", terr)
					}
				}
				return nil, err
			}
			if j == 0 {
				ni.PluginPath = p
			}
		}
		res.Nets = append(res.Nets, ni)
		if err := writeInfo(o.PodDir, res.Nets); err != nil {
			return nil, err
		}
		rt := &libcni.RuntimeConf{ContainerID: o.UUID, NetNS: nsPath, IfName: ifname, Args: s.r.Args}
		o.Debugf("CNI ADD %s (%s) on %s", ni.NetName, ifname, nsPath)
		r, err := cc.AddNetworkList(ctx, s.c.list, rt)
		if err != nil {
			err = fmt.Errorf("network %s: %w", ni.NetName, err)
			if terr := Teardown(ctx, o, nsPath); terr != nil {
				o.Warnf("teardown after a failed setup: %v", terr)
			}
			return nil, err
		}
		cr, err := current.NewResultFromResult(r)
		if err != nil {
			return nil, fmt.Errorf("network %s: result: %w", ni.NetName, err)
		}
		for _, ipc := range cr.IPs {
			if res.Gateway == nil && ipc.Gateway.To4() != nil {
				res.Gateway = ipc.Gateway
			}
			if ipc.Address.IP.To4() != nil || ni.IP == "" {
				ni.IP = ipc.Address.IP.String()
				ni.Mask = net.IP(ipc.Address.Mask).String()
				if ipc.Address.IP.To4() != nil {
					break
				}
			}
		}
		res.Nets[i] = ni
		if err := writeInfo(o.PodDir, res.Nets); err != nil {
			return nil, err
		}
		if s.c.rktMasq {
			if err := addMasq(o, ni, cr.IPs); err != nil {
				err = fmt.Errorf("network %s: %w", ni.NetName, err)
				if terr := Teardown(ctx, o, nsPath); terr != nil {
					o.Warnf("teardown after a failed setup: %v", terr)
				}
				return nil, err
			}
		}
		if d := resolvConf(cr.DNS); d != "" {
			if res.DNS == "" {
				res.DNS = "# Generated by rkt from network " + ni.NetName + "\n" + d
			} else {
				o.Warnf("network %s: DNS settings ignored: an earlier network set them", ni.NetName)
			}
		}
	}
	return res, nil
}

func argString(args [][2]string) string {
	var s []string
	for _, kv := range args {
		s = append(s, kv[0]+"="+kv[1])
	}
	return strings.Join(s, ";")
}

func parseArgs(s string) [][2]string {
	var out [][2]string
	for _, kv := range strings.Split(s, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func resolvConf(d types.DNS) string {
	var b strings.Builder
	if len(d.Search) > 0 {
		b.WriteString("search " + strings.Join(d.Search, " ") + "\n")
	}
	for _, ns := range d.Nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(d.Options) > 0 {
		b.WriteString("options " + strings.Join(d.Options, " ") + "\n")
	}
	if d.Domain != "" {
		b.WriteString("domain " + d.Domain + "\n")
	}
	if len(d.Nameservers) == 0 {
		return ""
	}
	return b.String()
}

// Teardown runs CNI DEL, in reverse order, for every network of
// net-info.json, using the confs copied in the pod directory, and
// deletes rkt's own masquerading rules (recorded in the pod directory).
// nsPath is the pod's netns while it is still alive, else "": then the
// plugins only release the IPAM leases (the veths died with the netns)
// and the plugins' ipMasq rules (pods of user networks, or made before
// rkt masqueraded the built-in ones itself) are removed here. Teardown is idempotent; once it
// succeeded it marks the pod (netspec.DoneFile) and later calls do nothing.
func Teardown(ctx context.Context, o Options, nsPath string) error {
	o.fix()
	if _, err := os.Stat(filepath.Join(o.PodDir, netspec.DoneFile)); err == nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(o.PodDir, stage1abi.NetInfoFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var nets []pod.NetInfo
	if err := json.Unmarshal(b, &nets); err != nil {
		return fmt.Errorf("%s: %w", stage1abi.NetInfoFile, err)
	}
	cc := o.cni()
	var errs []error
	portmapped := false
	for i := len(nets) - 1; i >= 0; i-- {
		ni := nets[i]
		cp := ni.ConfPath
		if !filepath.IsAbs(cp) {
			cp = filepath.Join(o.PodDir, cp)
		}
		cb, err := os.ReadFile(cp)
		if err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", ni.NetName, err))
			continue
		}
		list, err := loadBytes(ni.ConfPath, cb)
		if err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", ni.NetName, err))
			continue
		}
		if hasPortmap(list) {
			portmapped = true
		}
		rt := &libcni.RuntimeConf{ContainerID: o.UUID, NetNS: nsPath, IfName: ni.IfName, Args: parseArgs(ni.Args)}
		o.Debugf("CNI DEL %s (%s) on %q", ni.NetName, ni.IfName, nsPath)
		// rkt's masquerading rule does not depend on the plugins' state:
		// it is deleted while they run.
		masqDone := make(chan error, 1)
		go func() { masqDone <- delMasq(o, ni) }()
		if err := cc.DelNetworkList(ctx, list, rt); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", ni.NetName, err))
		}
		if err := <-masqDone; err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", ni.NetName, err))
		}
		if nsPath == "" && ni.IP != "" && masq(list) {
			ipn := &net.IPNet{IP: net.ParseIP(ni.IP), Mask: net.IPMask(net.ParseIP(ni.Mask).To4())}
			if ipn.IP.To4() == nil {
				ipn.Mask = net.CIDRMask(128, 128)
			}
			if err := ip.TeardownIPMasqForNetworks([]*net.IPNet{ipn}, list.Name, ni.IfName, o.UUID); err != nil {
				o.Debugf("network %s: masquerade teardown: %v", ni.NetName, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if portmapped {
		cleanupPortmapChains(o.Debugf)
	}
	return os.WriteFile(filepath.Join(o.PodDir, netspec.DoneFile), nil, 0o644)
}

// masq reports whether a network's plugins ask for ipMasq.
func masq(l *libcni.NetworkConfigList) bool {
	for _, p := range l.Plugins {
		var m struct {
			IPMasq bool `json:"ipMasq"`
		}
		if json.Unmarshal(p.Bytes, &m) == nil && m.IPMasq {
			return true
		}
	}
	return false
}
