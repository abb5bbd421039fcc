// Command rkt-gc is `rkt gc`: garbage collect pods no longer in use.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podctl"
)

func main() { cli.Main(podctl.GCCommand()) }
