// Package fetchcmd is `rkt fetch`: it prints one image ID per argument on
// stdout and nothing else, so that `rkt run $(rkt fetch X)` works.
package fetchcmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/fetch"
	"github.com/rkt/rkt/common/store"
	"github.com/rkt/rkt/common/trust"
)

// Command returns the `rkt fetch` command.
func Command() *cli.Command {
	var (
		full      bool
		policy    string
		signature string
		storeOnly bool
		noStore   bool
	)
	return &cli.Command{
		Name:    "fetch",
		Summary: "Fetch image(s) and store them in the local store",
		Usage:   "[--pull-policy=update] [--full] [--signature=FILE] IMAGE...",
		Description: `IMAGE is a file path, a file:// or https:// URL, an appc image name
(name[:version][,label=value...], found by meta discovery), an image
ID already in the store, or a Docker/OCI image: docker://[REGISTRY/]REPO[:TAG|@DIGEST]
(credentials from dockerAuth files and ~/.docker/config.json),
oci-layout:PATH[:REF], oci-archive:PATH[:REF], docker-archive:PATH[:REF]
(docker save output).
Images are verified against the trusted keys (see rkt trust) unless
--insecure-options=image is given; Docker and OCI images carry no
signature and need it.

The image IDs are printed on stdout, one per line.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&full, "full", false, "print the image ID in full")
			fs.StringVar(&policy, "pull-policy", string(fetch.PullUpdate), "when to fetch from the network: never, new or update")
			fs.StringVar(&signature, "signature", "", "local detached signature of the image")
			fs.BoolVar(&storeOnly, "store-only", false, "same as --pull-policy=never")
			fs.BoolVar(&noStore, "no-store", false, "same as --pull-policy=update")
			_ = fs.MarkDeprecated("store-only", "use --pull-policy=never")
			_ = fs.MarkDeprecated("no-store", "use --pull-policy=update")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("fetch needs at least one image")
			}
			if signature != "" && len(args) > 1 {
				return cli.Usagef("--signature applies to one image only")
			}
			for _, a := range args {
				if a == "--" {
					return cli.Usagef("fetch does not take app arguments (--)")
				}
			}
			if storeOnly && noStore {
				return cli.Usagef("--store-only and --no-store are mutually exclusive")
			}
			if storeOnly {
				policy = string(fetch.PullNever)
			} else if noStore {
				policy = string(fetch.PullUpdate)
			}
			p, err := fetch.ParsePullPolicy(policy)
			if err != nil {
				return cli.Usagef("%v", err)
			}
			f, err := NewFetcher(env, p)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			for _, a := range args {
				key, err := f.Fetch(ctx, a, signature)
				if err != nil {
					return err
				}
				n := store.FetchHexLen
				if full {
					n = 64
				}
				fmt.Fprintln(env.Stdout, store.ShortID(key, n))
			}
			return nil
		},
	}
}

// NewFetcher builds a Fetcher from the global options.
func NewFetcher(env *cli.Env, policy fetch.PullPolicy) (*fetch.Fetcher, error) {
	cfg, err := env.Config()
	if err != nil {
		return nil, err
	}
	root, err := env.DataDir()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(root)
	if err != nil {
		return nil, err
	}
	in := env.Globals.Insecure
	isRoot := os.Geteuid() == 0
	return &fetch.Fetcher{
		Store:              st,
		Trust:              &trust.Store{SystemDir: env.Globals.SystemConfig, LocalDir: env.Globals.LocalConfig},
		Config:             cfg,
		Policy:             policy,
		InsecureImage:      in.Has(cli.InsecureImage),
		InsecureTLS:        in.Has(cli.InsecureTLS),
		InsecureHTTP:       in.Has(cli.InsecureHTTP),
		InsecurePubKey:     in.Has(cli.InsecurePubKey),
		TrustKeysFromHTTPS: env.Globals.TrustKeysFromHTTPS,
		Render:             isRoot,
		Root:               isRoot,
		SkipTreeCheck:      in.Has(cli.InsecureOnDisk),
		Stderr:             env.Stderr,
	}, nil
}
