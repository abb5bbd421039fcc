// Command rkt-fetch is `rkt fetch`: the only rkt program with network
// image-fetching code. It runs unprivileged (group rkt) or as root.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/fetchcmd"
)

func main() { cli.Main(fetchcmd.Command()) }
