package native

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/network"

	"github.com/rkt/rkt/stage1/native/supervisor"
)

// netTimeout bounds the CNI plugins' work at setup and at teardown.
const netTimeout = 60 * time.Second

// podNetns is the network namespace of a pod joined to CNI networks:
// `run` holds it open from the supervisor's start until it tore the
// networks down, so the plugins can still reach it once the supervisor
// has exited.
type podNetns struct {
	f    *os.File
	path string
	opts network.Options
	l    *logger
	// ip is the pod's address on its first network, gw the first
	// gateway: the host as the pod reaches it (either may be nil).
	ip, gw net.IP
}

// stage1Rootfs is the stage1 rootfs this binary runs from: its
// directory (the entrypoints are at the root of the image).
func stage1Rootfs() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

func netOptions(dir, uuid, localConfig string, l *logger) network.Options {
	return network.Options{
		PodDir:      dir,
		UUID:        uuid,
		LocalConfig: localConfig,
		PluginDirs:  network.PluginDirs(localConfig, stage1Rootfs()),
		Warnf:       l.Warnf,
		Debugf:      l.Debugf,
	}
}

// setupNetwork joins the netns of the supervisor (pid) to the pod's CNI
// networks, records them in net-info.json and writes the CNI DNS
// settings. It returns nil for --net=host and --net=none.
func setupNetwork(dir string, ra *stage1abi.RunArgs, ports []network.PortMapping, pid int, l *logger) (*podNetns, error) {
	mode, reqs, err := network.Parse(ra.Net)
	if err != nil || mode != network.ModeCNI {
		return nil, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("failed to setup network: %w", err)
	}
	n := &podNetns{
		f:    f,
		path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()),
		opts: netOptions(dir, ra.UUID, ra.LocalConfig, l),
		l:    l,
	}
	n.opts.Ports = ports
	ctx, cancel := context.WithTimeout(context.Background(), netTimeout)
	defer cancel()
	res, err := network.Setup(ctx, n.opts, reqs, n.path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to setup network: %w", err)
	}
	if len(res.Nets) > 0 {
		n.ip = net.ParseIP(res.Nets[0].IP)
	}
	n.gw = res.Gateway
	if res.DNS != "" {
		p := filepath.Join(dir, stage1abi.Stage1RootfsRel, supervisor.CNIResolvConf)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, []byte(res.DNS), publicFileMode)
		}
		if err != nil {
			n.teardown()
			return nil, fmt.Errorf("write the CNI resolv.conf: %w", err)
		}
	}
	return n, nil
}

// teardown runs CNI DEL for the pod's networks while its netns is still
// held, then lets the netns go.
func (n *podNetns) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), netTimeout)
	defer cancel()
	if err := network.Teardown(ctx, n.opts, n.path); err != nil {
		n.l.Warnf("network teardown: %v", err)
	}
	n.f.Close()
}

// podPortMappings resolves the pod manifest's ports (--port): each names
// a port of an app's image manifest (or gives the pod port itself), which
// is forwarded from HOSTIP:HOSTPORT (any local address without HOSTIP).
func podPortMappings(p *supervisor.Pod) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, ep := range p.Manifest.Ports {
		pp := ep.PodPort
		if pp == nil {
			for _, a := range p.Apps {
				for i := range a.App.Ports {
					if a.App.Ports[i].Name == ep.Name {
						if pp != nil {
							return nil, fmt.Errorf("port %q is exposed by more than one app", ep.Name)
						}
						pp = &a.App.Ports[i]
					}
				}
			}
		}
		if pp == nil {
			return nil, fmt.Errorf("port %q is not exposed by any app of the pod", ep.Name)
		}
		if ep.HostPort == 0 || ep.HostPort > 65535 || pp.Port == 0 || pp.Port > 65535 {
			return nil, fmt.Errorf("port %q: invalid port numbers (host %d, pod %d)", ep.Name, ep.HostPort, pp.Port)
		}
		proto := strings.ToLower(pp.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("port %q: protocol %q cannot be forwarded", ep.Name, pp.Protocol)
		}
		m := network.PortMapping{HostPort: int(ep.HostPort), ContainerPort: int(pp.Port), Protocol: proto}
		if ep.HostIP != nil && !ep.HostIP.IsUnspecified() {
			if ep.HostIP.To4() == nil {
				return nil, fmt.Errorf("port %q: IPv6 host address %s is not supported", ep.Name, ep.HostIP)
			}
			m.HostIP = ep.HostIP.String()
		}
		out = append(out, m)
	}
	return out, nil
}
