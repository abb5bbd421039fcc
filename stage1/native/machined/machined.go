// Package machined registers a pod with systemd-machined over D-Bus, as
// rkt did (reference §14), so that `machinectl` lists it: class
// "container", the pod supervisor as the leader. Hosts without systemd
// (or without machined) are skipped silently.
package machined

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// D-Bus names of machined's manager.
const (
	BusName   = "org.freedesktop.machine1"
	Path      = dbus.ObjectPath("/org/freedesktop/machine1")
	Interface = "org.freedesktop.machine1.Manager"
)

// Machine is what machined is told about a pod.
type Machine struct {
	// Name is the machine name, "rkt-<uuid>" for a pod.
	Name string
	// ID is the pod's UUID.
	ID [16]byte
	// Service names the registering program ("rkt").
	Service string
	// Class is "container".
	Class string
	// Leader is the host pid of the pod supervisor.
	Leader uint32
	// RootDirectory is the pod's root on the host.
	RootDirectory string
	// NetIfIndices are the host-side interfaces of the pod (may be empty).
	NetIfIndices []int32
}

// ErrNotAvailable means there is no machined to register with.
var ErrNotAvailable = errors.New("systemd-machined is not available")

// SystemBus connects to the system bus when systemd runs the host:
// runDir is /run, whose systemd/system exists only then (sd_booted(3)).
// It returns ErrNotAvailable otherwise, without trying the bus.
func SystemBus(runDir string) (*dbus.Conn, error) {
	if _, err := os.Stat(filepath.Join(runDir, "systemd", "system")); err != nil {
		return nil, ErrNotAvailable
	}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	return conn, nil
}

// Register registers m with the machined on conn: by
// RegisterMachineWithNetwork when machined has it (v216+), else by
// RegisterMachine. It returns ErrNotAvailable when nobody owns
// machined's name or its manager has neither method.
func Register(conn *dbus.Conn, m Machine) error {
	obj := conn.Object(BusName, Path)
	node, err := introspect.Call(obj)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	methods := map[string]bool{}
	for _, iface := range node.Interfaces {
		if iface.Name == Interface {
			for _, meth := range iface.Methods {
				methods[meth.Name] = true
			}
		}
	}
	var call *dbus.Call
	switch {
	case methods["RegisterMachineWithNetwork"]:
		ifs := m.NetIfIndices
		if ifs == nil {
			ifs = []int32{}
		}
		call = obj.Call(Interface+".RegisterMachineWithNetwork", 0, m.Name, m.ID[:], m.Service, m.Class, m.Leader, m.RootDirectory, ifs)
	case methods["RegisterMachine"]:
		call = obj.Call(Interface+".RegisterMachine", 0, m.Name, m.ID[:], m.Service, m.Class, m.Leader, m.RootDirectory)
	default:
		return fmt.Errorf("%w: the machine manager cannot register machines", ErrNotAvailable)
	}
	if call.Err != nil {
		return fmt.Errorf("registering %s with systemd-machined: %w", m.Name, call.Err)
	}
	return nil
}

// Unregister tells machined the machine is gone. machined notices its
// leader's exit by itself; this only makes it immediate.
func Unregister(conn *dbus.Conn, name string) error {
	if err := conn.Object(BusName, Path).Call(Interface+".UnregisterMachine", 0, name).Err; err != nil {
		return fmt.Errorf("unregistering %s from systemd-machined: %w", name, err)
	}
	return nil
}
