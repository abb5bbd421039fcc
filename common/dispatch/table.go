// Package dispatch is the `rkt` front end: the table of subcommands, the
// exec path look-up, `rkt help` and `rkt version`. It runs nothing itself;
// every subcommand is its own binary.
package dispatch

import "sort"

// Sub is one entry of the subcommand table.
type Sub struct {
	// Name is what the user types: `rkt NAME`.
	Name string
	// Binary is the executable in the exec path.
	Binary string
	// Argv0 is the name the binary is started under when it differs from
	// Binary: `rkt run` is rkt-prepare started as "rkt-run".
	Argv0 string
	// Summary is the line `rkt help` prints.
	Summary string
}

// Table lists every subcommand (DESIGN.md §1).
var Table = []Sub{
	{Name: "api-service", Binary: "rkt-api", Summary: "Run the read-only API service"},
	{Name: "cat-manifest", Binary: "rkt-cat-manifest", Summary: "Inspect and print the pod manifest"},
	{Name: "config", Binary: "rkt-config", Summary: "Print the merged configuration in JSON"},
	{Name: "enter", Binary: "rkt-enter", Summary: "Enter the namespaces of an app within a rkt pod"},
	{Name: "export", Binary: "rkt-export", Summary: "Export an app from an exited pod to an ACI file"},
	{Name: "fetch", Binary: "rkt-fetch", Summary: "Fetch image(s) and store them in the local store"},
	{Name: "gc", Binary: "rkt-gc", Summary: "Garbage collect rkt pods no longer in use"},
	{Name: "image", Binary: "rkt-image", Summary: "Operate on image(s) in the local store"},
	{Name: "list", Binary: "rkt-list", Summary: "List pods"},
	{Name: "metadata-service", Binary: "rkt-mds", Summary: "Run the metadata service"},
	{Name: "prepare", Binary: "rkt-prepare", Summary: "Prepare to run image(s) in a pod"},
	{Name: "rm", Binary: "rkt-rm", Summary: "Remove all files and resources of an exited pod"},
	{Name: "run", Binary: "rkt-prepare", Argv0: "rkt-run", Summary: "Run image(s) in a pod"},
	{Name: "run-prepared", Binary: "rkt-run-prepared", Summary: "Run a prepared pod"},
	{Name: "status", Binary: "rkt-status", Summary: "Check the status of a pod"},
	{Name: "stop", Binary: "rkt-stop", Summary: "Stop a pod"},
	{Name: "trust", Binary: "rkt-trust", Summary: "Trust a key for image verification"},
}

// builtins are answered by the dispatcher itself.
var builtins = []Sub{
	{Name: "help", Summary: "Show help for rkt or one of its commands"},
	{Name: "version", Summary: "Print the version and exit"},
}

// Binaries returns the distinct executables the table names, sorted; the
// build and install scripts and the tests use it.
func Binaries() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range Table {
		if !seen[s.Binary] {
			seen[s.Binary] = true
			out = append(out, s.Binary)
		}
	}
	sort.Strings(out)
	return out
}

// Lookup finds a subcommand by its name or by an unambiguous prefix of it
// (`rkt li` is `rkt list`, CLI-GEN-01). An exact name always wins.
func Lookup(name string) (Sub, bool) {
	all := append(append([]Sub{}, Table...), builtins...)
	var match []Sub
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
		if name != "" && len(name) < len(s.Name) && s.Name[:len(name)] == name {
			match = append(match, s)
		}
	}
	if len(match) == 1 {
		return match[0], true
	}
	return Sub{}, false
}
