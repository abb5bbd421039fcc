// Command rkt-stop is `rkt stop`: stop pods.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podctl"
)

func main() { cli.Main(podctl.StopCommand()) }
