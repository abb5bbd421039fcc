// Command rkt is the dispatcher: `rkt SUB ARGS...` execs rkt-SUB from the
// exec path with ARGS unchanged.
package main

import (
	"os"

	"github.com/rkt/rkt/common/dispatch"
)

func main() {
	os.Exit(dispatch.Main(os.Args[1:], os.Stdout, os.Stderr))
}
