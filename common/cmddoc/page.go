// Package cmddoc turns rkt's command definitions (common/cli.Command and
// their pflag flag sets) into reference pages: roff man pages and
// Markdown. The text of each option is taken from pflag's own usage
// rendering, so a page says exactly what `rkt help NAME` says.
package cmddoc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dispatch"
)

// Page is one reference page: rkt itself, a subcommand, or a
// sub-command of a group (rkt image list).
type Page struct {
	// Name is the page name: "rkt", "rkt-run", "rkt-image-list".
	Name string
	// Command is what the user types: "rkt run", "rkt image list".
	Command string
	// Summary is the one-line description.
	Summary string
	// Usage is the argument synopsis after Command.
	Usage string
	// Description is free text, paragraphs separated by blank lines.
	Description string
	// Commands lists the sub-commands of rkt or of a group.
	Commands []Entry
	// Options are the command's own options, Globals the global ones.
	Options, Globals []Option
	// Environment describes environment variables, Files paths.
	Environment, Files []Entry
	// SeeAlso names related pages.
	SeeAlso []string
}

// Entry is a name and its explanation.
type Entry struct {
	Name, Text string
}

// Option is one flag as help prints it.
type Option struct {
	// Long is the flag name without dashes; Short its one-letter form.
	Long, Short string
	// Spec is the flag column of `rkt help`: "-h, --help",
	// "--dir string", "--net stringArray[=default]".
	Spec string
	// Text is the usage column, with "(default ...)".
	Text string
}

// Options returns fs's visible flags in name order, rendered by pflag.
func Options(fs *pflag.FlagSet) []Option {
	var out []Option
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		one := pflag.NewFlagSet("", pflag.ContinueOnError)
		one.AddFlag(f)
		// With a single flag there is no column padding: the flag column
		// and the usage are separated by exactly three spaces.
		line := strings.TrimRight(one.FlagUsagesWrapped(0), "\n")
		spec, text, _ := strings.Cut(strings.TrimLeft(line, " "), "   ")
		out = append(out, Option{Long: f.Name, Short: f.Shorthand, Spec: spec, Text: strings.TrimSpace(text)})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Long < out[j].Long })
	return out
}

// Undocumented returns the names of fs's visible flags that have no
// usage text.
func Undocumented(fs *pflag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && strings.TrimSpace(f.Usage) == "" {
			out = append(out, "--"+f.Name)
		}
	})
	return out
}

// Pages returns every page: rkt(1), one per subcommand in cmds, and one
// per sub-command of a group.
func Pages(cmds []*cli.Command) []Page {
	globals := Options(cli.GlobalFlags())
	pages := []Page{rootPage(cmds)}
	for _, c := range cmds {
		p := commandPage(c, "rkt "+c.Name, globals)
		p.SeeAlso = []string{"rkt"}
		for _, s := range c.Subs {
			sp := commandPage(s, "rkt "+c.Name+" "+s.Name, globals)
			sp.SeeAlso = []string{"rkt", p.Name}
			p.Commands = append(p.Commands, Entry{s.Name, s.Summary})
			p.SeeAlso = append(p.SeeAlso, sp.Name)
			pages = append(pages, sp)
		}
		pages = append(pages, p)
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].Name < pages[j].Name })
	return pages
}

func commandPage(c *cli.Command, command string, globals []Option) Page {
	desc := c.Description
	if len(c.Subs) > 0 {
		// cli.Group appends the sub-command list to the description for
		// `rkt help`; the page has a COMMANDS section instead.
		desc, _, _ = strings.Cut(desc, "COMMANDS:")
	}
	return Page{
		Name:        strings.ReplaceAll(command, " ", "-"),
		Command:     command,
		Summary:     c.Summary,
		Usage:       c.Usage,
		Description: strings.TrimSpace(desc),
		Options:     Options(cli.OwnFlags(c)),
		Globals:     globals,
	}
}

// rootPage is rkt(1): the dispatcher.
func rootPage(cmds []*cli.Command) Page {
	fs := cli.GlobalFlags()
	// The dispatcher's own two, as common/dispatch defines them.
	fs.BoolP("help", "h", false, "help for rkt")
	fs.Bool("version", false, "print the version and exit")
	p := Page{
		Name:    "rkt",
		Command: "rkt",
		Summary: "rkt, the application container runner",
		Usage:   "[global options] COMMAND [command options] [arguments...]",
		Description: `rkt is a pod-native, daemonless container runtime for Linux. It runs
App Container Images (ACI) and verifies their signatures by default.

rkt is a toolchain: each command is its own program, rkt-COMMAND, in
the exec path (--exec-path, then $RKT_EXEC_PATH, then the directory
fixed at build time, never $PATH), and the programs share nothing but
the data directory and file locks. Global options are accepted before or
after the command name. A command may be abbreviated to any unambiguous
prefix: rkt li is rkt list.

Errors are printed to stderr as "rkt: ..." and end the command with exit
status 254; rkt without a command prints its usage and exits 2.`,
		Options: Options(fs),
		Environment: []Entry{
			{"RKT_EXEC_PATH", "directory of the rkt-COMMAND programs, when --exec-path is not given"},
		},
		Files: []Entry{
			{"/var/lib/rkt", "the data directory: image store, pods (--dir; group rkt)"},
			{"/etc/rkt", "local configuration (--local-config; group rkt-admin)"},
			{"/usr/lib/rkt", "system configuration shipped with rkt (--system-config)"},
			{"/usr/lib/rkt/libexec", "the rkt-COMMAND programs"},
			{"/usr/lib/rkt/stage1-images", "the stage1 images; stage1-native.aci is the default"},
		},
	}
	for _, c := range cmds {
		p.Commands = append(p.Commands, Entry{c.Name, c.Summary})
		p.SeeAlso = append(p.SeeAlso, "rkt-"+c.Name)
	}
	for _, name := range []string{"help", "version"} {
		if s, ok := dispatch.Lookup(name); ok && s.Binary == "" {
			p.Commands = append(p.Commands, Entry{s.Name, s.Summary})
		}
	}
	sort.Slice(p.Commands, func(i, j int) bool { return p.Commands[i].Name < p.Commands[j].Name })
	return p
}

// paragraphs splits text at blank lines.
func paragraphs(text string) [][]string {
	var out [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.TrimSpace(l) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, strings.TrimRight(l, " \t"))
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// preformatted reports whether a paragraph's line breaks matter: an
// indented block or a list.
func preformatted(par []string) bool {
	for _, l := range par {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "- ") {
			return true
		}
	}
	return false
}

// title is the page's heading: "rkt-run(1)".
func (p Page) title() string { return fmt.Sprintf("%s(1)", p.Name) }
