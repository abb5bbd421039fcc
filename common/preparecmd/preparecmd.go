// Package preparecmd is `rkt prepare`, `rkt run` and `rkt run-prepared`.
package preparecmd

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dispatch"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/podspec"
	"github.com/rkt/rkt/common/prepare"
	"github.com/rkt/rkt/common/runpreparedcmd"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/userns"
)

// prepFlags are the flags prepare and run share (reference CLI-PREP-01).
type prepFlags struct {
	pod          podspec.Pod
	podManifest  string
	pullPolicy   string
	storeOnly    bool
	noStore      bool
	noOverlay    bool
	privateUsers bool
	stage1       prepare.Stage1Flags
	quiet        bool
	uuidFileSave string
}

func (f *prepFlags) register(fs *pflag.FlagSet) {
	cli.StringArrayVar(fs, &f.pod.Volumes, "volume", "pod volume: NAME,kind=host,source=PATH[,readOnly=BOOL][,recursive=BOOL] or NAME,kind=empty[,mode=0755][,uid=0][,gid=0]")
	cli.StringArrayVar(fs, &f.pod.Ports, "port", "expose a port of an app: NAME:[HOSTIP:]HOSTPORT")
	cli.StringArrayVar(fs, &f.pod.Mounts, "mount", "mount a volume in every app: volume=NAME,target=PATH (after an image: that app only)")
	fs.BoolVar(&f.pod.InheritEnv, "inherit-env", false, "give the apps rkt's environment (never overriding theirs)")
	cli.StringArrayVar(fs, &f.pod.SetEnv, "set-env", "an environment variable for all apps: NAME=VALUE")
	fs.StringVar(&f.pod.SetEnvFile, "set-env-file", "", "a file of NAME=VALUE lines for all apps")
	fs.StringVar(&f.podManifest, "pod-manifest", "", "run this appc pod manifest instead of images from the command line")
	fs.StringVar(&f.pullPolicy, "pull-policy", "new", "when to fetch images: never, new or update")
	fs.BoolVar(&f.storeOnly, "store-only", false, "same as --pull-policy=never")
	fs.BoolVar(&f.noStore, "no-store", false, "same as --pull-policy=update")
	_ = fs.MarkDeprecated("store-only", "use --pull-policy=never")
	_ = fs.MarkDeprecated("no-store", "use --pull-policy=update")
	fs.BoolVar(&f.noOverlay, "no-overlay", false, "copy the image trees instead of mounting them with overlayfs")
	fs.BoolVar(&f.privateUsers, "private-users", false, "run the pod in a user namespace: ids 0-65535 of the pod are a range of host ids no other pod has (native stage1)")
	fs.StringVar(&f.stage1.URL, "stage1-url", "", "stage1 image by URL")
	fs.StringVar(&f.stage1.Path, "stage1-path", "", "stage1 image by path")
	fs.StringVar(&f.stage1.Name, "stage1-name", "", "stage1 image by name in the store")
	fs.StringVar(&f.stage1.Hash, "stage1-hash", "", "stage1 image by ID in the store")
	fs.StringVar(&f.stage1.FromDir, "stage1-from-dir", "", "stage1 image file in the stage1 images directory")
	fs.StringVar(&f.uuidFileSave, "uuid-file-save", "", "write the pod UUID to this file")
}

// options checks the flags and makes the prepare options.
func (f *prepFlags) options(env *cli.Env, args []string) (prepare.Options, error) {
	var o prepare.Options
	if f.storeOnly && f.noStore {
		return o, cli.Usagef("--store-only and --no-store are mutually exclusive")
	}
	if f.storeOnly {
		f.pullPolicy = "never"
	} else if f.noStore {
		f.pullPolicy = "update"
	}
	switch f.pullPolicy {
	case "never", "new", "update":
	default:
		return o, cli.Usagef("invalid pull policy %q: must be never, new or update", f.pullPolicy)
	}
	if env.Flags.ArgsLenAtDash() >= 0 {
		return o, cli.Usagef("-- must follow an image: IMAGE [app flags] [-- app args]")
	}
	apps, err := podspec.ParseApps(args)
	if err != nil {
		return o, err
	}
	if f.podManifest != "" {
		changed := func(n string) bool { return env.Flags.Changed(n) }
		if len(apps) > 0 || len(f.pod.Volumes) > 0 || len(f.pod.Mounts) > 0 || len(f.pod.Ports) > 0 ||
			f.pullPolicy != "new" || f.pod.InheritEnv || changed("set-env") || changed("set-env-file") {
			return o, fmt.Errorf("conflicting flags set with --pod-manifest (only --net, --no-overlay, --interactive, DNS and hostname flags may be given)")
		}
	} else if len(apps) == 0 {
		return o, cli.Usagef("no image given")
	}
	root, err := env.DataDir()
	if err != nil {
		return o, err
	}
	cfg, err := env.Config()
	if err != nil {
		return o, err
	}
	return prepare.Options{
		Root: root, Globals: env.Globals, Config: cfg, Pod: f.pod, Apps: apps,
		PodManifest: f.podManifest, PullPolicy: f.pullPolicy, NoOverlay: f.noOverlay,
		PrivateUsers: f.privateUsers, Stage1: f.stage1, UUIDFileSave: f.uuidFileSave, Stderr: env.Stderr,
	}, nil
}

