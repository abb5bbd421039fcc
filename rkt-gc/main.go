// Command rkt-gc is `rkt gc`: garbage collect pods no longer in use. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("gc", "garbage collect pods no longer in use"))
}
