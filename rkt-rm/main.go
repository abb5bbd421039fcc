// Command rkt-rm is `rkt rm`: remove an exited pod. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("rm", "remove an exited pod"))
}
