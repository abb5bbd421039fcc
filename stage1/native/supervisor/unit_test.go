package supervisor

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/entrypoint"
	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/stage1/stage1log"
)

func TestEntrypoints(t *testing.T) {
	for _, argv := range [][]string{{"init", "u"}, {"/pod/stage1/rootfs/init", "init", "u"}} {
		if _, _, err := entrypoint.Select(entrypoints, argv); err != nil {
			t.Errorf("%q: %v", argv, err)
		}
	}
	if code := Main([]string{"run"}); code != stage1log.ExitStage1Error {
		t.Errorf("Main(run) = %d: the supervisor binary has no run entrypoint", code)
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

func TestParseOverlayOptions(t *testing.T) {
	info := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:50 / /pods/p/app\040x/rootfs rw,relatime - overlay overlay rw,lowerdir=/cas/t1/rootfs:/cas/t\0402,upperdir=/pods/p/overlay/a/upper,workdir=/pods/p/overlay/a/work,uuid=on,fsync=volatile
41 22 0:51 / /pods/p/other rw - tmpfs tmpfs rw
42 22 0:52 / /pods/p/fd rw - overlay overlay rw,lowerdir+=/l1,lowerdir+=/l2,upperdir=/u,workdir=/w,volatile
`
	got, ok, err := parseOverlayOptions(strings.NewReader(info), "/pods/p/app x/rootfs/")
	want := overlayLayers{lowers: []string{"/cas/t1/rootfs", "/cas/t 2"}, upper: "/pods/p/overlay/a/upper", work: "/pods/p/overlay/a/work", volatile: true}
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("overlay: %+v %v %v", got, ok, err)
	}
	if got, ok, _ := parseOverlayOptions(strings.NewReader(info), "/pods/p/fd"); !ok || !reflect.DeepEqual(got.lowers, []string{"/l1", "/l2"}) || got.upper != "/u" || !got.volatile {
		t.Errorf("lowerdir+: %+v %v", got, ok)
	}
	for _, target := range []string{"/pods/p/other", "/pods/p/none"} {
		if _, ok, err := parseOverlayOptions(strings.NewReader(info), target); ok || err != nil {
			t.Errorf("%s taken for an overlay (%v)", target, err)
		}
	}
}
