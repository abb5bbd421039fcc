// Command rkt-export is `rkt export`: export an app from an exited pod to an ACI file.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podctl"
)

func main() { cli.Main(podctl.ExportCommand()) }
