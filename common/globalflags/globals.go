package globalflags

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/dirs"
)

// DefaultLocalConfig is the default local configuration directory
// (reference CLI-GLOB-03). The system one (CLI-GLOB-02) is fixed at build
// time: buildinfo.SystemConfigDir.
const DefaultLocalConfig = "/etc/rkt"

// Globals are the options every rkt binary accepts, before or after the
// subcommand name (reference §1.1).
type Globals struct {
	Dir                string
	SystemConfig       string
	LocalConfig        string
	UserConfig         string
	Debug              bool
	Insecure           Insecure
	TrustKeysFromHTTPS bool
	ExecPath           string
	CPUProfile         string
	MemProfile         string

	flags *pflag.FlagSet
}

// New returns Globals with rkt's defaults and a flag set bound to them.
func New() *Globals {
	g := &Globals{}
	fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	fs.StringVar(&g.Dir, "dir", dirs.DefaultDataDir, "rkt data directory")
	fs.StringVar(&g.SystemConfig, "system-config", buildinfo.SystemConfigDir, "system configuration directory")
	fs.StringVar(&g.LocalConfig, "local-config", DefaultLocalConfig, "local configuration directory")
	fs.StringVar(&g.UserConfig, "user-config", "", "user configuration directory")
	fs.BoolVar(&g.Debug, "debug", false, "print out more debug information to stderr")
	fs.Var(&g.Insecure, "insecure-options", "comma-separated list of security features to disable: "+strings.Join(ValidInsecureOptions(), ","))
	fs.BoolVar(&g.TrustKeysFromHTTPS, "trust-keys-from-https", false, "automatically trust gpg keys fetched from https")
	fs.StringVar(&g.ExecPath, "exec-path", "", "directory of the rkt-SUB binaries (default $RKT_EXEC_PATH, then the build-time directory)")
	fs.StringVar(&g.CPUProfile, "cpuprofile", "", "write CPU profile to the file")
	fs.StringVar(&g.MemProfile, "memprofile", "", "write memory profile to the file")
	for _, hidden := range []string{"cpuprofile", "memprofile"} {
		_ = fs.MarkHidden(hidden)
	}
	g.flags = fs
	return g
}

// FlagSet returns the flag set bound to g.
func (g *Globals) FlagSet() *pflag.FlagSet { return g.flags }

// DirSet reports whether --dir was given, which beats paths.d.
func (g *Globals) DirSet() bool { return g.flags.Changed("dir") }

// ConfigDirs returns the configuration directories in increasing precedence.
func (g *Globals) ConfigDirs() []string {
	return []string{g.SystemConfig, g.LocalConfig, g.UserConfig}
}
