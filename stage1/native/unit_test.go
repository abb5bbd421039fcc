package native

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/appc/spec/schema/types"
	"github.com/rkt/rkt/stage1/manifest"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
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

// Each app gets its filter; apps with the same isolators share one
// assembly; --insecure-options=seccomp leaves none; a bad isolator fails.
func TestBuildFilters(t *testing.T) {
	iso := func(name, value string) types.Isolator {
		var i types.Isolator
		if err := i.UnmarshalJSON([]byte(`{"name":"` + name + `","value":` + value + `}`)); err != nil {
			t.Fatal(err)
		}
		return i
	}
	app := func(name string, isos ...types.Isolator) *supervisor.App {
		return &supervisor.App{RuntimeApp: &manifest.RuntimeApp{Name: name}, App: &manifest.App{}, Isolators: isos}
	}
	remove := iso(types.LinuxSeccompRemoveSetName, `{"set":["@docker/default-blacklist","uname"]}`)
	pod := &supervisor.Pod{Apps: []*supervisor.App{app("a"), app("b"), app("c", remove)}}
	fs, err := buildFilters(pod, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 || len(fs["a"]) == 0 || len(fs["c"]) == 0 {
		t.Fatalf("filters: %d apps, a %d bytes, c %d bytes", len(fs), len(fs["a"]), len(fs["c"]))
	}
	if &fs["a"][0] != &fs["b"][0] {
		t.Error("the same isolators assembled twice")
	}
	if bytes.Equal(fs["a"], fs["c"]) {
		t.Error("different isolators, same filter")
	}
	if fs, err := buildFilters(pod, true); err != nil || len(fs) != 3 || fs["a"] != nil || fs["c"] != nil {
		t.Errorf("--insecure-options=seccomp: %v, %v", fs, err)
	}
	bad := &supervisor.Pod{Apps: []*supervisor.App{app("x", iso(types.LinuxSeccompRemoveSetName, `{"set":["no-such-syscall"]}`))}}
	if _, err := buildFilters(bad, false); err == nil {
		t.Error("unknown syscall accepted")
	}
	// The round trip through the memfd the supervisor reads.
	f, err := filtersFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeFilters(f, fs); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	n, _ := f.ReadAt(data, 0)
	var back supervisor.Filters
	if err := json.Unmarshal(data[:n], &back); err != nil || !bytes.Equal(back["c"], fs["c"]) {
		t.Errorf("round trip: %v", err)
	}
}
