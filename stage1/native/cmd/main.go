// Command native is the native stage1's one binary: installed at /native
// in the stage1 image, with /run, /enter, /gc and /stop symlinked to it,
// it runs the entrypoint it is invoked as (see package native).
package main

import (
	"os"

	"github.com/rkt/rkt/stage1/native"
)

func main() {
	os.Exit(native.Main(os.Args))
}
