package native

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Network modes of a pod.
const (
	NetPrivate = "private" // a network namespace with loopback only
	NetHost    = "host"    // the host's network namespace
)

// NetMode returns how the pod is networked for a --net value, and a
// warning when the value asks for networks native cannot set up yet.
func NetMode(net string) (mode, warning string) {
	switch strings.TrimSpace(net) {
	case "host":
		return NetHost, ""
	case "", "none":
		return NetPrivate, ""
	}
	return NetPrivate, "networking is not implemented yet: pod has loopback only"
}

// loopbackUp brings up the loopback interface of the calling thread's
// network namespace.
func loopbackUp() error {
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
