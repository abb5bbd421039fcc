package stage1abi

import (
	"reflect"
	"testing"
)

func TestRunArgsRoundTrip(t *testing.T) {
	full := RunArgs{Debug: true, Net: "default,foo:IP=1.2.3.4", Interactive: true, PrivateUsers: "65536:65536",
		MDSToken: "tok", LocalConfig: "/etc/rkt", Hostname: "h", DNSConfMode: "resolv=host,hosts=default",
		DisableCapabilitiesRestriction: true, DisablePaths: true, DisableSeccomp: true, Mutable: true, IPC: "parent",
		UUID: "0b8dbf1c-7e09-4b63-a6a1-9f2a9c8f1c21"}
	argv, dropped := full.Args(6)
	if len(dropped) != 0 {
		t.Errorf("v6 dropped %v", dropped)
	}
	got, err := ParseRunArgs(argv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, full) {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, full)
	}
	// Older interfaces get only what they know.
	argv, dropped = full.Args(1)
	if len(dropped) != 7 {
		t.Errorf("v1 dropped %v", dropped)
	}
	got, _ = ParseRunArgs(argv)
	if got.Hostname != "" || got.IPC != "" || got.Mutable || !got.Debug || got.UUID != full.UUID {
		t.Errorf("v1 args: %+v", got)
	}
	if d, _ := (&RunArgs{UUID: "u"}).Args(6); d[0] != "--net=default" {
		t.Errorf("empty net: %v", d)
	}
}

func TestOtherArgsRoundTrip(t *testing.T) {
	e := EnterArgs{PID: 42, AppName: "app", Command: []string{"/bin/sh", "-c", "echo --x"}}
	if got, err := ParseEnterArgs(e.Args()); err != nil || !reflect.DeepEqual(*got, e) {
		t.Errorf("enter: %+v %v", got, err)
	}
	g := GCArgs{Debug: true, LocalConfig: "/etc/rkt", UUID: "u"}
	if got, err := ParseGCArgs(g.Args(5)); err != nil || !reflect.DeepEqual(*got, g) {
		t.Errorf("gc: %+v %v", got, err)
	}
	s := StopArgs{Force: true, UUID: "u"}
	if got, err := ParseStopArgs(s.Args()); err != nil || !reflect.DeepEqual(*got, s) {
		t.Errorf("stop: %+v %v", got, err)
	}
}
