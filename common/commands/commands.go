// Package commands holds every rkt subcommand's definition, keyed by the
// name the dispatcher knows it by. The rkt-SUB binaries each import only
// their own; this index is for the build-time generators of man pages,
// docs and shell completion (dist/gendocs), which must see them all.
// Nothing installed links it.
package commands

import (
	"sort"

	"github.com/rkt/rkt/common/apiservice"
	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/configcmd"
	"github.com/rkt/rkt/common/fetchcmd"
	"github.com/rkt/rkt/common/imagecmd"
	"github.com/rkt/rkt/common/mdscmd"
	"github.com/rkt/rkt/common/podcmd"
	"github.com/rkt/rkt/common/podctl"
	"github.com/rkt/rkt/common/preparecmd"
	"github.com/rkt/rkt/common/runpreparedcmd"
	"github.com/rkt/rkt/common/trustcmd"
)

// constructors maps each dispatcher name (common/dispatch.Table) to the
// function its binary's main calls. A test keeps the two in step.
var constructors = map[string]func() *cli.Command{
	"api-service":      apiservice.Command,
	"cat-manifest":     podcmd.CatManifest,
	"config":           configcmd.Command,
	"enter":            podctl.EnterCommand,
	"export":           podctl.ExportCommand,
	"fetch":            fetchcmd.Command,
	"gc":               podctl.GCCommand,
	"image":            imagecmd.Command,
	"list":             podcmd.List,
	"metadata-service": mdscmd.Command,
	"prepare":          preparecmd.Prepare,
	"rm":               podctl.RmCommand,
	"run":              preparecmd.Run,
	"run-prepared":     runpreparedcmd.RunPrepared,
	"status":           podcmd.Status,
	"stop":             podctl.StopCommand,
	"trust":            trustcmd.Command,
}

// All returns a fresh definition of every subcommand, sorted by name.
func All() []*cli.Command {
	names := Names()
	out := make([]*cli.Command, 0, len(names))
	for _, n := range names {
		out = append(out, constructors[n]())
	}
	return out
}

// Names returns the subcommand names, sorted.
func Names() []string {
	out := make([]string, 0, len(constructors))
	for n := range constructors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
