// Command rkt-image is `rkt image`: operations on the local image store.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/imagecmd"
)

func main() { cli.Main(imagecmd.Command()) }
