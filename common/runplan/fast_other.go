//go:build !amd64

package runplan

// FastPathError returns nil: only amd64 builds have the fast path
// (fast.go), and rkt-run-prepared always starts the pod from Go.
func FastPathError(uuid string) error { return nil }
