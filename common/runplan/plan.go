// Package runplan is the start plan of a pod that `rkt run` prepared:
// the system calls that rkt-run-prepared makes to start it (move the pod
// to run/, give it a private mount namespace, mount its trees, enter its
// directory, exec the stage1), worked out by rkt-prepare and written into
// the pod directory, so that rkt-run-prepared can carry them out before
// its Go runtime starts (fast_amd64.s). The same Plan, built by
// runpod.Plan, is what rkt-run-prepared's Go path carries out with Run:
// both paths make the same calls in the same order, and fail with the
// same messages (Step.Describe).
//
// The encoding is laid out for the assembly: a header, fixed-size
// records, then NUL-terminated strings and arrays of string offsets,
// each field a little-endian uint64. Nothing in it is a pointer: the
// executor adds the buffer's address to an offset when it makes a call.
//
//	header  "RKTPLAN1", size of the whole plan, number of records
//	record  op, then seven arguments (see the Op constants)
//
// A string argument is 0 (a nil pointer) or the offset of a string; an
// argv argument is the offset of an 8-byte-aligned array of string
// offsets that ends with 0. The plan's last byte is a NUL, so every
// string ends inside it; the last record, and only it, is an exec.
package runplan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FileName is the plan's name in the pod directory.
const FileName = "run-plan"

// Magic opens every plan; its last byte is the format's version.
const Magic = "RKTPLAN1"

// MaxSize is the largest plan the executors read.
const MaxSize = 64 << 10

// The header: magic, size, number of records.
const headerSize = 24

// recordSize is the size of a record: the op and its seven arguments.
const recordSize = 64

// Op is what a step does.
type Op uint64

// The steps a plan is made of, with their arguments.
const (
	// OpRename is rename(2) of Strs[0] to Strs[1].
	OpRename Op = 1
	// OpUnshare is unshare(2) with Flags.
	OpUnshare Op = 2
	// OpMount is mount(2) of Strs[0] (source), Strs[1] (target),
	// Strs[2] (fstype), Flags, Strs[3] (data); when that fails with
	// EINVAL and Strs[4] is set, mount(2) again with Strs[4] as data.
	// An empty string is a nil pointer.
	OpMount Op = 3
	// OpChdir is chdir(2) to Strs[0].
	OpChdir Op = 4
	// OpExec is execve(2) of Strs[0] with Argv, and the environment the
	// process has with Strs[1] and, unless empty, Strs[2] (NAME=VALUE)
	// in place of any NAME=.
	OpExec Op = 5
	// OpTimerSlack is prctl(PR_SET_TIMERSLACK, Flags).
	OpTimerSlack Op = 6
)

// Step is one system call of a plan.
type Step struct {
	Op    Op
	Strs  []string
	Flags uint64
	Argv  []string
}

// Plan is the steps that start a pod, in order; the last is an exec.
type Plan struct {
	// Pod is the pod's UUID, for messages.
	Pod   string
	Steps []Step
}

// layout is where an op keeps its arguments in a record: the slots of
// its string arguments (Strs, in order), those of them a call cannot take
// as nil pointers, and the slot of its Flags (-1: none). OpExec's argv is
// in slot 1.
type layout struct {
	strs, required []int
	flags          int
}

var layouts = map[Op]layout{
	OpRename:     {strs: []int{0, 1}, required: []int{0, 1}, flags: -1},
	OpUnshare:    {flags: 0},
	OpMount:      {strs: []int{0, 1, 2, 4, 5}, required: []int{1}, flags: 3},
	OpChdir:      {strs: []int{0}, required: []int{0}, flags: -1},
	OpExec:       {strs: []int{0, 2, 3}, required: []int{0, 2}, flags: -1},
	OpTimerSlack: {flags: 0},
}

// envEntry reports whether an exec step's environment entry e is
// NAME=VALUE, or the second one and empty (none).
func envEntry(j int, e string) bool {
	k, _, ok := strings.Cut(e, "=")
	return ok && k != "" || j == 1 && e == ""
}

// ErrFormat is Decode's error.
var ErrFormat = errors.New("not a start plan")

