// Package imagecmd is `rkt image`: list, rm, cat-manifest, export,
// extract, render, gc and verify on the local store.
package imagecmd

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/store"
)

// Command returns the `rkt image` command group.
func Command() *cli.Command {
	return cli.Group("image", "Operate on image(s) in the local store",
		`IMAGE arguments are image IDs (full or a unique prefix such as
sha512-0123456789ab) or names with an optional version (name[:version]);
an ambiguous name means the most recently imported image.`,
		[]*cli.Command{
			listCommand(), rmCommand(), catManifestCommand(), exportCommand(),
			extractCommand(), renderCommand(), gcCommand(), verifyCommand(),
		})
}

func openStore(env *cli.Env) (*store.Store, error) {
	root, err := env.DataDir()
	if err != nil {
		return nil, err
	}
	return store.Open(root)
}
