// Command rkt-api is `rkt api-service`: rkt's read-only gRPC API service.
// It is unprivileged and changes nothing on disk.
package main

import (
	"github.com/rkt/rkt/common/apiservice"
	"github.com/rkt/rkt/common/cli"
)

func main() {
	cli.Main(apiservice.Command())
}
