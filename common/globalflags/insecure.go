// Package globalflags holds the options every rkt binary accepts
// (reference §1.1). It is small on purpose: the rkt dispatcher links it,
// and every package it imports costs start-up time on every command.
package globalflags

import (
	"fmt"
	"strings"
)

// Insecure is the set of security checks switched off by --insecure-options.
type Insecure uint

// The individual insecure options (reference §1.1, SEC-INS).
const (
	InsecureImage        Insecure = 1 << iota // no signature check
	InsecureTLS                               // accept any certificate and host
	InsecureOnDisk                            // skip the rendered-tree check before a pod uses it
	InsecureHTTP                              // allow plain http
	InsecurePubKey                            // allow fetching public keys insecurely
	InsecureCapabilities                      // apps keep every capability
	InsecurePaths                             // no masked or read-only /proc and /sys paths
	InsecureSeccomp                           // no seccomp filter
)

// Composite values, as rkt defined them.
const (
	InsecureAllFetch = InsecureImage | InsecureTLS | InsecureHTTP | InsecurePubKey
	InsecureAllRun   = InsecureCapabilities | InsecurePaths | InsecureSeccomp
	InsecureAll      = InsecureAllFetch | InsecureAllRun | InsecureOnDisk
)

// insecureNames is ordered: String prints options in this order.
var insecureNames = []struct {
	name string
	opt  Insecure
}{
	{"image", InsecureImage},
	{"tls", InsecureTLS},
	{"ondisk", InsecureOnDisk},
	{"http", InsecureHTTP},
	{"pubkey", InsecurePubKey},
	{"capabilities", InsecureCapabilities},
	{"paths", InsecurePaths},
	{"seccomp", InsecureSeccomp},
}

// insecureAliases expand to several options; "none" to no option.
var insecureAliases = map[string]Insecure{
	"none":      0,
	"all-fetch": InsecureAllFetch,
	"all-run":   InsecureAllRun,
	"all":       InsecureAll,
}

// ValidInsecureOptions lists every accepted value, for help and errors.
func ValidInsecureOptions() []string {
	out := []string{"none"}
	for _, n := range insecureNames {
		out = append(out, n.name)
	}
	return append(out, "all-fetch", "all-run", "all")
}

// Has reports whether every option in o is switched off.
func (i Insecure) Has(o Insecure) bool { return i&o == o }

// String renders the set as a comma list; the empty set is "none".
func (i Insecure) String() string {
	var names []string
	for _, n := range insecureNames {
		if i.Has(n.opt) {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Set adds a comma list of options; repeated flags accumulate. It
// implements pflag.Value.
func (i *Insecure) Set(s string) error {
	for _, word := range strings.Split(s, ",") {
		word = strings.TrimSpace(strings.ToLower(word))
		if o, ok := insecureAliases[word]; ok {
			*i |= o
			continue
		}
		found := false
		for _, n := range insecureNames {
			if n.name == word {
				*i |= n.opt
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("unknown insecure option %q (valid: %s)", word, strings.Join(ValidInsecureOptions(), ", "))
		}
	}
	return nil
}

// Type implements pflag.Value.
func (i *Insecure) Type() string { return "opts" }
