// Command rkt-prepare is `rkt prepare`, and `rkt run` when started as
// rkt-run (the dispatcher does that, and the build links rkt-run to it).
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/preparecmd"
)

func main() {
	if cli.Invoked() == "rkt-run" {
		cli.Main(preparecmd.Run())
	}
	cli.Main(preparecmd.Prepare())
}
