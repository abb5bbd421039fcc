package native

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/appc/spec/schema/types"
	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/stage1/native/supervisor"
)

func TestSelectEntrypoint(t *testing.T) {
	for _, c := range []struct {
		argv []string
		name string
		rest int
	}{
		{[]string{"/pod/stage1/rootfs/run", "--net=host", "u"}, "run", 2},
		{[]string{"/x/native", "stop", "u"}, "stop", 1},
		{[]string{"enter", "--pid=1"}, "enter", 1},
	} {
		name, rest, err := selectEntrypoint(c.argv)
		if err != nil || name != c.name || len(rest) != c.rest {
			t.Errorf("%q: %q %q %v", c.argv, name, rest, err)
		}
	}
	if _, _, err := selectEntrypoint([]string{"/x/native"}); err == nil {
		t.Error("no entrypoint accepted")
	}
	if code := Main([]string{"bogus"}); code != ExitStage1Error {
		t.Errorf("Main(bogus) = %d", code)
	}
}

func TestCloneFlags(t *testing.T) {
	base := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS)
	for _, c := range []struct {
		ra   stage1abi.RunArgs
		want uintptr
	}{
		{stage1abi.RunArgs{Net: "default"}, base | unix.CLONE_NEWIPC | unix.CLONE_NEWNET},
		{stage1abi.RunArgs{Net: "host", IPC: "auto"}, base | unix.CLONE_NEWIPC},
		{stage1abi.RunArgs{Net: "host", IPC: "parent"}, base},
		{stage1abi.RunArgs{Net: "none", IPC: "private"}, base | unix.CLONE_NEWIPC | unix.CLONE_NEWNET},
	} {
		got, err := CloneFlags(&c.ra)
		if err != nil || got != c.want {
			t.Errorf("%+v: %#x %v, want %#x", c.ra, got, err, c.want)
		}
	}
	if _, err := CloneFlags(&stage1abi.RunArgs{IPC: "bogus"}); err == nil {
		t.Error("--ipc=bogus accepted")
	}
}

// Each app gets its filter; apps with the same seccomp isolators share
// one assembly; --insecure-options=seccomp leaves none; the capability,
// no_new_privs and cgroup isolators are worked out too; a bad isolator
// fails.
func TestBuildSecurity(t *testing.T) {
	iso := func(name, value string) manifest.Isolator {
		return manifest.Isolator{Name: name, Value: json.RawMessage(value)}
	}
	app := func(name string, isos ...manifest.Isolator) *supervisor.App {
		return &supervisor.App{RuntimeApp: &manifest.RuntimeApp{Name: name}, App: &manifest.App{Isolators: isos}}
	}
	remove := iso(types.LinuxSeccompRemoveSetName, `{"set":["@docker/default-blacklist","uname"]}`)
	pod := &supervisor.Pod{Apps: []*supervisor.App{
		app("a"), app("b"),
		app("c", remove, iso(types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_NET_RAW"]}`),
			iso(types.LinuxNoNewPrivilegesName, `true`), iso(types.ResourceMemoryName, `{"limit":"64Mi"}`),
			iso(types.LinuxOOMScoreAdjName, `7`)),
	}}
	sec, err := buildSecurity(pod, &stage1abi.RunArgs{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sec) != 3 || len(sec["a"].Filter) == 0 || len(sec["c"].Filter) == 0 {
		t.Fatalf("filters: %d apps, a %d bytes, c %d bytes", len(sec), len(sec["a"].Filter), len(sec["c"].Filter))
	}
	if &sec["a"].Filter[0] != &sec["b"].Filter[0] {
		t.Error("the same isolators assembled twice")
	}
	if bytes.Equal(sec["a"].Filter, sec["c"].Filter) {
		t.Error("different isolators, same filter")
	}
	if got := caps.Names(sec["c"].Caps.Bounding); len(got) != 1 || got[0] != "CAP_NET_RAW" {
		t.Errorf("c's capabilities: %v", got)
	}
	if len(sec["a"].Caps.Bounding) != len(caps.DefaultRetained) || sec["a"].NoNewPrivs || sec["a"].OOMScoreAdj != nil {
		t.Errorf("a: %+v", sec["a"])
	}
	if c := sec["c"]; !c.NoNewPrivs || c.Resources == nil || c.Resources.Memory != 64<<20 || c.OOMScoreAdj == nil || *c.OOMScoreAdj != 7 {
		t.Errorf("c: %+v", c)
	}
	insecure, err := buildSecurity(pod, &stage1abi.RunArgs{DisableSeccomp: true, DisableCapabilitiesRestriction: true})
	if err != nil || len(insecure) != 3 || insecure["a"].Filter != nil || insecure["c"].Filter != nil {
		t.Errorf("--insecure-options=seccomp: %v, %v", insecure, err)
	}
	if len(insecure["c"].Caps.Bounding) <= len(caps.DefaultRetained) {
		t.Errorf("--insecure-options=capabilities: %d capabilities", len(insecure["c"].Caps.Bounding))
	}
	for _, bad := range []manifest.Isolator{
		iso(types.LinuxSeccompRemoveSetName, `{"set":["no-such-syscall"]}`),
		iso(types.LinuxCapabilitiesRetainSetName, `{"set":["CAP_BOGUS"]}`),
		iso(types.ResourceMemoryName, `{"limit":"0"}`),
		iso(types.ResourceMemoryName, ``),
	} {
		if _, err := buildSecurity(&supervisor.Pod{Apps: []*supervisor.App{app("x", bad)}}, &stage1abi.RunArgs{}); err == nil {
			t.Errorf("%s %s accepted", bad.Name, bad.Value)
		}
	}
	// The round trip through the memfd the supervisor reads.
	f, err := securityFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeSecurity(f, sec); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	n, _ := f.ReadAt(data, 0)
	var back supervisor.Security
	if err := json.Unmarshal(data[:n], &back); err != nil || !reflect.DeepEqual(back["c"], sec["c"]) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back["c"], sec["c"])
	}
}
