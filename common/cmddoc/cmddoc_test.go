package cmddoc

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
)

func TestUndocumented(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("said", "", "what it does")
	fs.Bool("silent", false, "")
	fs.Int("hidden", 0, "")
	_ = fs.MarkHidden("hidden")
	if u := Undocumented(fs); strings.Join(u, " ") != "--silent" {
		t.Errorf("Undocumented = %v", u)
	}
}

// Options carry pflag's own rendering: the flag column and the usage
// with its default, as `rkt help` prints them.
func TestOptionsAsHelpPrintsThem(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.StringP("dir", "d", "/var/lib/rkt", "rkt data directory")
	fs.StringArray("net", nil, "networks to join")
	fs.Lookup("net").NoOptDefVal = "default"
	got := Options(fs)
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	if got[0].Spec != "-d, --dir string" || got[0].Text != `rkt data directory (default "/var/lib/rkt")` {
		t.Errorf("dir: %+v", got[0])
	}
	if got[1].Spec != "--net stringArray[=default]" || got[1].Text != "networks to join" {
		t.Errorf("net: %+v", got[1])
	}
}

func TestManEscapes(t *testing.T) {
	p := Page{
		Name: "rkt-x", Command: "rkt x", Summary: "do x", Usage: "[--a-b]",
		Description: ".starts with a dot\n'and a quote\n\n  indented\n  block",
		Options:     []Option{{Long: "a-b", Spec: "--a-b", Text: `back\slash`}},
	}
	man := string(p.Man())
	for _, want := range []string{
		`.TH "RKT-X" 1`, `rkt\-x \- do x`, "\\&.starts with a dot\n", "\\&'and a quote\n",
		".nf\n  indented\n  block\n.fi\n", `\fB\-\-a\-b\fR`, `back\eslash`,
	} {
		if !strings.Contains(man, want) {
			t.Errorf("man page lacks %q:\n%s", want, man)
		}
	}
}

func TestPagesCoverGroups(t *testing.T) {
	sub := &cli.Command{Name: "list", Summary: "list things"}
	g := cli.Group("thing", "things", "Works on things.", []*cli.Command{sub})
	pages := Pages([]*cli.Command{g})
	var names []string
	for _, p := range pages {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "rkt rkt-thing rkt-thing-list" {
		t.Fatalf("pages %v", names)
	}
	group := pages[1]
	if group.Description != "Works on things." || len(group.Commands) != 1 || group.Commands[0].Name != "list" {
		t.Errorf("group page: %+v", group)
	}
	if got := strings.Join(pages[2].SeeAlso, " "); got != "rkt rkt-thing" {
		t.Errorf("sub page see also: %s", got)
	}
}
