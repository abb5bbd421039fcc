// Package runpreparedcmd is `rkt run-prepared`, and the run-time flags
// that `rkt run` shares with it. It links no image store code: starting a
// prepared pod needs only the pod directory.
package runpreparedcmd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/mdsclient"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/runplan"
	"github.com/rkt/rkt/common/runpod"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/common/userns"
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
	cli.StringArrayVar(fs, &r.net, "net", "networks to join: default, default-restricted, host, none, or names from net.d, with NAME:K=V;K2=V2 arguments").NoOptDefVal = "default"
	cli.StringArrayVar(fs, &r.dns, "dns", "name servers for the pod, or host, or none")
	cli.StringArrayVar(fs, &r.dnsSearch, "dns-search", "DNS search domains")
	cli.StringArrayVar(fs, &r.dnsOpt, "dns-opt", "DNS resolver options")
	fs.StringVar(&r.dnsDomain, "dns-domain", "", "DNS domain")
	cli.StringArrayVar(fs, &r.hostsEntry, "hosts-entry", "/etc/hosts entries IP=HOST, or host")
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
		for _, n := range r.net {
			for _, v := range strings.Split(n, ",") {
				if v == "host" || v == "none" {
					return a, fmt.Errorf("--mds-register needs a pod network: it cannot be used with --net=%s", v)
				}
			}
		}
		tok, err := mdsclient.NewToken()
		if err != nil {
			return a, fmt.Errorf("--mds-register: token: %w", err)
		}
		a.MDSToken = tok
	}
	mode, err := r.dnsConfMode()
	if err != nil {
		return a, err
	}
	a.DNSConfMode = mode
	return a, nil
}

// dnsConfMode checks the DNS and hosts flags (reference CLI-RUN-03..05)
// and says where the pod's resolv.conf and hosts come from.
func (r *RunFlags) dnsConfMode() (string, error) {
	resolv, hosts := "default", "default"
	var servers []string
	for _, d := range r.dns {
		for _, ip := range strings.Split(d, ",") {
			switch {
			case ip == "host" || ip == "none":
				if len(r.dns) != 1 || strings.Contains(d, ",") {
					return "", fmt.Errorf("--dns=%s must be the only --dns", ip)
				}
				resolv = ip
			case net.ParseIP(ip) == nil:
				return "", fmt.Errorf("invalid --dns %q: not an IP address", ip)
			default:
				servers = append(servers, ip)
			}
		}
	}
	extra := len(r.dnsSearch) > 0 || len(r.dnsOpt) > 0 || r.dnsDomain != ""
	if extra && (resolv == "host" || resolv == "none") {
		return "", fmt.Errorf("--dns-search, --dns-opt and --dns-domain cannot be used with --dns=%s", resolv)
	}
	if len(servers) > 0 || extra {
		resolv = "stage0"
	}
	for _, h := range r.hostsEntry {
		if h == "host" {
			if len(r.hostsEntry) != 1 {
				return "", fmt.Errorf("--hosts-entry=host cannot be mixed with other entries")
			}
			hosts = "host"
			continue
		}
		for _, kv := range strings.Split(h, ",") {
			ip, name, ok := strings.Cut(kv, "=")
			if !ok || net.ParseIP(ip) == nil || name == "" {
				return "", fmt.Errorf("invalid --hosts-entry %q: want IP=HOSTNAME", kv)
			}
		}
		hosts = "stage0"
	}
	if resolv == "default" && hosts == "default" {
		return "", nil
	}
	return "resolv=" + resolv + ",hosts=" + hosts, nil
}

// stage1Files are the files stage0 writes into the stage1 rootfs for
// --dns-conf-mode=...stage0: etc/rkt-resolv.conf and etc/rkt-hosts.
func (r *RunFlags) stage1Files() map[string][]byte {
	files := map[string][]byte{}
	var servers []string
	for _, d := range r.dns {
		for _, ip := range strings.Split(d, ",") {
			if ip != "host" && ip != "none" {
				servers = append(servers, ip)
			}
		}
	}
	if len(servers) > 0 || len(r.dnsSearch) > 0 || len(r.dnsOpt) > 0 || r.dnsDomain != "" {
		var b strings.Builder
		b.WriteString("# Generated by rkt\n\n")
		for _, s := range servers {
			b.WriteString("nameserver " + s + "\n")
		}
		if len(r.dnsSearch) > 0 {
			b.WriteString("search " + strings.Join(r.dnsSearch, " ") + "\n")
		}
		if len(r.dnsOpt) > 0 {
			b.WriteString("options " + strings.Join(r.dnsOpt, " ") + "\n")
		}
		if r.dnsDomain != "" {
			b.WriteString("domain " + r.dnsDomain + "\n")
		}
		files["etc/rkt-resolv.conf"] = []byte(b.String())
	}
	if len(r.hostsEntry) > 0 && r.hostsEntry[0] != "host" {
		// Entries for the same IP are merged, in the order given.
		var order []string
		names := map[string][]string{}
		for _, h := range r.hostsEntry {
			for _, kv := range strings.Split(h, ",") {
				ip, name, _ := strings.Cut(kv, "=")
				if _, seen := names[ip]; !seen {
					order = append(order, ip)
				}
				names[ip] = append(names[ip], name)
			}
		}
		b := strings.Builder{}
		b.WriteString("127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost localhost.localdomain\n")
		for _, ip := range order {
			b.WriteString(ip + "\t" + strings.Join(names[ip], " ") + "\n")
		}
		files["etc/rkt-hosts"] = []byte(b.String())
	}
	return files
}

