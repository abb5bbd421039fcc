package stage1abi

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// RunArgs are the arguments of the stage1 `run` entrypoint (reference
// S1-RUN-01). Args builds the argv for an interface version; ParseRunArgs
// is what a stage1 uses to read it back.
type RunArgs struct {
	Debug                          bool
	Net                            string // comma list with per-net args, as --net was given; "" means default
	Interactive                    bool
	PrivateUsers                   string // SHIFT:COUNT
	MDSToken                       string
	LocalConfig                    string
	Hostname                       string // v2+
	DNSConfMode                    string // v4+: resolv=...,hosts=...
	DisableCapabilitiesRestriction bool   // v3+
	DisablePaths                   bool   // v3+
	DisableSeccomp                 bool   // v3+
	Mutable                        bool   // v5+
	IPC                            string // v6+: auto, private, parent
	UUID                           string
}

// Dropped is a flag left out because the stage1's interface is too old.
type Dropped struct{ Flag string }

func (d Dropped) String() string {
	return fmt.Sprintf("stage1 does not support %s, ignoring it", d.Flag)
}

// Args returns the argv (without argv[0]) for a stage1 of interface
// version v, and the flags that version cannot take.
func (a *RunArgs) Args(v int) ([]string, []Dropped) {
	var out []string
	var dropped []Dropped
	add := func(min int, set bool, flag string) {
		if !set {
			return
		}
		if v < min {
			dropped = append(dropped, Dropped{strings.SplitN(flag, "=", 2)[0]})
			return
		}
		out = append(out, flag)
	}
	add(1, a.Debug, "--debug")
	net := a.Net
	if net == "" {
		net = "default"
	}
	out = append(out, "--net="+net)
	add(1, a.Interactive, "--interactive")
	add(1, a.PrivateUsers != "", "--private-users="+a.PrivateUsers)
	add(1, a.MDSToken != "", "--mds-token="+a.MDSToken)
	add(1, a.LocalConfig != "", "--local-config="+a.LocalConfig)
	add(2, a.Hostname != "", "--hostname="+a.Hostname)
	add(4, a.DNSConfMode != "", "--dns-conf-mode="+a.DNSConfMode)
	add(3, a.DisableCapabilitiesRestriction, "--disable-capabilities-restriction")
	add(3, a.DisablePaths, "--disable-paths")
	add(3, a.DisableSeccomp, "--disable-seccomp")
	add(5, a.Mutable, "--mutable")
	add(6, a.IPC != "", "--ipc="+a.IPC)
	return append(out, a.UUID), dropped
}

// ParseRunArgs reads a `run` argv (without argv[0]).
func ParseRunArgs(argv []string) (*RunArgs, error) {
	a := &RunArgs{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.BoolVar(&a.Debug, "debug", false, "")
	fs.StringVar(&a.Net, "net", "default", "")
	fs.BoolVar(&a.Interactive, "interactive", false, "")
	fs.StringVar(&a.PrivateUsers, "private-users", "", "")
	fs.StringVar(&a.MDSToken, "mds-token", "", "")
	fs.StringVar(&a.LocalConfig, "local-config", "", "")
	fs.StringVar(&a.Hostname, "hostname", "", "")
	fs.StringVar(&a.DNSConfMode, "dns-conf-mode", "", "")
	fs.BoolVar(&a.DisableCapabilitiesRestriction, "disable-capabilities-restriction", false, "")
	fs.BoolVar(&a.DisablePaths, "disable-paths", false, "")
	fs.BoolVar(&a.DisableSeccomp, "disable-seccomp", false, "")
	fs.BoolVar(&a.Mutable, "mutable", false, "")
	fs.StringVar(&a.IPC, "ipc", "", "")
	if err := fs.Parse(argv); err != nil {
		return nil, fmt.Errorf("stage1 run arguments: %w", err)
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("stage1 run arguments: want exactly one UUID, got %q", fs.Args())
	}
	a.UUID = fs.Arg(0)
	return a, nil
}

// EnterArgs are the arguments of the `enter` entrypoint (S1-ENTER).
type EnterArgs struct {
	PID     int
	AppName string
	Command []string
}

// Args returns the argv (without argv[0]).
func (a *EnterArgs) Args() []string {
	return append([]string{fmt.Sprintf("--pid=%d", a.PID), "--appname=" + a.AppName, "--"}, a.Command...)
}

// ParseEnterArgs reads an `enter` argv.
func ParseEnterArgs(argv []string) (*EnterArgs, error) {
	a := &EnterArgs{}
	fs := pflag.NewFlagSet("enter", pflag.ContinueOnError)
	fs.IntVar(&a.PID, "pid", 0, "")
	fs.StringVar(&a.AppName, "appname", "", "")
	if err := fs.Parse(argv); err != nil {
		return nil, fmt.Errorf("stage1 enter arguments: %w", err)
	}
	if a.PID <= 0 {
		return nil, fmt.Errorf("stage1 enter arguments: --pid is required")
	}
	a.Command = fs.Args()
	return a, nil
}

// GCArgs are the arguments of the `gc` entrypoint (S1-GC).
type GCArgs struct {
	Debug       bool
	LocalConfig string // v5+
	UUID        string
}

// Args returns the argv for interface version v.
func (a *GCArgs) Args(v int) []string {
	var out []string
	if a.Debug {
		out = append(out, "--debug")
	}
	if a.LocalConfig != "" && v >= 5 {
		out = append(out, "--local-config="+a.LocalConfig)
	}
	return append(out, a.UUID)
}

// ParseGCArgs reads a `gc` argv.
func ParseGCArgs(argv []string) (*GCArgs, error) {
	a := &GCArgs{}
	fs := pflag.NewFlagSet("gc", pflag.ContinueOnError)
	fs.BoolVar(&a.Debug, "debug", false, "")
	fs.StringVar(&a.LocalConfig, "local-config", "", "")
	if err := fs.Parse(argv); err != nil {
		return nil, fmt.Errorf("stage1 gc arguments: %w", err)
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("stage1 gc arguments: want exactly one UUID")
	}
	a.UUID = fs.Arg(0)
	return a, nil
}

// StopArgs are the arguments of the `stop` entrypoint (S1-STOP).
type StopArgs struct {
	Force bool
	UUID  string
}

// Args returns the argv.
func (a *StopArgs) Args() []string {
	if a.Force {
		return []string{"--force", a.UUID}
	}
	return []string{a.UUID}
}

// ParseStopArgs reads a `stop` argv.
func ParseStopArgs(argv []string) (*StopArgs, error) {
	a := &StopArgs{}
	fs := pflag.NewFlagSet("stop", pflag.ContinueOnError)
	fs.BoolVar(&a.Force, "force", false, "")
	if err := fs.Parse(argv); err != nil {
		return nil, fmt.Errorf("stage1 stop arguments: %w", err)
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("stage1 stop arguments: want exactly one UUID")
	}
	a.UUID = fs.Arg(0)
	return a, nil
}
