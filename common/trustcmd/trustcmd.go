// Package trustcmd is `rkt trust`: it fetches public keys (local files,
// https URLs, or appc meta discovery of a prefix), shows their fingerprints
// for review, and adds them to the local trust store (reference
// CLI-TRUST-01..03, TRUST-01..02).
//
// The network code for keys lives here and not in common/trust, so that the
// privileged binaries that verify images with common/trust link no HTTP
// client.
package trustcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/trust"
)

// Errors of the command line itself.
var (
	// ErrImplicitRoot refuses a key with neither --prefix nor --root:
	// trusting it for every image must be asked for explicitly.
	ErrImplicitRoot = errors.New(`aborting due to implicit unbounded trust (root domain)
Please provide a specific domain prefix to trust:
    rkt trust --prefix "example.com/foo" [PUBKEY]
Otherwise, trust at the root domain (not recommended) must be explicitly requested:
    rkt trust --root PUBKEY`)
	// ErrPrefixAndRoot refuses --prefix together with --root.
	ErrPrefixAndRoot = errors.New("--root and --prefix usage mutually exclusive")
	// ErrRootNeedsKeys refuses --root without key arguments: there is no
	// discovery for the root.
	ErrRootNeedsKeys = errors.New("--root flag requires that paths to the public key files be specified")
	// ErrNoTTY is returned when a key needs a review but nobody can be
	// asked.
	ErrNoTTY = errors.New("unable to ask user to review fingerprint due to lack of tty")
	// ErrNoMetaTags is returned when discovery finds no
	// ac-discovery-pubkeys tag for the prefix.
	ErrNoMetaTags = errors.New("found no ACI meta tags")
)

// options are the command's own flags.
type options struct {
	prefix     string
	root       bool
	skipReview bool
	allowHTTP  bool
}

