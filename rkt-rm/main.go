// Command rkt-rm is `rkt rm`: remove exited pods.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podctl"
)

func main() { cli.Main(podctl.RmCommand()) }
