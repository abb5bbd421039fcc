// Command rkt-stop is `rkt stop`: stop a pod. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("stop", "stop a pod"))
}
