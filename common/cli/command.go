// Package cli is what every rkt binary shares on its command line: the
// global options, parsing, help text, error printing and exit codes. Each
// rkt-SUB main declares one Command and calls Main.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/config"
	"github.com/rkt/rkt/common/dirs"
)

// Exit statuses (reference CLI-GEN-03).
const (
	ExitOK      = 0
	ExitFailure = 254 // every rkt-side failure, including bad flags
	ExitNoSub   = 2   // the dispatcher got no subcommand
)

// ErrUsage marks an error in how the command was called; the usage line
// is printed after it.
var ErrUsage = errors.New("wrong usage")

// ExitError ends the command with a specific status. With a nil Err
// nothing is printed: the status alone is the answer (e.g. an app's exit
// code).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Usagef returns an ErrUsage-wrapped error.
func Usagef(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrUsage)
}

// Command describes one rkt subcommand binary.
type Command struct {
	// Name is what the user types after "rkt", e.g. "image" or "run".
	Name string
	// Summary is one line for `rkt help`.
	Summary string
	// Usage is the argument synopsis after "rkt NAME".
	Usage string
	// Description is free text for the help page.
	Description string
	// NeedsRoot refuses to run for a non-root caller (CLI-GEN-04).
	NeedsRoot bool
	// StopAtFirstArg turns off interspersed flags: everything after the
	// first positional argument is left to Run (run/prepare image grammar,
	// enter's command line).
	StopAtFirstArg bool
	// Flags registers the command's own flags.
	Flags func(fs *pflag.FlagSet)
	// Run does the work. It must not call os.Exit.
	Run func(env *Env, args []string) error
	// Subs are the sub-commands of a Group, for documentation and
	// completion generators; Run dispatches to them.
	Subs []*Command
}

// Env is what Run gets besides its arguments.
type Env struct {
	Globals *Globals
	Stdout  io.Writer
	Stderr  io.Writer
	// Flags is the parsed flag set (command and global flags).
	Flags *pflag.FlagSet

	cfg *config.Config
}

// Config loads the merged configuration once.
func (e *Env) Config() (*config.Config, error) {
	if e.cfg != nil {
		return e.cfg, nil
	}
	cfg, err := config.Load(e.Globals.ConfigDirs()...)
	if err != nil {
		return nil, err
	}
	e.cfg = cfg
	return cfg, nil
}

// DataDir resolves the data directory: --dir, then paths.d "data", then
// the default (CLI-GLOB-01).
func (e *Env) DataDir() (dirs.Root, error) {
	dir := e.Globals.Dir
	if !e.Globals.DirSet() {
		cfg, err := e.Config()
		if err != nil {
			return dirs.Root{}, err
		}
		if cfg.Paths.Data != "" {
			dir = cfg.Paths.Data
		}
	}
	return dirs.New(dir)
}

// Warnf prints a warning to stderr.
func (e *Env) Warnf(format string, a ...any) {
	fmt.Fprintf(e.Stderr, "rkt: warning: "+format+"\n", a...)
}

// Debugf prints to stderr only with --debug.
func (e *Env) Debugf(format string, a ...any) {
	if e.Globals.Debug {
		fmt.Fprintf(e.Stderr, "rkt: "+format+"\n", a...)
	}
}

// Main runs c with the process arguments and exits with its status.
func Main(c *Command) {
	os.Exit(Run(c, os.Args[1:], os.Stdout, os.Stderr))
}

// Run parses args for c, runs it and returns the exit status. Errors are
// printed here, once, as "rkt: ...".
func Run(c *Command, args []string, stdout, stderr io.Writer) int {
	g := NewGlobals()
	fs := pflag.NewFlagSet("rkt "+c.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(!c.StopAtFirstArg)
	if c.Flags != nil {
		c.Flags(fs)
	}
	fs.AddFlagSet(g.FlagSet())
	help := fs.BoolP("help", "h", false, "help for "+c.Name)

	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "rkt: %s: %v\n", c.Name, err)
		fmt.Fprintf(stderr, "Run 'rkt help %s' for usage.\n", c.Name)
		return ExitFailure
	}
	if *help {
		PrintHelp(stdout, c, fs, g)
		return ExitOK
	}
	if c.NeedsRoot && !isRoot() {
		fmt.Fprintln(stderr, "rkt: cannot run as unprivileged user")
		return ExitFailure
	}
	if g.CPUProfile != "" {
		stop, err := startCPUProfile(g.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "rkt: %v\n", err)
			return ExitFailure
		}
		defer stop()
	}
	env := &Env{Globals: g, Stdout: stdout, Stderr: stderr, Flags: fs}
	err := c.Run(env, fs.Args())
	if g.MemProfile != "" {
		if perr := writeMemProfile(g.MemProfile); perr != nil {
			fmt.Fprintf(stderr, "rkt: %v\n", perr)
		}
	}
	return report(stderr, c, err)
}

func report(stderr io.Writer, c *Command, err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "rkt: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "rkt: %v\n", err)
	if errors.Is(err, ErrUsage) {
		fmt.Fprintf(stderr, "Usage: rkt %s %s\nRun 'rkt help %s' for more.\n", c.Name, c.Usage, c.Name)
	}
	return ExitFailure
}

// PrintHelp writes the help page in rkt's section layout (CLI-GEN-09).
func PrintHelp(w io.Writer, c *Command, fs *pflag.FlagSet, g *Globals) {
	fmt.Fprintf(w, "NAME:\n\trkt %s - %s\n\n", c.Name, c.Summary)
	fmt.Fprintf(w, "USAGE:\n\trkt %s %s\n", c.Name, c.Usage)
	if c.Description != "" {
		fmt.Fprintf(w, "\nDESCRIPTION:\n%s\n", indent(c.Description))
	}
	local := pflag.NewFlagSet("local", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if g.FlagSet().Lookup(f.Name) == nil {
			local.AddFlag(f)
		}
	})
	if u := local.FlagUsages(); u != "" {
		fmt.Fprintf(w, "\nOPTIONS:\n%s", u)
	}
	fmt.Fprintf(w, "\nGLOBAL OPTIONS:\n%s", g.FlagSet().FlagUsages())
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n")
}

func isRoot() bool { return os.Geteuid() == 0 }

// Invoked returns the name this binary was started as, without directory;
// rkt-prepare uses it to tell `rkt run` from `rkt prepare`.
func Invoked() string { return filepath.Base(os.Args[0]) }

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeMemProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating memory profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("writing memory profile: %w", err)
	}
	return nil
}
