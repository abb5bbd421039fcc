// Package podspec turns the command line of `rkt run` and `rkt prepare`
// into an appc pod manifest: the image/app grammar, the per-app flags,
// volumes, ports, environment precedence and isolators.
package podspec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
)

// ErrArgs marks errors in the run/prepare argument grammar.
var ErrArgs = errors.New("invalid arguments")

// App is one image argument with the flags that followed it.
type App struct {
	Image             string
	Name              string
	Exec              string
	Args              []string
	HasArgs           bool
	Signature         string
	User, Group       string
	SupplementaryGIDs []int
	WorkingDir        string
	ReadOnlyRootfs    bool
	Mounts            []string
	Memory, CPU       string
	CPUShares         *int
	OOMScoreAdj       *int
	CapsRetain        string
	CapsRemove        string
	Seccomp           string
	Environment       []string
	Annotations       []string
	UserAnnotations   []string
	UserLabels        []string
}

// appFlags binds the per-app flags (reference CLI-APP-*) to a.
func appFlags(a *App) *pflag.FlagSet {
	fs := pflag.NewFlagSet("app", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.StringVar(&a.Name, "name", "", "")
	fs.StringVar(&a.Exec, "exec", "", "")
	fs.StringVar(&a.Signature, "signature", "", "")
	fs.StringVar(&a.User, "user", "", "")
	fs.StringVar(&a.Group, "group", "", "")
	fs.StringVar(&a.WorkingDir, "working-dir", "", "")
	fs.BoolVar(&a.ReadOnlyRootfs, "readonly-rootfs", false, "")
	cli.StringArrayVar(fs, &a.Mounts, "mount", "")
	fs.StringVar(&a.Memory, "memory", "", "")
	fs.StringVar(&a.CPU, "cpu", "", "")
	fs.Var(intPtr{&a.CPUShares}, "cpu-shares", "")
	fs.Var(intPtr{&a.OOMScoreAdj}, "oom-score-adj", "")
	fs.StringVar(&a.CapsRetain, "caps-retain", "", "")
	fs.StringVar(&a.CapsRemove, "caps-remove", "", "")
	fs.StringVar(&a.CapsRetain, "cap-retain", "", "")
	fs.StringVar(&a.CapsRemove, "cap-remove", "", "")
	fs.StringVar(&a.Seccomp, "seccomp", "", "")
	cli.StringArrayVar(fs, &a.Environment, "environment", "")
	cli.StringArrayVar(fs, &a.Annotations, "annotation", "")
	cli.StringArrayVar(fs, &a.UserAnnotations, "user-annotation", "")
	cli.StringArrayVar(fs, &a.UserLabels, "user-label", "")
	fs.Var(gidList{&a.SupplementaryGIDs}, "supplementary-gids", "")
	return fs
}

// AppFlagNames lists the per-app flags, for help texts.
const AppFlagNames = "--name --exec --signature --user --group --supplementary-gids --working-dir --readonly-rootfs --mount --memory --cpu --cpu-shares --oom-score-adj --caps-retain --caps-remove --seccomp --environment --annotation --user-annotation --user-label"

// ParseApps reads `IMAGE [app flags] [-- args... [---]] IMAGE2 ...`
// (reference CLI-GEN-11): flags after an image apply to it; `--` starts
// its arguments and `---` ends them.
func ParseApps(args []string) ([]*App, error) {
	var apps []*App
	for len(args) > 0 {
		img := args[0]
		if img == "--" || img == "---" {
			return nil, fmt.Errorf("%w: %q before an image", ErrArgs, img)
		}
		if strings.HasPrefix(img, "-") {
			return nil, fmt.Errorf("%w: unexpected flag %q", ErrArgs, img)
		}
		a := &App{Image: img}
		fs := appFlags(a)
		if err := fs.Parse(args[1:]); err != nil {
			return nil, fmt.Errorf("%w: image %s: %v", ErrArgs, img, err)
		}
		rest := fs.Args()
		if fs.ArgsLenAtDash() == 0 {
			a.HasArgs = true
			end := len(rest)
			for i, r := range rest {
				if r == "---" {
					end = i
					break
				}
			}
			a.Args = append([]string{}, rest[:end]...)
			rest = rest[end:]
			if len(rest) > 0 {
				rest = rest[1:] // "---"
			}
		}
		if fs.ArgsLenAtDash() > 0 {
			return nil, fmt.Errorf("%w: image %s: unexpected %q before --", ErrArgs, img, rest[0])
		}
		if a.CapsRetain != "" && a.CapsRemove != "" {
			return nil, fmt.Errorf("%w: image %s: --caps-retain and --caps-remove are mutually exclusive", ErrArgs, img)
		}
		apps = append(apps, a)
		args = rest
	}
	return apps, nil
}

// intPtr is an optional int flag.
type intPtr struct{ p **int }

func (v intPtr) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.Itoa(**v.p)
}
func (v intPtr) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*v.p = &n
	return nil
}
func (v intPtr) Type() string { return "int" }

// gidList is --supplementary-gids: integers only.
type gidList struct{ p *[]int }

func (v gidList) String() string { return fmt.Sprint(*v.p) }
func (v gidList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("supplementary gid %q is not a non-negative integer", f)
		}
		*v.p = append(*v.p, n)
	}
	return nil
}
func (v gidList) Type() string { return "gids" }
