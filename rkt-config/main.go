// Command rkt-config is `rkt config`: it prints the merged configuration.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/configcmd"
)

func main() { cli.Main(configcmd.Command()) }
