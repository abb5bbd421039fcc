package native

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
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
