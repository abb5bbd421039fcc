//go:build linux && amd64

// Command tramp is execchain's step without a Go runtime: linked with
// -E main.entry (tramp_amd64.s), it execs argv[1] with argv[1:] and the
// same environment before any runtime code runs, as rkt's dispatcher
// and rkt-run-prepared do on their fast paths. It exits 127 when that
// exec fails; main never runs.
package main

//lint:ignore U1000 the entry point: scripts/bench links tramp with -E main.entry
func entry()

func main() {}
