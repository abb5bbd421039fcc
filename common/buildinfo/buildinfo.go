// Package buildinfo holds the facts fixed when rkt is built: its version,
// where its subcommand binaries and stage1 images live, and the default
// stage1. scripts/build sets them with -ldflags -X; the zero-config
// defaults below are those of an installed system.
package buildinfo

import "runtime"

// These are strings, not constants, so that the linker can set them.
var (
	// Version is rkt's own version: the release tag, or git describe for
	// a build between releases.
	Version = "0.1.0+git"
	// Commit is the git commit the binaries were built from; empty for a
	// build outside a git checkout.
	Commit = ""
	// ExecDir is where the dispatcher looks for rkt-SUB binaries when
	// neither --exec-path nor $RKT_EXEC_PATH is given.
	ExecDir = "/usr/lib/rkt/libexec"
	// Stage1ImagesDir is where stage1 images are looked for by default.
	Stage1ImagesDir = "/usr/lib/rkt/stage1-images"
	// SystemConfigDir is the default of --system-config: the vendor
	// configuration shipped with the package.
	SystemConfigDir = "/usr/lib/rkt"
	// Stage1Name is the image name of the default stage1.
	Stage1Name = "coreos.com/rkt/stage1-native"
	// Stage1Version is the version label of the default stage1 image;
	// empty means Version.
	Stage1Version = ""
	// Stage1Flavor is the file name stem of the default stage1 image in
	// Stage1ImagesDir (stage1-FLAVOR.aci).
	Stage1Flavor = "native"
	// Features lists build options, in rkt's "+FOO -BAR" form.
	Features = "-TPM -SDJOURNAL"
)

// AppcVersion is the appc spec version this build implements. It is a
// constant (checked against the appc library by a test) so that the
// dispatcher need not link the appc schema packages.
const AppcVersion = "0.8.11"

// DefaultStage1Version returns the version label of the default stage1.
func DefaultStage1Version() string {
	if Stage1Version != "" {
		return Stage1Version
	}
	return Version
}

// GoVersion returns the Go toolchain version rkt was built with.
func GoVersion() string { return runtime.Version() }
