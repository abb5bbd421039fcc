package machined

import (
	"bufio"
	"errors"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// privateBus starts a dbus-daemon of its own and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("no dbus-daemon")
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon did not start")
	}
	return ""
}

func connect(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	c, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fakeMachined records the calls machined would get.
type fakeMachined struct {
	mu    sync.Mutex
	calls [][]any
}

func (f *fakeMachined) record(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, args)
}

func (f *fakeMachined) RegisterMachineWithNetwork(name string, id []byte, service, class string, leader uint32, root string, ifs []int32) (dbus.ObjectPath, *dbus.Error) {
	f.record("RegisterMachineWithNetwork", name, id, service, class, leader, root, ifs)
	return dbus.ObjectPath("/org/freedesktop/machine1/machine/" + strings.ReplaceAll(name, "-", "_")), nil
}

func (f *fakeMachined) UnregisterMachine(name string) *dbus.Error {
	f.record("UnregisterMachine", name)
	return nil
}

// oldMachined has only the methods of machined v215.
type oldMachined struct{ fakeMachined }

func (f *oldMachined) RegisterMachine(name string, id []byte, service, class string, leader uint32, root string) (dbus.ObjectPath, *dbus.Error) {
	f.record("RegisterMachine", name, id, service, class, leader, root)
	return "/m", nil
}

// serve exports v as machined's manager (with introspection) on the bus.
func serve(t *testing.T, addr string, v any, methods []introspect.Method) {
	t.Helper()
	c := connect(t, addr)
	if err := c.Export(v, Path, Interface); err != nil {
		t.Fatal(err)
	}
	node := &introspect.Node{Name: string(Path), Interfaces: []introspect.Interface{
		introspect.IntrospectData,
		{Name: Interface, Methods: methods},
	}}
	if err := c.Export(introspect.NewIntrospectable(node), Path, "org.freedesktop.DBus.Introspectable"); err != nil {
		t.Fatal(err)
	}
	if r, err := c.RequestName(BusName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
}

func testMachine() Machine {
	return Machine{Name: "rkt-0b8dbf1c-7e09-4b63-a6a1-9f2a9c8f1c21",
		ID:      [16]byte{0x0b, 0x8d, 0xbf, 0x1c, 0x7e, 0x09, 0x4b, 0x63, 0xa6, 0xa1, 0x9f, 0x2a, 0x9c, 0x8f, 0x1c, 0x21},
		Service: "rkt", Class: "container", Leader: 4242, RootDirectory: "/var/lib/rkt/pods/run/x/stage1/rootfs"}
}

func TestRegisterWithNetwork(t *testing.T) {
	addr := privateBus(t)
	f := &fakeMachined{}
	serve(t, addr, f, introspect.Methods(f))
	c := connect(t, addr)
	m := testMachine()
	if err := Register(c, m); err != nil {
		t.Fatal(err)
	}
	if err := Unregister(c, m.Name); err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"RegisterMachineWithNetwork", m.Name, m.ID[:], "rkt", "container", uint32(4242), m.RootDirectory, []int32{}},
		{"UnregisterMachine", m.Name},
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("machined got\n %#v\nwant\n %#v", f.calls, want)
	}
}

func TestRegisterOldMachined(t *testing.T) {
	addr := privateBus(t)
	f := &oldMachined{}
	var methods []introspect.Method
	for _, m := range introspect.Methods(f) {
		if m.Name == "RegisterMachine" {
			methods = append(methods, m)
		}
	}
	serve(t, addr, f, methods)
	m := testMachine()
	if err := Register(connect(t, addr), m); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 || f.calls[0][0] != "RegisterMachine" || f.calls[0][6] != m.RootDirectory {
		t.Errorf("machined got %#v", f.calls)
	}
}

// Without machined on the bus, or without systemd, registration is
// skipped: ErrNotAvailable, which the stage1 does not report.
func TestNotAvailable(t *testing.T) {
	addr := privateBus(t)
	if err := Register(connect(t, addr), testMachine()); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("no machined on the bus: %v", err)
	}
	if _, err := SystemBus(t.TempDir()); !errors.Is(err, ErrNotAvailable) {
		t.Errorf("host without systemd: %v", err)
	}
}
