package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// Group makes a command whose first argument names one of subs, as in
// `rkt image list`. Global flags are accepted before the group's name,
// between it and the sub-command, and after.
func Group(name, summary, description string, subs []*Command) *Command {
	g := &Command{
		Name:           name,
		Summary:        summary,
		Usage:          "COMMAND [options]",
		StopAtFirstArg: true,
		Subs:           subs,
	}
	var lines []string
	for _, s := range subs {
		lines = append(lines, fmt.Sprintf("  %-14s %s", s.Name, s.Summary))
	}
	g.Description = strings.TrimSpace(description + "\n\nCOMMANDS:\n" + strings.Join(lines, "\n") +
		"\n\nRun 'rkt " + name + " COMMAND --help' for a command's options.")
	g.Run = func(env *Env, args []string) error {
		if len(args) == 0 {
			return Usagef("rkt %s needs a command", name)
		}
		for _, s := range subs {
			if s.Name == args[0] {
				return runSub(env, name, s, args[1:])
			}
		}
		return Usagef("%q is not a command of rkt %s", args[0], name)
	}
	return g
}

// runSub parses a sub-command's flags on top of the globals already
// parsed for the group, and runs it.
func runSub(env *Env, group string, c *Command, args []string) error {
	full := &Command{}
	*full = *c
	full.Name = group + " " + c.Name
	fs := pflag.NewFlagSet("rkt "+full.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(!c.StopAtFirstArg)
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.AddFlagSet(env.Globals.FlagSet())
	help := fs.BoolP("help", "h", false, "help for "+c.Name)
	if err := fs.Parse(args); err != nil {
		return Usagef("%v", err)
	}
	if *help {
		PrintHelp(env.Stdout, full, fs, env.Globals)
		return nil
	}
	if c.NeedsRoot && !isRoot() {
		return fmt.Errorf("cannot run as unprivileged user")
	}
	sub := *env
	sub.Flags = fs
	return c.Run(&sub, fs.Args())
}
