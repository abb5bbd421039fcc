package fly

import (
	"errors"
	"fmt"
	"os"

	"github.com/rkt/rkt/stage1/stage2app"
)

// Stub /etc/hosts written into an image without one when the host has
// none to bind either.
const stubHosts = "127.0.0.1 localhost localhost.localdomain\n"

// setupDNS provides the app's /etc/resolv.conf and /etc/hosts. fly shares
// the host's network, so "default" uses the host's files (bound
// read-only) where the host has them; "host" insists on them; "stage0"
// binds the files stage0 generated in the stage1 rootfs (etc/rkt-resolv.conf,
// etc/rkt-hosts); resolv "none" leaves the image's file alone. When
// /etc/hosts comes from nowhere and the image has none, a stub is written.
func setupDNS(m *mounter, p *Pod, modes stage2app.DNSModes) error {
	exists := func(path string) bool { _, err := os.Stat(path); return err == nil }
	bind := func(src, dst string) error {
		_, err := m.BindInto(src, dst, false, true)
		return err
	}

	switch modes.Resolv {
	case "host":
		if err := bind("/etc/resolv.conf", "/etc/resolv.conf"); err != nil {
			return fmt.Errorf("resolv.conf: %w", err)
		}
	case "stage0":
		if src := p.Stage1Path("etc", "rkt-resolv.conf"); exists(src) {
			if err := bind(src, "/etc/resolv.conf"); err != nil {
				return fmt.Errorf("resolv.conf: %w", err)
			}
		}
	case "default":
		if exists("/etc/resolv.conf") {
			if err := bind("/etc/resolv.conf", "/etc/resolv.conf"); err != nil {
				m.log.Warnf("can't give the app the host's resolv.conf: %v", err)
			}
		}
	}

	hosts := ""
	switch modes.Hosts {
	case "host":
		hosts = "/etc/hosts"
	case "stage0":
		if src := p.Stage1Path("etc", "rkt-hosts"); exists(src) {
			hosts = src
		}
	}
	if hosts == "" && exists("/etc/hosts") {
		hosts = "/etc/hosts"
	}
	if hosts != "" {
		if err := bind(hosts, "/etc/hosts"); err != nil {
			if modes.Hosts == "default" {
				m.log.Warnf("can't give the app the host's /etc/hosts: %v", err)
				return nil
			}
			return fmt.Errorf("/etc/hosts: %w", err)
		}
		return nil
	}
	t, err := stage2app.InRoot(m.Path, "/etc/hosts")
	if err != nil {
		return err
	}
	if _, err := os.Lstat(t); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := stage2app.PrepareTarget(m.Path, "/etc/hosts", false, m.NoCreate); err != nil {
		return fmt.Errorf("/etc/hosts: %w", err)
	}
	if err := os.WriteFile(t, []byte(stubHosts), 0o644); err != nil {
		return fmt.Errorf("write a stub /etc/hosts: %w", err)
	}
	return nil
}
