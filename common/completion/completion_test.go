package completion

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
)

func TestUnclassified(t *testing.T) {
	known := &cli.Command{Name: "status"}
	unknown := &cli.Command{Name: "frobnicate"}
	group := cli.Group("image", "", "", []*cli.Command{{Name: "list"}, {Name: "polish"}})
	if got := strings.Join(Unclassified([]*cli.Command{known, unknown, group}), ","); got != "frobnicate,image polish" {
		t.Errorf("Unclassified = %q", got)
	}
}

// Options that take a value are offered with "=", optional values both
// ways, and value kinds reach the scripts.
func TestScriptsCarryOptions(t *testing.T) {
	c := &cli.Command{Name: "run", Summary: "Run", Flags: func(fs *pflag.FlagSet) {
		fs.String("uuid-file-save", "", "save the UUID")
		fs.StringArray("net", nil, "networks")
		fs.Lookup("net").NoOptDefVal = "default"
		fs.Bool("interactive", false, "attach")
	}}
	m := NewModel([]*cli.Command{c})
	bash := string(m.Bash())
	for _, want := range []string{"--uuid-file-save='", "--net --net= ", "--interactive", "--net) echo network", `"run") echo image`} {
		if !strings.Contains(bash, want) {
			t.Errorf("bash script lacks %q", want)
		}
	}
	zsh := string(m.Zsh())
	for _, want := range []string{`'*--net=-[networks]:net:_rkt_network'`, `'--uuid-file-save=[save the UUID]:uuid-file-save:_rkt_file'`, `('run') reply=(_rkt_image)`} {
		if !strings.Contains(zsh, want) {
			t.Errorf("zsh script lacks %q", want)
		}
	}
}
