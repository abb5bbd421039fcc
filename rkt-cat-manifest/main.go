// Command rkt-cat-manifest is `rkt cat-manifest`: inspect and print the pod manifest. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("cat-manifest", "inspect and print the pod manifest"))
}
