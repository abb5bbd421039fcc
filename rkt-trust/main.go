// Command rkt-trust is `rkt trust`: trust a key for image verification. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("trust", "trust a key for image verification"))
}
