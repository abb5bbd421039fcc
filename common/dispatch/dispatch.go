package dispatch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/globalflags"
)

// Exit statuses, as common/cli defines them (reference CLI-GEN-03); the
// dispatcher does not link cli, to start faster.
const (
	exitOK      = 0
	exitFailure = 254
	exitNoSub   = 2
)

// ExecPathEnv names the environment variable that overrides the
// build-time exec directory.
const ExecPathEnv = "RKT_EXEC_PATH"

// ExecDir returns the one directory subcommands are looked up in:
// --exec-path, then $RKT_EXEC_PATH, then the build-time directory. Never
// $PATH: rkt runs as root, and a PATH entry must not be able to stand in
// for a privileged subcommand.
func ExecDir(flag string) string { return execDir(flag, os.Getenv) }

func execDir(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if env := getenv(ExecPathEnv); env != "" {
		return env
	}
	return buildinfo.ExecDir
}

// Binary returns the absolute path of a subcommand binary in the exec dir.
func Binary(execDir, name string) (string, error) {
	p := filepath.Join(execDir, name)
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("%s not found in exec path %s: %w", name, execDir, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s in exec path %s is not executable", name, execDir)
	}
	return p, nil
}

// Main is the dispatcher: it finds the subcommand among the arguments,
// leaves the global flags and all other arguments as they are, and execs
// the subcommand binary. It returns only on failure.
func Main(args []string, stdout, stderr io.Writer) int {
	t, code := route(args, os.Getenv, stdout, stderr)
	if t == nil {
		return code
	}
	bin, err := Binary(t.dir, t.binary)
	if err != nil {
		fmt.Fprintf(stderr, "rkt: %s: %v\n", t.name, err)
		return exitFailure
	}
	err = syscall.Exec(bin, t.argv, os.Environ())
	fmt.Fprintf(stderr, "rkt: executing %s: %v\n", bin, err)
	return exitFailure
}

// target is the subcommand binary the dispatcher execs.
type target struct {
	name   string   // the subcommand's name, for errors
	dir    string   // the exec dir
	binary string   // the binary's name in it
	argv   []string // its whole argv, argv[0] included
}

// route reads the arguments: it returns the binary to exec, or nil and
// the exit status once it has answered (help, version) or failed itself.
func route(args []string, getenv func(string) string, stdout, stderr io.Writer) (*target, int) {
	g := globalflags.New()
	fs := g.FlagSet()
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false)
	help := fs.BoolP("help", "h", false, "help for rkt")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "rkt: %v\nRun 'rkt help' for usage.\n", err)
		return nil, exitFailure
	}
	rest := fs.Args()
	// The arguments before the subcommand name are global flags; they are
	// passed on unchanged, ahead of the subcommand's own arguments.
	globals := args[:len(args)-len(rest)]
	if n := len(globals); n > 0 && globals[n-1] == "--" {
		globals = globals[:n-1]
	}
	switch {
	case *version:
		printVersion(stdout)
		return nil, exitOK
	case *help:
		PrintUsage(stdout, fs)
		return nil, exitOK
	case len(rest) == 0:
		PrintUsage(stderr, fs)
		return nil, exitNoSub
	}

	sub, ok := Lookup(rest[0])
	if !ok {
		fmt.Fprintf(stderr, "rkt: '%s' is not a rkt command. See 'rkt help'.\n\nThe rkt commands are:\n", rest[0])
		listCommands(stderr)
		return nil, exitFailure
	}
	subArgs := rest[1:]
	switch sub.Name {
	case "version":
		printVersion(stdout)
		return nil, exitOK
	case "help":
		if len(subArgs) == 0 {
			PrintUsage(stdout, fs)
			return nil, exitOK
		}
		page, ok := Lookup(subArgs[0])
		if !ok {
			fmt.Fprintf(stderr, "rkt: '%s' is not a rkt command. See 'rkt help'.\n", subArgs[0])
			return nil, exitFailure
		}
		if page.Binary == "" {
			PrintUsage(stdout, fs)
			return nil, exitOK
		}
		sub, subArgs = page, []string{"--help"}
	}
	argv0 := sub.Binary
	if sub.Argv0 != "" {
		argv0 = sub.Argv0
	}
	return &target{
		name:   sub.Name,
		dir:    execDir(g.ExecPath, getenv),
		binary: sub.Binary,
		argv:   append(append([]string{argv0}, globals...), subArgs...),
	}, exitOK
}

// PrintUsage writes the top-level help page.
func PrintUsage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "NAME:\n\trkt - rkt, the application container runner\n\n")
	fmt.Fprintf(w, "USAGE:\n\trkt [global options] <command> [command options] [arguments...]\n\n")
	fmt.Fprintf(w, "VERSION:\n\t%s\n\n", buildinfo.Version)
	fmt.Fprintf(w, "COMMANDS:\n")
	listCommands(w)
	fmt.Fprintf(w, "\nDESCRIPTION:\n\tEach command is its own program, rkt-COMMAND, in the exec path;\n\t'rkt help COMMAND' shows its options.\n")
	fmt.Fprintf(w, "\nGLOBAL OPTIONS:\n%s", fs.FlagUsages())
}

func listCommands(w io.Writer) {
	all := append(append([]Sub{}, Table...), builtins...)
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	width := 0
	for _, s := range all {
		width = max(width, len(s.Name))
	}
	for _, s := range all {
		fmt.Fprintf(w, "\t%-*s  %s\n", width, s.Name, s.Summary)
	}
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "rkt Version: %s\n", buildinfo.Version)
	if buildinfo.Commit != "" {
		fmt.Fprintf(w, "Commit: %s\n", buildinfo.Commit)
	}
	fmt.Fprintf(w, "appc Version: %s\n", buildinfo.AppcVersion)
	fmt.Fprintf(w, "Go Version: %s\n", buildinfo.GoVersion())
	fmt.Fprintf(w, "Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "Features: %s\n", buildinfo.Features)
	fmt.Fprintf(w, "Default stage1 image: %s:%s\n", buildinfo.Stage1Name, buildinfo.DefaultStage1Version())
	fmt.Fprintf(w, "Stage1 images directory: %s\n", buildinfo.Stage1ImagesDir)
	fmt.Fprintf(w, "Stage1 images available: %s\n", flavors())
	fmt.Fprintf(w, "Exec directory: %s\n", buildinfo.ExecDir)
	fmt.Fprintf(w, "System configuration directory: %s\n", buildinfo.SystemConfigDir)
}

// flavors lists the stage1 images present next to the default directory,
// so `rkt version` tells what this installation can run.
func flavors() string {
	matches, _ := filepath.Glob(filepath.Join(buildinfo.Stage1ImagesDir, "stage1-*.aci"))
	var names []string
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "stage1-"), ".aci"))
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
