// Command rkt-list is `rkt list`: list pods.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podcmd"
)

func main() { cli.Main(podcmd.List()) }
