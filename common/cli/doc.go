package cli

import "github.com/spf13/pflag"

// OwnFlags returns a new flag set holding c's own options and --help:
// what `rkt help NAME` lists under OPTIONS. The man page, completion and
// docs generators read the flags from here, so what they document is what
// the binary parses.
func OwnFlags(c *Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet("rkt "+c.Name, pflag.ContinueOnError)
	if c.Flags != nil {
		c.Flags(fs)
	}
	// The same help flag Run and runSub add.
	fs.BoolP("help", "h", false, "help for "+c.Name)
	return fs
}

// GlobalFlags returns the global options every command accepts, as `rkt
// help NAME` lists them under GLOBAL OPTIONS.
func GlobalFlags() *pflag.FlagSet { return NewGlobals().FlagSet() }