// Command returns the `rkt trust` command.
func Command() *cli.Command {
	var o options
	return &cli.Command{
		Name:    "trust",
		Summary: "Trust a key for image verification",
		Usage:   "[--prefix=PREFIX] [--root] [--skip-fingerprint-review] [--insecure-allow-http] [PUBKEY ...]",
		Description: `Adds keys to the local keystore (LOCAL-CONFIG/trustedkeys) for use in
verifying signed images.

PUBKEY may be either a local file or an https URL (http with
--insecure-allow-http).

PREFIX scopes the applicability of PUBKEY to image names sharing PREFIX,
e.g. --prefix=example.com/app trusts the key for example.com/app and
example.com/app/sub, but not for example.com/apple.

Meta discovery of PUBKEY at PREFIX (the ac-discovery-pubkeys meta tag) is
attempted if no PUBKEY is specified.

To trust a key for all images instead of for specific images, --root can be
specified. Paths to the key files must then be given (no discovery).

Each key's fingerprint is shown and must be confirmed on a terminal, unless
--skip-fingerprint-review is given, or --trust-keys-from-https is given and
the key was fetched over verified https.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.prefix, "prefix", "", "prefix to limit trust to")
			fs.BoolVar(&o.root, "root", false, "add root key from filesystem without a prefix")
			fs.BoolVar(&o.skipReview, "skip-fingerprint-review", false, "accept key without fingerprint confirmation")
			fs.BoolVar(&o.allowHTTP, "insecure-allow-http", false, "allow HTTP use for key discovery and/or retrieval")
		},
		Run: func(env *cli.Env, args []string) error {
			r := &runner{
				env:  env,
				opts: o,
				in:   os.Stdin,
				// The review needs someone to answer (stdin) who sees the
				// fingerprint and the prompt (stdout).
				interactive: term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())),
			}
			return r.run(args)
		},
	}
}

// runner is one invocation, with its inputs made explicit for tests.
type runner struct {
	env         *cli.Env
	opts        options
	in          io.Reader
	interactive bool
	// fetch and discover default to the real network; tests replace them.
	fetch    func(loc string) (key []byte, verifiedHTTPS bool, err error)
	discover func(prefix string) ([]string, error)

	answers *bufio.Reader // over in, shared by every prompt
}

func (r *runner) run(args []string) error {
	o := r.opts
	switch {
	case o.prefix == "" && !o.root && len(args) != 0:
		return ErrImplicitRoot
	case o.prefix == "" && !o.root:
		return cli.Usagef("--prefix or --root is required")
	case o.prefix != "" && o.root:
		return ErrPrefixAndRoot
	case o.root && len(args) == 0:
		return ErrRootNeedsKeys
	}
	if o.prefix != "" {
		if u, err := url.Parse(o.prefix); err == nil && u.Scheme != "" {
			return fmt.Errorf("--prefix must not contain a URL scheme, omit %s://", u.Scheme)
		}
		if err := trust.CheckName(o.prefix); err != nil {
			return fmt.Errorf("invalid --prefix: %w", err)
		}
	}
	if r.fetch == nil {
		r.fetch = r.fetchKey
	}
	if r.discover == nil {
		r.discover = r.discoverKeys
	}
	locs := args
	if len(locs) == 0 {
		var err error
		if locs, err = r.discover(o.prefix); err != nil {
			return fmt.Errorf("--prefix meta discovery error: %w", err)
		}
	}
	store := &trust.Store{SystemDir: r.env.Globals.SystemConfig, LocalDir: r.env.Globals.LocalConfig}
	for _, loc := range locs {
		if err := r.addKey(store, loc); err != nil {
			return err
		}
	}
	return nil
}

// addKey fetches, shows, reviews and stores one key.
func (r *runner) addKey(store *trust.Store, loc string) error {
	prefix := r.opts.prefix
	data, verified, err := r.fetch(loc)
	if err != nil {
		return fmt.Errorf("error accessing the key %s: %w", loc, err)
	}
	key, err := trust.ParseKey(data)
	if err != nil {
		return fmt.Errorf("error reading the key %s: %w", loc, err)
	}
	fmt.Fprintf(r.env.Stderr, "prefix: %q\nkey: %q\n", prefix, loc)
	showKey(r.env.Stdout, key)

	g := r.env.Globals
	// --trust-keys-from-https vouches for the transport, so it counts only
	// when the certificate was checked, or when the admin explicitly
	// accepted insecure keys (--insecure-options=pubkey).
	auto := r.opts.skipReview ||
		g.TrustKeysFromHTTPS && (verified || g.Insecure.Has(cli.InsecurePubKey) && isURL(loc))
	if !auto {
		if !r.interactive {
			fmt.Fprintln(r.env.Stderr, "rkt: check the fingerprint above and run again with --skip-fingerprint-review to trust the key without a terminal")
			return fmt.Errorf("error reviewing key: %w", ErrNoTTY)
		}
		ok, err := r.review()
		if err != nil {
			return fmt.Errorf("error reviewing key: %w", err)
		}
		if !ok {
			fmt.Fprintf(r.env.Stderr, "rkt: not trusting %q\n", loc)
			return nil
		}
	}
	how := "after"
	if auto {
		how = "without"
	}
	fmt.Fprintf(r.env.Stdout, "Trusting %q for prefix %q %s fingerprint review.\n", loc, prefix, how)
	path, err := store.AddKey(prefix, data)
	if err != nil {
		if prefix == "" {
			return fmt.Errorf("error adding root key: %w", err)
		}
		return fmt.Errorf("error adding key for prefix %q: %w", prefix, err)
	}
	if prefix == "" {
		fmt.Fprintf(r.env.Stdout, "Added root key at %q\n", path)
	} else {
		fmt.Fprintf(r.env.Stdout, "Added key for prefix %q at %q\n", prefix, path)
	}
	return nil
}

// showKey prints what the user reviews, in the layout rkt (and gpg) used.
func showKey(w io.Writer, e *openpgp.Entity) {
	fmt.Fprintf(w, "gpg key fingerprint is: %s\n", trust.FormatFingerprint(e.PrimaryKey.Fingerprint))
	for _, sk := range e.Subkeys {
		fmt.Fprintf(w, "    Subkey fingerprint: %s\n", trust.FormatFingerprint(sk.PublicKey.Fingerprint))
	}
	ids := make([]string, 0, len(e.Identities))
	for id := range e.Identities {
		ids = append(ids, id)
	}
	sort.Strings(ids) // a map: sort for stable output
	for _, id := range ids {
		fmt.Fprintf(w, "\t%s\n", id)
	}
}

// review asks until the answer is yes or no.
func (r *runner) review() (bool, error) {
	if r.answers == nil {
		r.answers = bufio.NewReader(r.in)
	}
	for {
		fmt.Fprint(r.env.Stdout, "Are you sure you want to trust this key (yes/no)? ")
		line, err := r.answers.ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "yes":
			return true, nil
		case "no":
			return false, nil
		}
		if err != nil {
			if err == io.EOF {
				fmt.Fprintln(r.env.Stdout)
			}
			return false, fmt.Errorf("reading the answer: %w", err)
		}
		fmt.Fprintln(r.env.Stdout, "Please enter 'yes' or 'no'")
	}
}

func isURL(loc string) bool {
	return strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://")
}
