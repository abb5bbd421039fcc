// Command init is the native stage1's pod supervisor (package
// supervisor), installed at /init in the stage1 image.
package main

import (
	"os"

	"github.com/rkt/rkt/stage1/native/supervisor"
)

func main() {
	os.Exit(supervisor.Main(os.Args))
}
