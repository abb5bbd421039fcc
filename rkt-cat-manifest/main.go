// Command rkt-cat-manifest is `rkt cat-manifest`: print a pod's manifest.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podcmd"
)

func main() { cli.Main(podcmd.CatManifest()) }
