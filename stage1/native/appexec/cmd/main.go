// Command app-exec is the native stage1's app-exec helper (package
// appexec), installed at /app-exec in the stage1 image.
package main

import (
	"os"

	"github.com/rkt/rkt/stage1/native/appexec"
)

func main() {
	os.Exit(appexec.Main())
}
