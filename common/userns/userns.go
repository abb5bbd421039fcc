// Package userns allocates the uid/gid ranges of --private-users pods
// (reference SEC-USERNS-01): like rkt, a random range of 65536 ids at
// a multiple of 65536 (shift = rand(1..0x7FFF) << 16, so the most
// significant bit stays clear for devpts); unlike rkt, two pods never get
// the same range. Each allocated range is a file, named by its shift and
// holding the pod's UUID, in the data directory's "userns" directory,
// created and removed under the "userns" key lock. The pod records its
// range in its "private-users-prepared" file; gc frees it.
package userns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/flock"
)

// Dir is the directory of the data directory holding the allocations.
const Dir = "userns"

// lockKey is the key lock (in the data directory's locks) taken while
// ranges are allocated or freed.
const lockKey = "userns"

// Size is the number of ids of every range.
const Size = 1 << 16

// maxSlot is the highest range number: shifts stay below 1<<31.
const maxSlot = 0x7FFF

// Range is a pod's id range: ids 0..Count-1 inside are Shift..Shift+Count-1
// on the host.
type Range struct {
	Shift, Count uint32
}

// String returns "SHIFT:COUNT", the form of the private-users-prepared
// file and of the stage1's --private-users argument.
func (r Range) String() string {
	return fmt.Sprintf("%d:%d", r.Shift, r.Count)
}

// Parse reads "SHIFT:COUNT". It refuses ranges that would map host root
// or wrap around.
func Parse(s string) (Range, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	shift, err1 := strconv.ParseUint(a, 10, 32)
	count, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Range{}, fmt.Errorf("invalid private users range %q: want SHIFT:COUNT", s)
	}
	if shift == 0 || count == 0 || shift+count > 1<<32 {
		return Range{}, fmt.Errorf("invalid private users range %q: must not contain id 0 nor wrap", s)
	}
	return Range{Shift: uint32(shift), Count: uint32(count)}, nil
}

// Allocate picks a free range for the pod uuid and records it.
func Allocate(root dirs.Root, uuid string) (Range, error) {
	if _, err := os.Stat("/proc/self/uid_map"); err != nil {
		return Range{}, fmt.Errorf("--private-users: the kernel has no user namespaces: %w", err)
	}
	dir := filepath.Join(root.Path(), Dir)
	unlock, err := lockedDir(root, dir)
	if err != nil {
		return Range{}, err
	}
	defer unlock()
	return allocate(dir, uuid, maxSlot)
}

// allocate records a free range among slots 1..slots in dir (locked by
// the caller) for uuid.
func allocate(dir, uuid string, slots int) (Range, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Range{}, fmt.Errorf("--private-users: random range: %w", err)
	}
	start := int(binary.LittleEndian.Uint16(b[:]))%slots + 1
	// From a random slot on, the first free one: a collision costs a
	// stat, not a retry of the random draw.
	for i := range slots {
		slot := (start-1+i)%slots + 1
		r := Range{Shift: uint32(slot) << 16, Count: Size}
		f, err := os.OpenFile(filepath.Join(dir, strconv.FormatUint(uint64(r.Shift), 10)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return Range{}, fmt.Errorf("--private-users: recording the range: %w", err)
		}
		_, err = f.WriteString(uuid)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(f.Name())
			return Range{}, fmt.Errorf("--private-users: recording the range: %w", err)
		}
		return r, nil
	}
	return Range{}, errors.New("--private-users: every id range is in use")
}

// Free releases the range r of pod uuid. A range recorded for another
// pod, or not recorded, is left alone.
func Free(root dirs.Root, uuid string, r Range) error {
	dir := filepath.Join(root.Path(), Dir)
	unlock, err := lockedDir(root, dir)
	if err != nil {
		return err
	}
	defer unlock()
	return freeLocked(dir, strconv.FormatUint(uint64(r.Shift), 10), uuid)
}

// Owners returns the allocated ranges by shift, with the UUID of the pod
// holding each.
func Owners(root dirs.Root) (map[uint32]string, error) {
	ents, err := os.ReadDir(filepath.Join(root.Path(), Dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("id ranges: %w", err)
	}
	out := map[uint32]string{}
	for _, e := range ents {
		shift, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root.Path(), Dir, e.Name()))
		if err != nil {
			continue
		}
		out[uint32(shift)] = string(b)
	}
	return out, nil
}

// Sweep frees the ranges of pods for which exists is false: pods removed
// by hand, or whose removal failed half-way. A range is only recorded
// once its pod's directory exists, so a pod being prepared is never
// taken for a gone one.
func Sweep(root dirs.Root, exists func(uuid string) bool) error {
	dir := filepath.Join(root.Path(), Dir)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := lockedDir(root, dir)
	if err != nil {
		return err
	}
	defer unlock()
	owners, err := Owners(root)
	if err != nil {
		return err
	}
	var errs []error
	for shift, uuid := range owners {
		if !exists(uuid) {
			errs = append(errs, freeLocked(dir, strconv.FormatUint(uint64(shift), 10), uuid))
		}
	}
	return errors.Join(errs...)
}

func freeLocked(dir, name, uuid string) error {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("freeing id range %s: %w", name, err)
	}
	if string(b) != uuid {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("freeing id range %s: %w", name, err)
	}
	return nil
}

// lockedDir takes the allocation lock and makes sure dir exists.
func lockedDir(root dirs.Root, dir string) (func() error, error) {
	if err := os.MkdirAll(root.Locks(), 0o750); err != nil {
		return nil, fmt.Errorf("id ranges: %w", err)
	}
	unlock, err := flock.KeyLock(root.Locks(), lockKey, flock.Exclusive, true)
	if err != nil {
		return nil, fmt.Errorf("id ranges: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		_ = unlock()
		return nil, fmt.Errorf("id ranges: %w", err)
	}
	return unlock, nil
}
