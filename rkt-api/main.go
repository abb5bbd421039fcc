// Command rkt-api is `rkt api-service`: run the read-only API service. Its feature is not built yet; it says so
// and fails rather than pretend.
package main

import "github.com/rkt/rkt/common/cli"

func main() {
	cli.Main(cli.NotImplemented("api-service", "run the read-only API service"))
}
