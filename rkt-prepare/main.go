// Command rkt-prepare is `rkt prepare`, and `rkt run` when started as
// rkt-run. Its feature is not built yet; it says so and fails rather than
// pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	if cli.Invoked() == "rkt-run" {
		cli.Main(cli.NotImplemented("run", "run image(s) in a pod"))
	}
	cli.Main(cli.NotImplemented("prepare", "prepare to run image(s) in a pod"))
}