// RunPrepared returns the `rkt run-prepared` command.
func RunPrepared() *cli.Command {
	var r RunFlags
	var plan string
	return &cli.Command{
		Name:      "run-prepared",
		Summary:   "Run a prepared pod",
		Usage:     "[flags] UUID",
		NeedsRoot: true,
		Flags: func(fs *pflag.FlagSet) {
			r.Register(fs)
			// The plan rkt run wrote for the fast path (runplan), which
			// only reads it; here it is only a name to accept.
			fs.StringVar(&plan, "run-plan", "", "")
			_ = fs.MarkHidden("run-plan")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("run-prepared needs exactly one pod UUID")
			}
			if err := runplan.FastPathError(args[0]); err != nil {
				return err
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
			apps, a, err := r.start(env, p)
			if err != nil {
				return err
			}
			return runpod.Exec(p, apps, a, r.stage1Files(), func(s string) { env.Warnf("%s", s) })
		},
	}
}

// start checks the run flags against the locked pod p and returns its
// apps and the stage1's arguments.
func (r *RunFlags) start(env *cli.Env, p *pod.Pod) ([]string, stage1abi.RunArgs, error) {
	m, err := p.ManifestOutline()
	if err != nil {
		return nil, stage1abi.RunArgs{}, err
	}
	a, err := r.check(env, p, m)
	return m.Apps, a, err
}

// check checks the run flags against the locked pod p, of outline m,
// and returns the stage1's arguments.
func (r *RunFlags) check(env *cli.Env, p *pod.Pod, m *pod.Outline) (stage1abi.RunArgs, error) {
	a, err := r.Stage1Args(env, len(m.Apps))
	if err != nil {
		return a, err
	}
	if a.PrivateUsers, err = privateUsers(p); err != nil {
		return a, err
	}
	if r.mdsRegister {
		if err := checkMDS(p); err != nil {
			return a, err
		}
	}
	if m.Ports > 0 {
		for _, n := range r.net {
			if n == "host" || n == "none" {
				return a, fmt.Errorf("--port cannot be used with --net=%s: forwarding needs a pod network", n)
			}
		}
	}
	return a, nil
}

// WritePlan writes into the pod p, of outline m, which rkt run prepared
// and holds locked, the plan by which rkt-run-prepared's fast path starts
// it (runplan), after the checks rkt-run-prepared would make. It returns
// the plan's path, or "" when the pod is one for the Go path: when the
// flags need work that a plan cannot do (--mds-register, DNS files) or
// warnings (a stage1 too old for a flag), and where rkt-run-prepared
// has no fast path.
func (r *RunFlags) WritePlan(env *cli.Env, p *pod.Pod, m *pod.Outline) (string, error) {
	if runtime.GOARCH != "amd64" || r.mdsRegister || len(r.stage1Files()) > 0 {
		return "", nil
	}
	a, err := r.check(env, p, m)
	if err != nil {
		return "", err
	}
	plan, dropped, err := runpod.Plan(p, m.Apps, a)
	if err != nil || len(dropped) > 0 {
		return "", err
	}
	b, err := plan.Encode()
	if err != nil {
		return "", fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	path := p.Path(runplan.FileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("pod %s: %w", p.UUID, err)
	}
	return path, nil
}

// privateUsers returns the id range a --private-users pod got at
// prepare, "" for other pods.
func privateUsers(p *pod.Pod) (string, error) {
	b, err := os.ReadFile(p.Path(stage1abi.PrivateUsersFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pod %q: %w", p.UUID, err)
	}
	r, err := userns.Parse(string(b))
	if err != nil {
		return "", fmt.Errorf("pod %q: %w", p.UUID, err)
	}
	return r.String(), nil
}

// flyStage1 is the name of the fly stage1, whose pods share the host's
// network and so cannot be told apart by the metadata service.
const flyStage1 = "coreos.com/rkt/stage1-fly"

// checkMDS refuses --mds-register for a fly pod and checks the metadata
// service answers (reference CLI-RUNP-02); the stage1 registers the pod
// once its network is up.
func checkMDS(p *pod.Pod) error {
	if m, err := p.Stage1Manifest(); err == nil && m.Name == flyStage1 {
		return fmt.Errorf("--mds-register needs a pod network: the fly stage1 (%s) shares the host's", flyStage1)
	}
	c := &mdsclient.Client{Attempts: 3, Delay: time.Second}
	return c.Ping()
}
