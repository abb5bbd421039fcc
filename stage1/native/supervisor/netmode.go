package supervisor

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Network modes of a pod.
const (
	NetPrivate = "private" // a network namespace with loopback only
	NetHost    = "host"    // the host's network namespace
	NetCNI     = "cni"     // a network namespace joined to CNI networks
)

// NetMode returns how the pod is networked for a --net value: "host"
// shares the host's, "none" is loopback only, anything else (including
// "" = default) is a private netns with the named CNI networks. The
// second result is kept for callers that print a warning; it is empty.
func NetMode(net string) (mode, warning string) {
	switch strings.TrimSpace(net) {
	case "host":
		return NetHost, ""
	case "none":
		return NetPrivate, ""
	}
	return NetCNI, ""
}

// LoopbackUp brings up the loopback interface of the calling thread's
// network namespace.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: bring up: %w", err)
	}
	return nil
}

// CNIResolvConf is the resolv.conf built from the CNI results, in the
// stage1 rootfs; --dns-conf-mode resolv=default uses it when stage0 did
// not write one for --dns.
const CNIResolvConf = "rkt/cni-resolv.conf"
