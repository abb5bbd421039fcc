// Command rkt-run-prepared is `rkt run-prepared`: run a prepared pod. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("run-prepared", "run a prepared pod"))
}
