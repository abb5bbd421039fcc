// Command rkt-list is `rkt list`: list pods. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("list", "list pods"))
}
