// Package capset holds capability sets as bit masks, as package caps
// works them out and the supervisor's app processes take them
// (stage1/native/appspawn), and the highest capability of the running
// kernel. It depends on nothing but golang.org/x/sys/unix.
package capset

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Masks are capability sets as bit masks (bit N is capability N).
type Masks struct {
	Bounding    uint64 `json:"bounding"`
	Effective   uint64 `json:"effective"`
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Ambient     uint64 `json:"ambient"`
}

// LastCap is the highest capability the running kernel knows.
func LastCap() (int, error) {
	n := 0
	for ; n < 64; n++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err != nil {
			break
		}
	}
	if n == 0 {
		return 0, errors.New("reading the bounding set: no capability known")
	}
	return n - 1, nil
}
