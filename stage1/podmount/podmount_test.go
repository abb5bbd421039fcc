package podmount

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rkt/rkt/common/mount"
)

func TestBelow(t *testing.T) {
	info := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:5 / /pods/p/stage1/rootfs rw - overlay overlay rw
31 30 0:6 / /pods/p/stage1/rootfs/opt/stage2/a/rootfs rw - overlay overlay rw
32 31 0:7 / /pods/p/stage1/rootfs/opt/stage2/a/rootfs/dev rw - devtmpfs udev rw
33 31 0:8 / /pods/p/stage1/rootfs/opt/stage2/a/rootfs/with\040space rw - tmpfs tmpfs rw
35 31 0:9 / /pods/p/stage1/rootfs/opt/stage2/a/rootfs/dev rw - tmpfs tmpfs rw
34 22 0:9 / /pods/p/stage1/rootfsx rw - tmpfs tmpfs rw
`
	tab, err := mount.Parse(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	got := Below(tab, "/pods/p/stage1/rootfs")
	want := []string{
		"/pods/p/stage1/rootfs/opt/stage2/a/rootfs/dev",
		"/pods/p/stage1/rootfs/opt/stage2/a/rootfs/with space",
		"/pods/p/stage1/rootfs/opt/stage2/a/rootfs",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Below = %q", got)
	}
}
