// Command rkt-run-prepared is `rkt run-prepared`: it starts a prepared
// pod by exec'ing its stage1.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/runpreparedcmd"
)

func main() { cli.Main(runpreparedcmd.RunPrepared()) }
