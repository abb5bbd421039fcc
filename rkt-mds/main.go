// Command rkt-mds is `rkt metadata-service`: run the metadata service. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("metadata-service", "run the metadata service"))
}
