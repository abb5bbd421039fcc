// Package supervisor is the pod supervisor of the native stage1: PID 1
// of the pod's PID namespace. It sets up every app's mounts, starts all
// apps at once, each forked by itself (package appspawn) into the app's
// rootfs with its credentials, capabilities, seccomp filter and cgroup,
// forwards signals, reaps, records exit statuses, serves `enter`
// requests, and exits with the first failed app's status.
//
// It is a binary of its own in the stage1 image (/init), apart from the
// `run`, `enter`, `gc` and `stop` entrypoints (/native): it stays
// resident for the pod's whole life, and so links nothing it does not
// need (no CNI, no metadata-service client, no BPF assembler), which
// keeps its memory and its start small.
package supervisor

import (
	"github.com/opencontainers/cgroups"

	"github.com/rkt/rkt/stage1/entrypoint"
	"github.com/rkt/rkt/stage1/native/security/caps"
	"github.com/rkt/rkt/stage1/stage1log"
)

// EntrypointInit is the entrypoint name the supervisor binary answers
// to; it is internal: `run` starts it as init.
const EntrypointInit = "init"

// BinaryName is the supervisor binary's file name, beside the stage1's
// entrypoints binary in the stage1 rootfs.
const BinaryName = "init"

// Environment variables the outer `run` passes to the supervisor.
const (
	SocketFDEnv   = "RKT_STAGE1_NATIVE_SOCKET_FD"
	ForegroundEnv = "RKT_STAGE1_NATIVE_FOREGROUND"
	// CgroupPathsEnv holds the pod cgroup's directories (JSON, see
	// cgroup.Pod.Paths): the supervisor need not find them again.
	CgroupPathsEnv = "RKT_STAGE1_NATIVE_CGROUP_PATHS"
)

// Fds the supervisor gets: the pod lock, the enter socket, the pipe
// whose EOF is the go-ahead, the pipe on which it says the pod is ready,
// what the apps' isolators ask (Security) and, with --private-users, the
// idmapping user namespace.
const (
	LockFD     = 3
	SocketFD   = 4
	SyncFD     = 5
	ReadyFD    = 6
	SecurityFD = 7
	UserNSFD   = 8
)

// Security is what the apps' isolators ask of the supervisor, app name →
// AppSecurity, worked out by `run` while the supervisor starts: so the
// supervisor links neither the appc schema, which decodes the isolators
// (~0.2 ms of its start-up), nor a BPF assembler (0.14 ms). `run` writes
// it as JSON into a memfd passed as SecurityFD before the go-ahead.
type Security map[string]AppSecurity

// AppSecurity is what an app's isolators and the pod's
// --insecure-options ask of the app's processes.
type AppSecurity struct {
	// Filter is the app's seccomp filter, encoded as raw instructions
	// (load.Encode); nil for none (--insecure-options=seccomp, or an
	// isolator turning it off).
	Filter []byte `json:"filter,omitempty"`
	// Caps are the capability sets of the app running as root
	// (Set.ForUID gives the others').
	Caps caps.Set `json:"caps"`
	// NoNewPrivs is an os/linux/no-new-privileges isolator's asking for
	// no_new_privs (caps.NoNewPrivs adds the rest of the rule).
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// Resources are the app's cgroup limits (nil for none).
	Resources *cgroups.Resources `json:"resources,omitempty"`
	// OOMScoreAdj is the app's oom_score_adj (nil: left alone).
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`
}

// Modes of the files the supervisor writes. Status files are read by
// unprivileged `rkt status`; env files and logs may hold secrets.
const (
	publicFileMode  = 0o644
	privateFileMode = 0o640
)

var entrypoints = map[string]entrypoint.Func{
	EntrypointInit: Init,
}

// Main runs the entrypoint argv selects and returns the exit status.
func Main(argv []string) int {
	return entrypoint.Main(BinaryName, entrypoints, []string{EntrypointInit}, argv)
}

// logger is the stage1 logger.
type logger = stage1log.Logger

func newLogger(debug bool) *logger { return stage1log.New(debug) }
