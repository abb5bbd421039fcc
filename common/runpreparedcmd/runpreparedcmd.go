// Package runpreparedcmd is `rkt run-prepared`, and the run-time flags
// that `rkt run` shares with it. It links no image store code: starting a
// prepared pod needs only the pod directory.
package runpreparedcmd

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/runpod"
	"github.com/rkt/rkt/common/stage1abi"
)

// RunFlags are the flags that only take effect when a pod starts
// (reference CLI-RUNP-01).
type RunFlags struct {
	net         []string
	dns         []string
	dnsSearch   []string
	dnsOpt      []string
	dnsDomain   string
	hostsEntry  []string
	interactive bool
	mdsRegister bool
	hostname    string
	ipc         string
	lockFD      int
}

// Register adds the run-time flags to fs.
func (r *RunFlags) Register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&r.net, "net", nil, "networks to join: default, default-restricted, host, none, or names from net.d, with NAME:K=V;K2=V2 arguments")
	fs.Lookup("net").NoOptDefVal = "default"
	fs.StringArrayVar(&r.dns, "dns", nil, "name servers for the pod, or host, or none")
	fs.StringArrayVar(&r.dnsSearch, "dns-search", nil, "DNS search domains")
	fs.StringArrayVar(&r.dnsOpt, "dns-opt", nil, "DNS resolver options")
	fs.StringVar(&r.dnsDomain, "dns-domain", "", "DNS domain")
	fs.StringArrayVar(&r.hostsEntry, "hosts-entry", nil, "/etc/hosts entries IP=HOST, or host")
	fs.BoolVar(&r.interactive, "interactive", false, "attach the terminal to the (single) app")
	fs.BoolVar(&r.mdsRegister, "mds-register", false, "register the pod with the metadata service")
	fs.StringVar(&r.hostname, "hostname", "", "the pod's hostname (default rkt-UUID)")
	fs.StringVar(&r.ipc, "ipc", "", "IPC namespace: auto, private or parent")
	fs.IntVar(&r.lockFD, "lock-fd", -1, "")
	_ = fs.MarkHidden("lock-fd")
}

// Stage1Args checks the run flags and makes the stage1 arguments.
func (r *RunFlags) Stage1Args(env *cli.Env, apps int) (stage1abi.RunArgs, error) {
	a := stage1abi.RunArgs{
		Debug:                          env.Globals.Debug,
		Net:                            strings.Join(r.net, ","),
		Interactive:                    r.interactive,
		LocalConfig:                    env.Globals.LocalConfig,
		Hostname:                       r.hostname,
		IPC:                            r.ipc,
		DisableCapabilitiesRestriction: env.Globals.Insecure.Has(cli.InsecureCapabilities),
		DisablePaths:                   env.Globals.Insecure.Has(cli.InsecurePaths),
		DisableSeccomp:                 env.Globals.Insecure.Has(cli.InsecureSeccomp),
	}
	if r.interactive && apps > 1 {
		return a, fmt.Errorf("--interactive needs a pod with exactly one app, this one has %d", apps)
	}
	switch r.ipc {
	case "", "auto", "private", "parent":
	default:
		return a, fmt.Errorf("invalid --ipc %q: must be auto, private or parent", r.ipc)
	}
	if r.mdsRegister {
		return a, fmt.Errorf("--mds-register: the metadata service is not implemented yet")
	}
	for _, d := range r.dns {
		for _, ip := range strings.Split(d, ",") {
			if (ip == "host" || ip == "none") && len(r.dns) == 1 {
				continue
			}
			if net.ParseIP(ip) == nil {
				return a, fmt.Errorf("invalid --dns %q: not an IP address (host and none must be alone)", ip)
			}
		}
	}
	if len(r.dns) > 0 || len(r.dnsSearch) > 0 || len(r.dnsOpt) > 0 || r.dnsDomain != "" || len(r.hostsEntry) > 0 {
		return a, fmt.Errorf("--dns, --dns-search, --dns-opt, --dns-domain and --hosts-entry are not implemented yet (pod networking)")
	}
	return a, nil
}

// RunPrepared returns the `rkt run-prepared` command.
func RunPrepared() *cli.Command {
	var r RunFlags
	return &cli.Command{
		Name:      "run-prepared",
		Summary:   "Run a prepared pod",
		Usage:     "[flags] UUID",
		NeedsRoot: true,
		Flags:     r.Register,
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("run-prepared needs exactly one pod UUID")
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			var p *pod.Pod
			if r.lockFD >= 0 {
				p, err = pod.OpenLocked(root, args[0], r.lockFD)
				if err != nil {
					return err
				}
			} else {
				if p, err = pod.Lookup(root, args[0]); err != nil {
					return err
				}
				if p.Place != pod.Prepared {
					return fmt.Errorf("pod %q is not prepared", p.UUID)
				}
				if err := p.Lock(false); err != nil {
					return fmt.Errorf("pod %q is being started by another process: %w", p.UUID, err)
				}
			}
			m, _, err := p.Manifest()
			if err != nil {
				return err
			}
			a, err := r.Stage1Args(env, len(m.Apps))
			if err != nil {
				return err
			}
			return runpod.Exec(p, a, func(s string) { env.Warnf("%s", s) })
		},
	}
}