// allocateIDs gives a --private-users pod its id range and records it
// in the pod (reference PODF-09). On failure the pod stays in prepare/
// for gc, which frees a range already taken.
func (f *prepFlags) allocateIDs(o prepare.Options, p *pod.Pod) error {
	if !f.privateUsers {
		return nil
	}
	r, err := userns.Allocate(o.Root, p.UUID)
	if err != nil {
		return fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	if err := os.WriteFile(p.Path(stage1abi.PrivateUsersFile), []byte(r.String()), 0o640); err != nil {
		_ = userns.Free(o.Root, p.UUID, r)
		return fmt.Errorf("pod %s: recording its id range: %w", p.UUID, err)
	}
	return nil
}

// Prepare returns the `rkt prepare` command.
func Prepare() *cli.Command {
	var f prepFlags
	return &cli.Command{
		Name:           "prepare",
		Summary:        "Prepare to run image(s) in a pod",
		Usage:          "[flags] IMAGE [app flags] [-- app args [---]] [IMAGE ...]",
		Description:    appHelp,
		NeedsRoot:      true,
		StopAtFirstArg: true,
		Flags: func(fs *pflag.FlagSet) {
			f.register(fs)
			fs.BoolVar(&f.quiet, "quiet", false, "print only the UUID")
		},
		Run: func(env *cli.Env, args []string) error {
			o, err := f.options(env, args)
			if err != nil {
				return err
			}
			p, err := prepare.Prepare(o)
			if err != nil {
				return err
			}
			defer p.Close()
			if err := f.allocateIDs(o, p); err != nil {
				return err
			}
			if err := p.MoveTo(pod.Prepared); err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, p.UUID)
			return nil
		},
	}
}

const appHelp = `IMAGE is an image ID, a name (found in the store, else fetched), a
file path, a URL, docker://REF, oci-layout:PATH[:REF], oci-archive:PATH[:REF]
or docker-archive:PATH[:REF] (fetched by rkt-fetch). Flags after an image
apply to that app: ` + podspec.AppFlagNames + `.
Arguments after -- are added to the app's command, up to --- or the end;
for a Docker or OCI image they replace its CMD, and --exec replaces its
ENTRYPOINT (and drops the CMD).`

// Run returns the `rkt run` command: prepare, then run-prepared with the
// pod's lock held throughout (Prepare → Run, never Prepared).
func Run() *cli.Command {
	var f prepFlags
	var r runpreparedcmd.RunFlags
	return &cli.Command{
		Name:           "run",
		Summary:        "Run image(s) in a pod",
		Usage:          "[flags] IMAGE [app flags] [-- app args [---]] [IMAGE ...]",
		Description:    appHelp + "\nrkt run exits with the status of the pod's app.",
		NeedsRoot:      true,
		StopAtFirstArg: true,
		Flags: func(fs *pflag.FlagSet) {
			f.register(fs)
			r.Register(fs)
		},
		Run: func(env *cli.Env, args []string) error {
			o, err := f.options(env, args)
			if err != nil {
				return err
			}
			if _, err := r.Stage1Args(env, max(len(o.Apps), 1)); err != nil {
				return err
			}
			// The pod's id range and start plan are made while the
			// trees' checks run.
			var plan string
			o.Written = func(p *pod.Pod, m *pod.Outline) error {
				if err := f.allocateIDs(o, p); err != nil {
					return err
				}
				plan, err = r.WritePlan(env, p, m)
				return err
			}
			p, err := prepare.Prepare(o)
			if err != nil {
				return err
			}
			fd, err := p.LockFD()
			if err != nil {
				return err
			}
			return execRunPrepared(env, p.UUID, fd, plan, env.Flags)
		},
	}
}

// execRunPrepared hands the locked pod to rkt-run-prepared with the run
// flags as given, and the path of its start plan (if any) first, where
// rkt-run-prepared's fast path looks for it.
func execRunPrepared(env *cli.Env, uuid string, fd int, plan string, fs *pflag.FlagSet) error {
	bin, err := dispatch.Binary(dispatch.ExecDir(env.Globals.ExecPath), "rkt-run-prepared")
	if err != nil {
		return err
	}
	argv := []string{"rkt-run-prepared"}
	if plan != "" {
		argv = append(argv, "--run-plan="+plan)
	}
	argv = append(argv, "--lock-fd="+strconv.Itoa(fd))
	fs.Visit(func(fl *pflag.Flag) {
		if isRunFlag(fl.Name) || env.Globals.FlagSet().Lookup(fl.Name) != nil {
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				for _, v := range sv.GetSlice() {
					argv = append(argv, "--"+fl.Name+"="+v)
				}
				return
			}
			argv = append(argv, "--"+fl.Name+"="+fl.Value.String())
		}
	})
	argv = append(argv, uuid)
	return execv(bin, argv)
}

var runFlagNames = map[string]bool{"net": true, "dns": true, "dns-search": true, "dns-opt": true, "dns-domain": true,
	"hosts-entry": true, "interactive": true, "mds-register": true, "hostname": true, "ipc": true}

func isRunFlag(name string) bool { return runFlagNames[name] }

func execv(bin string, argv []string) error {
	return fmt.Errorf("executing %s: %w", bin, syscall.Exec(bin, argv, os.Environ()))
}
