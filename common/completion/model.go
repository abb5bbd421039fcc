// Package completion generates rkt's shell completion scripts (bash, zsh
// and fish) from the command definitions, so they offer exactly the commands
// and options the binaries parse. Values that live in the data directory
// (pod UUIDs, image IDs and names) are listed at completion time by
// running `rkt list` and `rkt image list` with the data and configuration
// options found on the command line; network names are read from the
// net.d configuration directories.
package completion

import (
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/globalflags"
)

// Kind names what a command argument or an option value is, and so how
// the scripts complete it.
type Kind string

// The kinds of values the scripts know how to list.
const (
	None     Kind = ""
	Pod      Kind = "pod"      // pod UUIDs from `rkt list`
	Image    Kind = "image"    // image IDs and names from `rkt image list`, and files
	File     Kind = "file"     // paths
	Dir      Kind = "dir"      // directories
	Network  Kind = "network"  // default, default-restricted, host, none and net.d names
	Insecure Kind = "insecure" // --insecure-options values, comma-separated
	Command  Kind = "command"  // rkt's commands (rkt help COMMAND)
)

// args says what the positional arguments of each command are. Every
// command and group sub-command must be listed (a test checks), so a new
// command is never silently left without argument completion.
var args = map[string]Kind{
	"api-service":        None,
	"cat-manifest":       Pod,
	"config":             None,
	"enter":              Pod,
	"export":             Pod,
	"fetch":              Image,
	"gc":                 None,
	"image":              None,
	"image cat-manifest": Image,
	"image export":       Image,
	"image extract":      Image,
	"image gc":           None,
	"image list":         None,
	"image render":       Image,
	"image rm":           Image,
	"image verify":       Image,
	"list":               None,
	"metadata-service":   None,
	"prepare":            Image,
	"rm":                 Pod,
	"run":                Image,
	"run-prepared":       Pod,
	"status":             Pod,
	"stop":               Pod,
	"trust":              File,
	"help":               Command,
	"version":            None,
}

// values says what the value of an option is, by option name.
var values = map[string]Kind{
	"dir":              Dir,
	"exec-path":        Dir,
	"local-config":     Dir,
	"system-config":    Dir,
	"user-config":      Dir,
	"insecure-options": Insecure,
	"net":              Network,
	"uuid-file":        File,
	"uuid-file-save":   File,
	"signature":        File,
	"set-env-file":     File,
	"pod-manifest":     File,
	"stage1-path":      File,
	"stage1-from-dir":  File,
}

// Cmd is one command (or group sub-command) as the scripts see it.
type Cmd struct {
	// Key is "run" or "image list".
	Key     string
	Summary string
	Flags   []Flag
	Args    Kind
	Subs    []*Cmd
}

// Flag is one option.
type Flag struct {
	Name, Short, Usage string
	// TakesValue: the option needs a value (--dir DIR or --dir=DIR).
	TakesValue bool
	// OptionalValue: a value may follow after "=" only (--net[=default]).
	OptionalValue bool
	// Repeatable: the option may be given more than once.
	Repeatable bool
	Values     Kind
}

// Model is everything the scripts are generated from.
type Model struct {
	Commands []*Cmd
	Globals  []Flag
	// Builtins are answered by the dispatcher: help and version.
	Builtins []*Cmd
	// ConfigDirs are the default system and local configuration
	// directories, where net.d lives.
	SystemConfig, LocalConfig string
	// InsecureOptions are the --insecure-options values.
	InsecureOptions []string
}

// NewModel builds the model from the command definitions.
func NewModel(cmds []*cli.Command) *Model {
	m := &Model{
		Globals:         flags(cli.GlobalFlags()),
		SystemConfig:    buildinfo.SystemConfigDir,
		LocalConfig:     globalflags.DefaultLocalConfig,
		InsecureOptions: cli.ValidInsecureOptions(),
		Builtins: []*Cmd{
			{Key: "help", Summary: "Show help for rkt or one of its commands", Args: Command},
			{Key: "version", Summary: "Print the version and exit"},
		},
	}
	for _, c := range cmds {
		m.Commands = append(m.Commands, newCmd(c, c.Name))
	}
	sort.Slice(m.Commands, func(i, j int) bool { return m.Commands[i].Key < m.Commands[j].Key })
	return m
}

func newCmd(c *cli.Command, key string) *Cmd {
	out := &Cmd{Key: key, Summary: c.Summary, Flags: flags(cli.OwnFlags(c)), Args: args[key]}
	for _, s := range c.Subs {
		out.Subs = append(out.Subs, newCmd(s, key+" "+s.Name))
	}
	return out
}

func flags(fs *pflag.FlagSet) []Flag {
	var out []Flag
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		typ := f.Value.Type()
		out = append(out, Flag{
			Name:          f.Name,
			Short:         f.Shorthand,
			Usage:         firstLine(f.Usage),
			TakesValue:    typ != "bool" && f.NoOptDefVal == "",
			OptionalValue: typ != "bool" && f.NoOptDefVal != "",
			Repeatable:    strings.HasSuffix(typ, "Array") || strings.HasSuffix(typ, "Slice"),
			Values:        values[f.Name],
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// Unclassified returns the command keys that have no entry saying what
// their arguments are.
func Unclassified(cmds []*cli.Command) []string {
	var out []string
	var walk func(c *cli.Command, key string)
	walk = func(c *cli.Command, key string) {
		if _, ok := args[key]; !ok {
			out = append(out, key)
		}
		for _, s := range c.Subs {
			walk(s, key+" "+s.Name)
		}
	}
	for _, c := range cmds {
		walk(c, c.Name)
	}
	return out
}

// all returns every command and sub-command, depth first.
func (m *Model) all() []*Cmd {
	var out []*Cmd
	var walk func(c *Cmd)
	walk = func(c *Cmd) {
		out = append(out, c)
		for _, s := range c.Subs {
			walk(s)
		}
	}
	for _, c := range append(append([]*Cmd{}, m.Commands...), m.Builtins...) {
		walk(c)
	}
	return out
}
