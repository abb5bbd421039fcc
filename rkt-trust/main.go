// Command rkt-trust is `rkt trust`: it adds public keys to the local trust
// store for image signature verification.
package main

import (
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/trustcmd"
)

func main() { cli.Main(trustcmd.Command()) }
