// Command rkt-enter is `rkt enter`: enter the namespaces of an app within a pod.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/podctl"
)

func main() { cli.Main(podctl.EnterCommand()) }
