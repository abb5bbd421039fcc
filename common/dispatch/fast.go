//go:build amd64

package dispatch

import (
	"unsafe"

	"github.com/rkt/rkt/common/buildinfo"
)

// The dispatcher's fast path. Every `rkt SUB` goes through the
// dispatcher, and on the machines rkt is measured on, starting the Go
// runtime costs more than everything else the dispatcher does: a Go
// program that only execs another takes ~1.4 ms, the same exec from a
// program without a runtime ~0.05 ms (docs/benchmarks.md). So for the
// common shapes of a command line, `rkt` execs the subcommand before the
// runtime starts: scripts/build makes entry (fast_amd64.s) the program's
// entry point (go tool link -E), and entry calls plan on the arguments
// and environment the kernel left on the stack. When plan can tell that
// Main would exec a binary, entry execs it; otherwise, or if that exec
// fails, entry jumps to the runtime's own entry point and Main runs as
// if nothing had happened (and prints the error).
//
// plan takes only what it can decide exactly as route would, and leaves
// everything else to Main:
//
//   - leading arguments that are global flags of the forms --name=value,
//     --name value (flags with a value) or --name (boolean flags), with
//     the values route accepts without looking (any string) or that plan
//     checks the same way (each word of --insecure-options is one of
//     fastWords, lower case, without spaces); not -h, --help, --version,
//     "--", short flags, or --bool=value;
//   - then a subcommand named in full (prefixes are Main's);
//   - an exec dir (from --exec-path, $RKT_EXEC_PATH or buildinfo.ExecDir,
//     in that order) without a ".." component, which the kernel resolves
//     through symbolic links where filepath.Join would remove it;
//   - at most len(fastExec.argv)-1 arguments, a path under PATH_MAX.
//
// The one difference left: the environment is passed on as the kernel
// gave it, where Go's os.Environ drops the later duplicates of a
// variable. The subcommands, Go programs too, read the first one either
// way.
//
// One thing entry adds for `rkt run` (argv[0] rkt-run): it sets the
// timer slack to fastTimerSlack (stage1abi.TimerSlack) and passes the
// one it had in RKT_TIMER_SLACK, as rkt-run-prepared does for a stage1
// with stage1abi.AnnotationTimerSlack (runpod.Plan): rkt-prepare's and
// rkt-run-prepared's Go runtimes' monitor threads then wake less often,
// and the pod's processes still get the caller's slack (the plan gives
// it back before a stage1 that does not announce it). With more than
// fastMaxEnv variables, `rkt run` starts as the other commands do.

// fastExec is plan's result: the path to exec, and its argv (uintptrs,
// so that tests may hand plan Go memory without the garbage collector
// seeing pointers written by assembly).
type fastExec struct {
	path [4096]byte
	argv [1024]uintptr
}

// plan decides whether the dispatcher may exec a subcommand before the
// Go runtime starts. argv and envp are the kernel's: arrays of pointers
// to NUL-terminated strings, envp ending with a nil pointer. It fills in
// out and reports true when it may; it reads and writes nothing else,
// calls nothing and needs no runtime. Implemented in fast_amd64.s.
//
//go:noescape
func plan(argc int, argv, envp unsafe.Pointer, out *fastExec) bool

// entry is the dispatcher's ELF entry point (see above). It is never
// called from Go.
//
//lint:ignore U1000 the entry point: scripts/build links rkt with -E
func entry()

// fastTimerSlack is stage1abi.TimerSlack (a test checks), for entry.
const fastTimerSlack = 200_000

// fastMaxEnv is the most environment variables entry passes on to
// `rkt run` with its timer slack.
const fastMaxEnv = 8192

// What entry writes for `rkt run`: the environment, and the variable it
// adds to it (RKT_TIMER_SLACK=, then up to 20 digits and a NUL).
var (
	//lint:ignore U1000 written by entry, in assembly
	fastEnv [fastMaxEnv + 2]uintptr
	//lint:ignore U1000 written by entry, in assembly
	fastSlackEnv [40]byte
)

// The tables plan reads, as NUL-terminated strings in one Go string
// each: statically initialised data, readable before the runtime runs.
// zfast.go holds their contents, which the tests derive from Table and
// the global flag set.
var (
	// fastExecDir is buildinfo.ExecDir, which the linker may set.
	fastExecDir = &buildinfo.ExecDir
	// fastEnvKey names the environment variable of the exec dir.
	//lint:ignore U1000 read by plan, in assembly
	fastEnvKey = ExecPathEnv + "\x00"
)
