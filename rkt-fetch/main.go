// Command rkt-fetch is `rkt fetch`: fetch image(s) and store them in the local store. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("fetch", "fetch image(s) and store them in the local store"))
}
