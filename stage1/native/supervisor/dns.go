package supervisor

import (
	"fmt"
	"os"

	"github.com/rkt/rkt/stage1/stage2app"
)

// HostsFile is the /etc/hosts generated for an app whose image has none
// when neither stage0 nor the host provides one (reference NET-11).
func HostsFile(hostname string) string {
	return "127.0.0.1 localhost localhost.localdomain\n::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 " + hostname + "\n"
}

// writePodFiles writes the files the supervisor binds into every app:
// the hostname and the fallback /etc/hosts, in rkt/ of the stage1 rootfs.
func writePodFiles(p *Pod, hostname string, dns stage2app.DNSModes) (*podFiles, error) {
	dir := p.Stage1Path("rkt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	pf := &podFiles{hostname: p.Stage1Path("rkt", "hostname"), dns: dns}
	if err := os.WriteFile(pf.hostname, []byte(hostname+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write the hostname file: %w", err)
	}
	if err := os.WriteFile(p.Stage1Path("rkt", "hosts"), []byte(HostsFile(hostname)), 0o644); err != nil {
		return nil, fmt.Errorf("write the hosts file: %w", err)
	}
	return pf, nil
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// setupDNS provides the app's /etc/resolv.conf and /etc/hosts, bound
// read-only. resolv.conf: "host" binds the host's; "stage0" the one
// stage0 generated (etc/rkt-resolv.conf in the stage1 rootfs); "default"
// stage0's when there is one, else the host's; "none" leaves the image's.
// /etc/hosts: "host" binds the host's; otherwise stage0's etc/rkt-hosts
// when there is one, else the image's own file, else a generated file
// naming localhost and the pod's hostname. first is set for the pod's
// first app (see mounter.bindFileRO).
func setupDNS(m *mounter, p *Pod, pf *podFiles, first bool) error {
	bind := func(src, dst string) error {
		return m.bindFileRO(pf, first, src, dst)
	}
	stage0Resolv := p.Stage1Path("etc", "rkt-resolv.conf")
	switch pf.dns.Resolv {
	case "host":
		if err := bind("/etc/resolv.conf", "/etc/resolv.conf"); err != nil {
			return fmt.Errorf("resolv.conf: %w", err)
		}
	case "stage0", "default":
		src := ""
		if exists(stage0Resolv) {
			src = stage0Resolv
		} else if pf.dns.Resolv == "default" && exists(p.Stage1Path(CNIResolvConf)) {
			src = p.Stage1Path(CNIResolvConf)
		} else if pf.dns.Resolv == "default" && exists("/etc/resolv.conf") {
			src = "/etc/resolv.conf"
		}
		if src != "" {
			if err := bind(src, "/etc/resolv.conf"); err != nil {
				return fmt.Errorf("resolv.conf: %w", err)
			}
		}
	}

	hosts := ""
	switch {
	case pf.dns.Hosts == "host":
		hosts = "/etc/hosts"
	case exists(p.Stage1Path("etc", "rkt-hosts")):
		hosts = p.Stage1Path("etc", "rkt-hosts")
	default:
		t, err := stage2app.InRoot(m.Path, "/etc/hosts")
		if err != nil {
			return err
		}
		if _, err := os.Lstat(t); err == nil {
			return nil // the image's own
		}
		hosts = p.Stage1Path("rkt", "hosts")
	}
	if err := bind(hosts, "/etc/hosts"); err != nil {
		return fmt.Errorf("/etc/hosts: %w", err)
	}
	return nil
}
