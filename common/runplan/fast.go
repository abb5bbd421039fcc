//go:build amd64

package runplan

import (
	"fmt"
	"syscall"
	"unsafe"
)

// The fast path of rkt-run-prepared. `rkt run` is rkt-prepare execing
// rkt-run-prepared, which execs the stage1: three Go programs in a row,
// and on the machines rkt is measured on, starting a Go runtime costs
// ~1 ms, more than all rkt-run-prepared does once it runs. So rkt-prepare
// writes the plan of what rkt-run-prepared would do into the pod
// directory and passes its path as the first argument (--run-plan=PATH),
// and scripts/build makes entry (fast_amd64.s) rkt-run-prepared's entry
// point (go tool link -E). Before the runtime starts, entry:
//
//   - takes the path from argv[1], and goes on only as root;
//   - opens the plan, and goes on only if it is a regular file owned by
//     root and writable by no one else: the plan is trusted like the
//     stage1 it names, which lives in the same data directory;
//   - reads it (at most MaxSize bytes) and checks it as Decode does;
//   - makes the calls of its steps in order, and the exec step's execve
//     with the environment the kernel gave it, the step's variables (the
//     lock's, the timer slack's) replaced.
//
// Until a step is made, anything unexpected (another argv[1], no plan,
// a plan refused, more than fastMaxEnv environment variables) leaves
// everything to the Go path: entry jumps to the runtime's own entry
// point and rkt-run-prepared runs as if it had not been there (it then
// ignores --run-plan). Once a step failed, entry records which and its
// errno and jumps to the runtime too, and FastPathError turns them into
// the error the Go path would have returned: the pod is left where the
// failed step left it, as the Go path leaves it.

// fastMaxEnv is the most environment variables the fast path passes on.
const fastMaxEnv = 8192

// What entry reads and writes: statically allocated, usable before the
// runtime starts.
var (
	// fastBuf is the plan as read; one byte more than MaxSize tells a
	// plan too large.
	fastBuf [MaxSize + 1]byte
	// fastSize is how many bytes of fastBuf the plan is.
	fastSize uint64
	// fastPtrs is the exec step's argv then envp, each ending with nil
	// (uintptrs: the garbage collector must not see them).
	//lint:ignore U1000 written by entry, in assembly
	fastPtrs [MaxArgs + 1 + fastMaxEnv + 3]uintptr
	// fastFailed is 1 + the index of the step that failed, 0 if none
	// was made or none failed; fastErrno is the error it failed with.
	fastFailed, fastErrno uint64
)

// validate reports whether Decode would accept the n bytes at buf,
// without allocating or calling anything: entry's check of a plan.
// Implemented in fast_amd64.s.
//
//go:noescape
func validate(buf *byte, n int) bool

// entry is rkt-run-prepared's ELF entry point (see above). It is never
// called from Go.
//
//lint:ignore U1000 the entry point: scripts/build links rkt-run-prepared with -E
func entry()

// FastPathError returns the error of the step at which the fast path
// stopped, for the pod uuid, or nil when it made no step (then the Go
// path starts the pod).
func FastPathError(uuid string) error {
	if fastFailed == 0 {
		return nil
	}
	p, err := Decode(fastBuf[:fastSize])
	if err != nil || fastFailed > uint64(len(p.Steps)) {
		// Cannot be: entry checked the plan as Decode does.
		return fmt.Errorf("pod %s: start plan step %d failed: %w", uuid, fastFailed, syscall.Errno(fastErrno))
	}
	p.Pod = uuid
	return p.stepError(int(fastFailed-1), syscall.Errno(fastErrno))
}

// validBytes is validate on a Go slice, for tests.
func validBytes(b []byte) bool {
	if len(b) == 0 {
		var z byte
		return validate(&z, 0)
	}
	return validate(unsafe.SliceData(b), len(b))
}
