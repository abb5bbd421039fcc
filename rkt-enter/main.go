// Command rkt-enter is `rkt enter`: enter the namespaces of an app within a pod. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("enter", "enter the namespaces of an app within a pod"))
}
