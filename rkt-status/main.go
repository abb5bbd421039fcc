// Command rkt-status is `rkt status`: check the status of a pod.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podcmd"
)

func main() { cli.Main(podcmd.Status()) }
