// Package configcmd is `rkt config`: the merged configuration as JSON, in
// the shape rkt printed it (reference CLI-CFG-01).
package configcmd

import (
	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/cli"
)

// Command returns the `rkt config` command.
func Command() *cli.Command {
	var pretty bool
	return &cli.Command{
		Name:    "config",
		Summary: "Print the merged configuration in JSON",
		Usage:   "[--pretty-print=true]",
		Description: `Prints the configuration of the system, local and user configuration
directories merged, as {"stage0": [...]} with one entry per auth domain,
per docker registry, and the effective paths and default stage1.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&pretty, "pretty-print", true, "indent the JSON output")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 0 {
				return cli.Usagef("config takes no arguments")
			}
			cfg, err := env.Config()
			if err != nil {
				return err
			}
			// Show what the commands will use, not only what the files say:
			// --dir beats paths.d, and the build supplies the defaults.
			eff := *cfg
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			eff.Paths.Data = root.Path()
			if eff.Paths.Stage1Images == "" {
				eff.Paths.Stage1Images = buildinfo.Stage1ImagesDir
			}
			if eff.Stage1.Name == "" && eff.Stage1.Location == "" {
				eff.Stage1.Name = buildinfo.Stage1Name
				eff.Stage1.Version = buildinfo.DefaultStage1Version()
			}
			out, err := eff.Render(pretty)
			if err != nil {
				return err
			}
			_, err = env.Stdout.Write(out)
			return err
		},
	}
}
