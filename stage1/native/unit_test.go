package native

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/podproc"
)

func TestSelectEntrypoint(t *testing.T) {
	for _, c := range []struct {
		argv []string
		name string
		rest int
	}{
		{[]string{"/pod/stage1/rootfs/run", "--net=host", "u"}, "run", 2},
		{[]string{"/x/native", "stop", "u"}, "stop", 1},
		{[]string{"init", "u"}, "init", 1},
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

func TestNetMode(t *testing.T) {
	for _, c := range []struct {
		net, mode string
		warn      bool
	}{
		{"host", NetHost, false},
		{"none", NetPrivate, false},
		{"", NetCNI, false},
		{"default", NetCNI, false},
		{"mynet:IP=10.1.1.1", NetCNI, false},
	} {
		mode, w := NetMode(c.net)
		if mode != c.mode || (w != "") != c.warn {
			t.Errorf("NetMode(%q) = %q, %q", c.net, mode, w)
		}
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

func TestHostsFileAndEnv(t *testing.T) {
	if got := HostsFile("h"); got != "127.0.0.1 localhost localhost.localdomain\n::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 h\n" {
		t.Errorf("HostsFile = %q", got)
	}
	env := []string{"PATHX=1", "PATH=/bin", "A=b=c"}
	if envLookup(env, "PATH") != "/bin" || envLookup(env, "A") != "b=c" || envLookup(env, "B") != "" {
		t.Error("envLookup")
	}
	if podproc.WaitExitStatus(unix.WaitStatus(9)) != 137 || podproc.WaitExitStatus(unix.WaitStatus(5<<8)) != 5 {
		t.Error("waitStatusCode")
	}
}
