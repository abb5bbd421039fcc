package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/netspec"
	"github.com/rkt/rkt/stage1/native/supervisor"
	"github.com/rkt/rkt/stage1/podproc"
	"golang.org/x/sys/unix"
)

// podNetns is the network namespace of a pod joined to CNI networks:
// `run` holds it open from the supervisor's start until the pod exited,
// and lets it go before the CNI DEL (see teardown).
type podNetns struct {
	f   *os.File
	req netspec.HelperRequest
	l   *logger
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

// setupNetwork joins the netns of the supervisor (pid) to the pod's CNI
// networks (mode and reqs: --net parsed) through the network helper,
// which records them in net-info.json, and writes the CNI DNS settings.
// It returns nil for --net=host and --net=none.
func setupNetwork(dir string, ra *stage1abi.RunArgs, mode netspec.Mode, reqs []netspec.Request, ports []netspec.PortMapping, pid int, l *logger) (*podNetns, error) {
	if mode != netspec.ModeCNI {
		return nil, nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("failed to setup network: %w", err)
	}
	n := &podNetns{
		f: f,
		req: netspec.HelperRequest{
			PodDir:      dir,
			UUID:        ra.UUID,
			LocalConfig: ra.LocalConfig,
			Debug:       l.Debug,
		},
		l: l,
	}
	req := n.req
	req.Op, req.Nets, req.Ports = netspec.OpSetup, reqs, ports
	res, err := runNetHelper(req, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to setup network: %w", err)
	}
	n.ip = net.ParseIP(res.IP)
	n.gw = net.ParseIP(res.Gateway)
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

// teardown lets the pod's netns go, then runs CNI DEL for its networks
// without it. Once the pod's processes are gone, our descriptor is the
// netns's last reference: the kernel then frees it, and the veths in it
// (their host ends too), in the background, while the DEL only releases
// the addresses and the forwarding and masquerading rules. A DEL inside
// the netns would delete each link itself, and unregistering a network
// device waits for RCU grace periods: 15-16 ms of every default-network
// pod's exit here.
func (n *podNetns) teardown() {
	n.f.Close()
	req := n.req
	req.Op = netspec.OpTeardown
	if _, err := runNetHelper(req, nil); err != nil {
		n.l.Warnf("network teardown: %v", err)
	}
}

// teardownNetwork tears down the networks of a pod whose netns is gone
// (gc): the helper releases the IPAM leases and the masquerading rules.
// A pod that had no networks, or whose networks were torn down already,
// needs no helper (the helper would find the same and return).
func teardownNetwork(dir, uuid, localConfig string, l *logger) error {
	if _, err := os.Stat(filepath.Join(dir, netspec.DoneFile)); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, stage1abi.NetInfoFile)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_, err := runNetHelper(netspec.HelperRequest{
		Op:          netspec.OpTeardown,
		PodDir:      dir,
		UUID:        uuid,
		LocalConfig: localConfig,
		Debug:       l.Debug,
	}, nil)
	return err
}

// runNetHelper runs the stage1's network helper with req on its stdin,
// the pod's netns (when not nil) on netspec.NetnsFD and our stderr, and
// returns its reply. syscall.ForkExec, not os/exec: os.StartProcess
// first probes pidfd support with a throw-away child.
func runNetHelper(req netspec.HelperRequest, netns *os.File) (netspec.HelperReply, error) {
	var reply netspec.HelperReply
	req.Netns = netns != nil
	in, err := json.Marshal(req)
	if err != nil {
		return reply, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return reply, err
	}
	defer inW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		return reply, err
	}
	defer outR.Close()
	files := []uintptr{inR.Fd(), outW.Fd(), 2}
	if netns != nil {
		files = append(files, netns.Fd())
	}
	helper := filepath.Join(stage1Rootfs(), netspec.HelperName)
	pid, err := syscall.ForkExec(helper, []string{helper}, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	inR.Close()
	outW.Close()
	if err != nil {
		return reply, fmt.Errorf("start the network helper: %w", err)
	}
	// A request with many port forwards may not fit in the pipe.
	go func() {
		inW.Write(in)
		inW.Close()
	}()
	out, readErr := io.ReadAll(outR)
	ws, err := podproc.WaitPID(pid)
	if err != nil {
		return reply, fmt.Errorf("wait for the network helper: %w", err)
	}
	if readErr != nil {
		return reply, fmt.Errorf("network helper: %w", readErr)
	}
	if len(out) == 0 || json.Unmarshal(out, &reply) != nil {
		return reply, fmt.Errorf("network helper failed (%s)", describeWait(ws))
	}
	if reply.Error != "" {
		return reply, errors.New(reply.Error)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return reply, fmt.Errorf("network helper failed (%s)", describeWait(ws))
	}
	return reply, nil
}

// describeWait says how a process ended.
func describeWait(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// podPortMappings resolves the pod manifest's ports (--port): each names
// a port of an app's image manifest (or gives the pod port itself), which
// is forwarded from HOSTIP:HOSTPORT (any local address without HOSTIP).
func podPortMappings(p *supervisor.Pod) ([]netspec.PortMapping, error) {
	var out []netspec.PortMapping
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
		m := netspec.PortMapping{HostPort: int(ep.HostPort), ContainerPort: int(pp.Port), Protocol: proto}
		if ep.HostIP != "" {
			ip := net.ParseIP(ep.HostIP)
			if ip == nil {
				return nil, fmt.Errorf("port %q: invalid host address %q", ep.Name, ep.HostIP)
			}
			if !ip.IsUnspecified() {
				if ip.To4() == nil {
					return nil, fmt.Errorf("port %q: IPv6 host address %s is not supported", ep.Name, ip)
				}
				m.HostIP = ip.String()
			}
		}
		out = append(out, m)
	}
	return out, nil
}
