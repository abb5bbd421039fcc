// Package podcmd is the unprivileged commands that read pods: `rkt list`,
// `rkt status` and `rkt cat-manifest` (reference §1.4, §1.5, CLI-CAT-01).
// They never take a lock that a running pod could notice: the state of a
// pod is probed with a non-blocking shared flock(2) that is dropped at
// once (pod.Find), and everything else is plain reads of the pod
// directory.
package podcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/pod"
)

// Output formats of --format (reference CLI-LIST-07, CLI-STAT-05).
const (
	formatTable      = ""
	formatJSON       = "json"
	formatJSONPretty = "json-pretty"
)

func checkFormat(f string) error {
	switch f {
	case formatTable, formatJSON, formatJSONPretty:
		return nil
	}
	return cli.Usagef("format must be json or json-pretty, not %q", f)
}

// writeJSON prints v as one line, or tab-indented when pretty, followed
// by a newline.
func writeJSON(w io.Writer, v any, pretty bool) error {
	var data []byte
	var err error
	if pretty {
		data, err = json.MarshalIndent(v, "", "\t")
	} else {
		data, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// podArg resolves the pod a command is about: --uuid-file=F or exactly
// one UUID argument, never both (reference CLI-GEN-05, CLI-GEN-06). A
// uuid-file that cannot be read ends the command with fileExit: status
// and stop exit 1 there, the other commands 254 (CLI-GEN-03).
func podArg(env *cli.Env, uuidFile string, args []string, fileExit int) (*pod.Pod, error) {
	var arg string
	switch {
	case uuidFile != "" && len(args) != 0:
		return nil, cli.Usagef("give either --uuid-file or a UUID, not both")
	case uuidFile != "":
		id, err := pod.ReadUUIDFile(uuidFile)
		if err != nil {
			return nil, &cli.ExitError{Code: fileExit, Err: err}
		}
		arg = id
	case len(args) == 1:
		arg = args[0]
	default:
		return nil, cli.Usagef("expected one pod UUID (or --uuid-file)")
	}
	root, err := env.DataDir()
	if err != nil {
		return nil, err
	}
	p, err := pod.Lookup(root, arg)
	if err != nil {
		return nil, err
	}
	// Names match pods in prepare, prepared, run and exited-garbage only
	// (CLI-GEN-05), also when given in full.
	if p.Place == pod.Embryo || p.Place == pod.Garbage {
		return nil, fmt.Errorf("%w for %q", pod.ErrNoMatch, strings.ToLower(strings.TrimSpace(arg)))
	}
	return p, nil
}

// formatNets renders the networks column and status line:
// "name:ip4=IP" joined by ", " (reference CLI-LIST-05).
func formatNets(nets []pod.NetInfo) string {
	parts := make([]string, len(nets))
	for i, n := range nets {
		parts[i] = n.NetName + ":ip4=" + n.IP
	}
	return strings.Join(parts, ", ")
}

// showsNets reports whether a pod in state s has networks worth showing:
// only a pod that ran and has not been marked by gc.
func showsNets(s pod.State) bool {
	return s == pod.StateRunning || s == pod.StateExited
}

// manifestAvailable reports whether a pod in state s has a complete
// manifest to read: not while it is being prepared or deleted, nor after
// its prepare died (reference CLI-LIST-04).
func manifestAvailable(s pod.State) bool {
	switch s {
	case pod.StateEmbryo, pod.StatePreparing, pod.StateAbortedPrepare, pod.StateDeleting:
		return false
	}
	return true
}
