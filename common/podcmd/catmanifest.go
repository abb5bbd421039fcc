package podcmd

import (
	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podmanifest"
)

// CatManifest returns the `rkt cat-manifest` command (reference
// CLI-CAT-01).
func CatManifest() *cli.Command {
	var (
		pretty   bool
		uuidFile string
	)
	return &cli.Command{
		Name:    "cat-manifest",
		Summary: "Inspect and print the pod manifest",
		Usage:   "[--pretty-print=true] (--uuid-file=FILE | UUID)",
		Description: `Prints the pod manifest of the pod: tab-indented JSON, or one line
with --pretty-print=false.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&pretty, "pretty-print", true, "apply indent to format the output")
			fs.StringVar(&uuidFile, "uuid-file", "", "read the pod UUID from this file instead of an argument")
		},
		Run: func(env *cli.Env, args []string) error {
			p, err := podArg(env, uuidFile, args, cli.ExitFailure)
			if err != nil {
				return err
			}
			m, _, err := podmanifest.Read(p)
			if err != nil {
				return err
			}
			return writeJSON(env.Stdout, m, pretty)
		},
	}
}
