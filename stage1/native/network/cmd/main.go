// Command net is the native stage1's network helper, installed at /net
// in the stage1 image: `run` and `gc` start it to set up and tear down a
// pod's CNI networks (see package network).
package main

import (
	"os"

	"github.com/rkt/rkt/stage1/native/network"
)

func main() {
	os.Exit(network.Main(os.Stdin, os.Stdout))
}
