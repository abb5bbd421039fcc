package podcmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/ui"
)

// listed are the places `rkt list` shows (reference CLI-LIST-06): not
// embryos, which are not pods yet, nor never-run garbage.
func listed(p *pod.Pod) bool {
	return p.Place != pod.Embryo && p.Place != pod.Garbage
}

// imageIDLen is how much of an image ID --full shows: "sha512-" and 12
// hex digits (reference CLI-LIST-03).
const imageIDLen = 19

// List returns the `rkt list` command.
func List() *cli.Command {
	var (
		noLegend bool
		full     bool
		format   string
	)
	return &cli.Command{
		Name:    "list",
		Summary: "List pods",
		Usage:   "[--no-legend] [--full] [--format=json|json-pretty]",
		Description: `Displays a table of the pods: one row per app, the pod's UUID, state,
times and networks on its first row. Pods being prepared or deleted show
"-" for their apps. Problems reading single pods are reported on stderr
after the table and do not fail the command.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&noLegend, "no-legend", false, "suppress a legend with the list")
			fs.BoolVar(&full, "full", false, "use long output format: whole UUIDs, image IDs, exact times")
			fs.StringVar(&format, "format", "", "output format: json or json-pretty (default: a table)")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 0 {
				return cli.Usagef("list takes no arguments")
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			all, errs := pod.All(root)
			var pods []*pod.Pod
			for _, p := range all {
				if listed(p) {
					pods = append(pods, p)
				}
			}
			out := bufio.NewWriter(env.Stdout)
			if format == formatTable {
				errs = append(errs, writeTable(out, pods, noLegend, full, time.Now())...)
			} else {
				var objs []*jsonPod
				for _, p := range pods {
					o, err := podObject(p)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					objs = append(objs, o)
				}
				if err := writeJSON(out, objs, format == formatJSONPretty); err != nil {
					return err
				}
			}
			if err := out.Flush(); err != nil {
				return err
			}
			writeErrors(env.Stderr, errs)
			return nil
		},
	}
}

// writeErrors reports the problems met while listing, after the listing,
// the way rkt did (reference CLI-LIST-06).
func writeErrors(w io.Writer, errs []error) {
	if len(errs) == 0 {
		return
	}
	const sep = "----------------------------------------"
	var b strings.Builder
	fmt.Fprintf(&b, "rkt: %d error(s) encountered when listing pods:\n%s\n", len(errs), sep)
	for _, err := range errs {
		fmt.Fprintf(&b, "%v\n%s\n", err, sep)
	}
	fmt.Fprintf(&b, "misc:\n  rkt's appc version: %s\n%s\n", schema.AppContainerVersion, sep)
	io.WriteString(w, b.String())
}

// writeTable prints the table of CLI-LIST-02..05 and returns the per-pod
// problems it met.
func writeTable(w io.Writer, pods []*pod.Pod, noLegend, full bool, now time.Time) []error {
	tw := ui.NewTable(w)
	if !noLegend {
		if full {
			fmt.Fprint(tw, "UUID\tAPP\tIMAGE NAME\tIMAGE ID\tSTATE\tCREATED\tSTARTED\tNETWORKS\n")
		} else {
			fmt.Fprint(tw, "UUID\tAPP\tIMAGE NAME\tSTATE\tCREATED\tSTARTED\tNETWORKS\n")
		}
	}
	var errs []error
	for _, p := range pods {
		rows, perrs := podRows(p, full, now)
		errs = append(errs, perrs...)
		for _, r := range rows {
			cols := []string{r.uuid, r.app, r.image}
			if full {
				cols = append(cols, r.imageID)
			}
			cols = append(cols, r.state, r.created, r.started, r.nets)
			fmt.Fprintln(tw, strings.Join(cols, "\t"))
		}
	}
	tw.Flush()
	return errs
}

type row struct {
	uuid, app, image, imageID, state, created, started, nets string
}

// podRows reads what the table shows of one pod, and no more: its
// manifest, its apps' image manifests (the pod's copies, which outlive
// `image rm`), the stat of two files for its times, and net-info.json for
// a pod that ran.
func podRows(p *pod.Pod, full bool, now time.Time) ([]row, []error) {
	var errs []error
	when := func(t time.Time) string {
		if full {
			return t.Format(ui.LongTime)
		}
		return ui.Ago(t, now)
	}
	first := row{uuid: p.UUID, state: p.State.String()}
	if !full && len(first.uuid) > 8 {
		first.uuid = first.uuid[:8]
	}
	if t, err := p.CreatedAt(); err != nil {
		errs = append(errs, err)
	} else {
		first.created = when(t)
	}
	if t, ok := p.StartedAt(); ok {
		first.started = when(t)
	}
	if showsNets(p.State) {
		nets, err := p.Networks()
		if err != nil {
			errs = append(errs, err)
		}
		first.nets = formatNets(nets)
	}
	var apps []listApp
	if manifestAvailable(p.State) {
		var err error
		if apps, err = readListManifest(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(apps) == 0 {
		first.app, first.image, first.imageID = "-", "-", "-"
		return []row{first}, errs
	}
	rows := make([]row, len(apps))
	for i, a := range apps {
		r := row{app: a.Name}
		if i == 0 {
			r = first
			r.app = a.Name
		}
		name, err := imageName(p, a.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s: image manifest of app %s could not be loaded: %w", p.UUID, a.Name, err))
			name = "--"
		}
		r.image = name
		if full {
			r.imageID = a.Image.ID
			if len(r.imageID) > imageIDLen {
				r.imageID = r.imageID[:imageIDLen]
			}
		}
		rows[i] = r
	}
	return rows, errs
}

// listApp is the part of a pod manifest's app that the table shows. The
// table decodes only this: validated schema.PodManifest and ImageManifest
// values cost about 20µs a pod, near half of what listing it costs
// otherwise; these few fields cost a sixth of that.
type listApp struct {
	Name  string `json:"name"`
	Image struct {
		ID string `json:"id"`
	} `json:"image"`
}

func readListManifest(p *pod.Pod) ([]listApp, error) {
	data, err := readSmallFile(p.Path(stage1abi.PodManifestFile))
	if err != nil {
		return nil, fmt.Errorf("pod %s: reading manifest: %w", p.UUID, err)
	}
	var m struct {
		Apps []listApp `json:"apps"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("pod %s: invalid manifest: %w", p.UUID, err)
	}
	return m.Apps, nil
}

// imageName is IMAGE NAME: the image's name, and ":" and its version
// label if it has one, from the pod's copy of the image manifest.
func imageName(p *pod.Pod, app string) (string, error) {
	// The name becomes a path: it must be an app name, not "../x".
	if _, err := types.NewACName(app); err != nil {
		return "", err
	}
	data, err := readSmallFile(p.Path(filepath.Join(stage1abi.AppsInfoDir, app, stage1abi.AppManifestFile)))
	if err != nil {
		return "", err
	}
	var m struct {
		Name   string `json:"name"`
		Labels []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"labels"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", err
	}
	if m.Name == "" {
		return "", fmt.Errorf("image manifest has no name")
	}
	for _, l := range m.Labels {
		if l.Name == "version" {
			return m.Name + ":" + l.Value, nil
		}
	}
	return m.Name, nil
}
