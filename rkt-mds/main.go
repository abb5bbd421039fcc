// Command rkt-mds is `rkt metadata-service`: the metadata service
// (reference §8).
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/mdscmd"
)

func main() { cli.Main(mdscmd.Command()) }
