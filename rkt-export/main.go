// Command rkt-export is `rkt export`: export an app from an exited pod to an ACI file. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("export", "export an app from an exited pod to an ACI file"))
}