// Encode lays the plan out in its file format.
func (p *Plan) Encode() ([]byte, error) {
	if len(p.Steps) == 0 || p.Steps[len(p.Steps)-1].Op != OpExec {
		return nil, errors.New("start plan: the last step must be an exec")
	}
	var strs bytes.Buffer
	// Strings and arrays follow the records; offsets are from the start.
	base := headerSize + recordSize*len(p.Steps)
	str := func(s string) (uint64, error) {
		if s == "" {
			return 0, nil
		}
		if strings.IndexByte(s, 0) >= 0 {
			return 0, fmt.Errorf("start plan: NUL in %q", s)
		}
		off := base + strs.Len()
		strs.WriteString(s)
		strs.WriteByte(0)
		return uint64(off), nil
	}
	recs := make([]byte, 0, recordSize*len(p.Steps))
	for i, s := range p.Steps {
		l, ok := layouts[s.Op]
		if !ok || len(s.Strs) != len(l.strs) || (s.Op == OpExec) != (i == len(p.Steps)-1) {
			return nil, fmt.Errorf("start plan: malformed step %d (op %d)", i, s.Op)
		}
		var args [7]uint64
		var err error
		for j, slot := range l.strs {
			if s.Strs[j] == "" && slices.Contains(l.required, slot) {
				return nil, fmt.Errorf("start plan: step %d (op %d): argument %d is empty", i, s.Op, j)
			}
			if args[slot], err = str(s.Strs[j]); err != nil {
				return nil, err
			}
		}
		if l.flags >= 0 {
			args[l.flags] = s.Flags
		}
		if s.Op == OpExec {
			if len(s.Argv) == 0 {
				return nil, fmt.Errorf("start plan: step %d: exec without argv[0]", i)
			}
			for j, e := range s.Strs[1:] {
				if !envEntry(j, e) {
					return nil, fmt.Errorf("start plan: step %d: environment entry %q is not NAME=VALUE", i, e)
				}
			}
			offs := make([]uint64, 0, len(s.Argv)+1)
			for _, a := range s.Argv {
				// An empty argument must still be a string: 0 ends argv.
				off := uint64(base + strs.Len())
				if strings.IndexByte(a, 0) >= 0 {
					return nil, fmt.Errorf("start plan: NUL in %q", a)
				}
				strs.WriteString(a)
				strs.WriteByte(0)
				offs = append(offs, off)
			}
			for (base+strs.Len())%8 != 0 {
				strs.WriteByte(0)
			}
			args[1] = uint64(base + strs.Len())
			for _, o := range append(offs, 0) {
				strs.Write(binary.LittleEndian.AppendUint64(nil, o))
			}
		}
		recs = binary.LittleEndian.AppendUint64(recs, uint64(s.Op))
		for _, a := range args {
			recs = binary.LittleEndian.AppendUint64(recs, a)
		}
	}
	strs.WriteByte(0) // the plan's last byte, a NUL
	size := base + strs.Len()
	if size > MaxSize {
		return nil, fmt.Errorf("start plan: %d bytes, more than %d", size, MaxSize)
	}
	out := make([]byte, 0, size)
	out = append(out, Magic...)
	out = binary.LittleEndian.AppendUint64(out, uint64(size))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(p.Steps)))
	out = append(out, recs...)
	return append(out, strs.Bytes()...), nil
}

// Decode reads a plan back, with exactly the checks the assembly makes
// before it carries one out: a plan Decode refuses is one the fast path
// leaves to the Go path, untouched.
func Decode(b []byte) (*Plan, error) {
	if len(b) < headerSize+recordSize+1 || len(b) > MaxSize || string(b[:8]) != Magic {
		return nil, ErrFormat
	}
	u64 := func(off uint64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	size := uint64(len(b))
	if u64(8) != size || b[size-1] != 0 {
		return nil, ErrFormat
	}
	n := u64(16)
	if n == 0 || n > (size-headerSize)/recordSize {
		return nil, ErrFormat
	}
	// str reads a string argument: 0, or an offset inside the plan.
	str := func(off uint64) (string, bool) {
		if off == 0 {
			return "", true
		}
		if off >= size {
			return "", false
		}
		end := bytes.IndexByte(b[off:], 0)
		return string(b[off : off+uint64(end)]), true
	}
	p := &Plan{}
	for i := range n {
		r := headerSize + i*recordSize
		op := Op(u64(r))
		var a [7]uint64
		for j := range a {
			a[j] = u64(r + 8 + 8*uint64(j))
		}
		if (op == OpExec) != (i == n-1) {
			return nil, ErrFormat
		}
		l, ok := layouts[op]
		if !ok {
			return nil, ErrFormat
		}
		s := Step{Op: op}
		for _, slot := range l.strs {
			v, ok := str(a[slot])
			if !ok || a[slot] == 0 && slices.Contains(l.required, slot) {
				return nil, ErrFormat
			}
			s.Strs = append(s.Strs, v)
		}
		if l.flags >= 0 {
			s.Flags = a[l.flags]
		}
		if op == OpExec {
			for j, e := range s.Strs[1:] {
				if !envEntry(j, e) || j == 1 && a[3] != 0 && e == "" {
					return nil, ErrFormat
				}
			}
			arr := a[1]
			if arr == 0 || arr%8 != 0 {
				return nil, ErrFormat
			}
			for {
				if arr > size-8 {
					return nil, ErrFormat
				}
				off := u64(arr)
				if off == 0 {
					break
				}
				v, ok := str(off)
				if !ok || len(s.Argv) == MaxArgs {
					return nil, ErrFormat
				}
				s.Argv = append(s.Argv, v)
				arr += 8
			}
			if len(s.Argv) == 0 {
				return nil, ErrFormat
			}
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

// MaxArgs is the most arguments an exec step may have.
const MaxArgs = 1024

// Describe says what a step does, for the error when it fails.
func (s *Step) Describe() string {
	switch s.Op {
	case OpRename:
		return fmt.Sprintf("moving %s to %s", s.Strs[0], s.Strs[1])
	case OpUnshare:
		return "new mount namespace"
	case OpMount:
		if s.Strs[2] != "" {
			return fmt.Sprintf("mounting %s on %s", s.Strs[2], s.Strs[1])
		}
		return fmt.Sprintf("changing the propagation of %s", s.Strs[1])
	case OpChdir:
		return "entering " + s.Strs[0]
	case OpExec:
		return "executing stage1 " + s.Strs[0]
	case OpTimerSlack:
		return "setting the timer slack"
	}
	return fmt.Sprintf("step %d", s.Op)
}
