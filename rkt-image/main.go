// Command rkt-image is `rkt image`: operate on image(s) in the local store. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("image", "operate on image(s) in the local store"))
}
