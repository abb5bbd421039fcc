package cli

import "github.com/rkt/rkt/common/globalflags"

// Globals are the options every rkt binary accepts (see globalflags).
type Globals = globalflags.Globals

// Insecure is the set of checks switched off by --insecure-options.
type Insecure = globalflags.Insecure

// The insecure options, as globalflags defines them.
const (
	InsecureImage        = globalflags.InsecureImage
	InsecureTLS          = globalflags.InsecureTLS
	InsecureOnDisk       = globalflags.InsecureOnDisk
	InsecureHTTP         = globalflags.InsecureHTTP
	InsecurePubKey       = globalflags.InsecurePubKey
	InsecureCapabilities = globalflags.InsecureCapabilities
	InsecurePaths        = globalflags.InsecurePaths
	InsecureSeccomp      = globalflags.InsecureSeccomp
	InsecureAllFetch     = globalflags.InsecureAllFetch
	InsecureAllRun       = globalflags.InsecureAllRun
	InsecureAll          = globalflags.InsecureAll
)

// NewGlobals returns Globals with rkt's defaults.
func NewGlobals() *Globals { return globalflags.New() }

// ValidInsecureOptions lists every accepted --insecure-options value.
func ValidInsecureOptions() []string { return globalflags.ValidInsecureOptions() }
