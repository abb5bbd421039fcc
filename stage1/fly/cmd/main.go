// Command fly is the fly stage1's one binary: installed at /fly in the
// stage1 image, with /run, /enter, /gc and /stop symlinked to it, it runs
// the entrypoint it is invoked as (see package fly).
package main

import (
	"os"

	"github.com/rkt/rkt/stage1/fly"
)

func main() {
	os.Exit(fly.Main(os.Args))
}
