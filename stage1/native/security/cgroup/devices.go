package cgroup

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// Any is the major or minor number of a rule that matches every number.
const Any = -1

// DeviceRule allows one kind of access to a set of devices
// (reference SEC-DEV-01).
type DeviceRule struct {
	// Type is 'c' (character) or 'b' (block).
	Type byte
	// Major and Minor select the devices; Any matches all.
	Major, Minor int64
	// Access is a subset of "rwm": read, write, mknod.
	Access string
}

// String returns the rule in the syntax of the v1 devices.allow file.
func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n == Any {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// DefaultDevices are the devices of the pod's minimal /dev: null, zero,
// full, random, urandom, tty, console, ptmx and the pod's pts. Nothing
// else may be opened or created by the apps unless a volume passes it.
var DefaultDevices = []DeviceRule{
	{'c', 1, 3, "rwm"},     // null
	{'c', 1, 5, "rwm"},     // zero
	{'c', 1, 7, "rwm"},     // full
	{'c', 1, 8, "rwm"},     // random
	{'c', 1, 9, "rwm"},     // urandom
	{'c', 5, 0, "rwm"},     // tty
	{'c', 5, 1, "rwm"},     // console
	{'c', 5, 2, "rwm"},     // ptmx
	{'c', 136, Any, "rwm"}, // pts/*
}

// maxVolumeDevices bounds the walk of a directory volume below /dev.
const maxVolumeDevices = 4096

// HostDeviceRules returns the rules that let the apps use the host
// devices a host volume passes: its source when that is a device node,
// or the device nodes below it when it is a directory under /dev (such
// as /dev/dri). A read-only volume allows reading only.
func HostDeviceRules(source string, readOnly bool) ([]DeviceRule, error) {
	access := "rw"
	if readOnly {
		access = "r"
	}
	rule := func(fi fs.FileInfo) (DeviceRule, bool) {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || fi.Mode()&fs.ModeDevice == 0 {
			return DeviceRule{}, false
		}
		t := byte('b')
		if fi.Mode()&fs.ModeCharDevice != 0 {
			t = 'c'
		}
		return DeviceRule{t, int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), access}, true
	}
	fi, err := os.Stat(source)
	if err != nil {
		return nil, fmt.Errorf("device rules for volume %s: %w", source, err)
	}
	if r, ok := rule(fi); ok {
		return []DeviceRule{r}, nil
	}
	abs, err := filepath.EvalSymlinks(source)
	if err != nil || !fi.IsDir() || (abs != "/dev" && !strings.HasPrefix(abs, "/dev/")) {
		return nil, nil
	}
	var out []DeviceRule
	seen := map[DeviceRule]bool{}
	err = filepath.Walk(abs, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return nil // a node that went away
		}
		if r, ok := rule(fi); ok && !seen[r] {
			seen[r] = true
			out = append(out, r)
			if len(out) > maxVolumeDevices {
				return fmt.Errorf("more than %d devices below %s", maxVolumeDevices, abs)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("device rules for volume %s: %w", source, err)
	}
	return out, nil
}

// AllowDevices restricts the pod's devices to rules: every process of
// the pod (supervisor, apps, entered commands, in any of the pod's
// cgroups) may only open or create the devices they allow. It must be
// called before the pod's child cgroups exist. On cgroup v1 it writes
// devices.deny and devices.allow of the pod's devices cgroup (its
// children inherit the list); on v2 it attaches an eBPF device program
// to the pod's cgroup, which applies to all its descendants.
func (p *Pod) AllowDevices(rules []DeviceRule) error {
	if !cgroups.IsCgroup2UnifiedMode() {
		if dir := p.mgr.Path("devices"); dir != "" {
			return allowDevicesV1(dir, rules)
		}
	} else if dir := p.mgr.Path(""); dir != "" {
		if err := AttachDeviceProgram(dir, rules); err != nil {
			return fmt.Errorf("pod %s: %w", p.uuid, err)
		}
		return nil
	}
	return fmt.Errorf("pod %s: no devices controller and no cgroup v2: the device rules cannot be enforced", p.uuid)
}

func allowDevicesV1(dir string, rules []DeviceRule) error {
	if err := os.WriteFile(filepath.Join(dir, "devices.deny"), []byte("a"), 0); err != nil {
		return fmt.Errorf("device rules: %w", err)
	}
	// One rule per write(2), all through one open file.
	f, err := os.OpenFile(filepath.Join(dir, "devices.allow"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("device rules: %w", err)
	}
	for _, r := range rules {
		if _, err := f.WriteString(r.String()); err != nil {
			f.Close()
			return fmt.Errorf("device rule %q: %w", r, err)
		}
	}
	return f.Close()
}

// eBPF device programs (BPF_PROG_TYPE_CGROUP_DEVICE): the context is
// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
// access_type = access << 16 | type.
const (
	bpfDevBlock  = 1 // BPF_DEVCG_DEV_BLOCK
	bpfDevChar   = 2 // BPF_DEVCG_DEV_CHAR
	bpfAccMknod  = 1 // BPF_DEVCG_ACC_MKNOD
	bpfAccRead   = 2 // BPF_DEVCG_ACC_READ
	bpfAccWrite  = 4 // BPF_DEVCG_ACC_WRITE
	bpfAccessAll = bpfAccMknod | bpfAccRead | bpfAccWrite
)

// bpfInsn is struct bpf_insn.
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high one
	off  int16
	imm  int32
}

// Instruction encodings used by the device program.
const (
	bpfLdxMemW  = 0x61 // dst = *(u32 *)(src + off)
	bpfMov64X   = 0xbf // dst = src
	bpfMov64K   = 0xb7 // dst = imm
	bpfAnd64K   = 0x57 // dst &= imm
	bpfRsh64K   = 0x77 // dst >>= imm
	bpfJneK     = 0x55 // if dst != imm goto pc + off
	bpfExitInsn = 0x95
)

func insn(code uint8, dst, src uint8, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// deviceProgram returns the eBPF device program allowing rules and
// denying everything else: r3 = type, r4 = access, r5 = major, r6 = minor,
// then one block per rule that returns 1 when the rule matches.
func deviceProgram(rules []DeviceRule) ([]bpfInsn, error) {
	prog := []bpfInsn{
		insn(bpfLdxMemW, 2, 1, 0, 0),
		insn(bpfMov64X, 3, 2, 0, 0),
		insn(bpfAnd64K, 3, 0, 0, 0xffff),
		insn(bpfMov64X, 4, 2, 0, 0),
		insn(bpfRsh64K, 4, 0, 0, 16),
		insn(bpfLdxMemW, 5, 1, 4, 0),
		insn(bpfLdxMemW, 6, 1, 8, 0),
	}
	for _, r := range rules {
		var typ int32
		switch r.Type {
		case 'c':
			typ = bpfDevChar
		case 'b':
			typ = bpfDevBlock
		default:
			return nil, fmt.Errorf("device rule %q: type must be c or b", r)
		}
		var acc int32
		for _, c := range r.Access {
			switch c {
			case 'r':
				acc |= bpfAccRead
			case 'w':
				acc |= bpfAccWrite
			case 'm':
				acc |= bpfAccMknod
			default:
				return nil, fmt.Errorf("device rule %q: access must be of r, w, m", r)
			}
		}
		// Each jump goes past the block's end: its offset is filled in
		// once the block's length is known.
		var block []bpfInsn
		var jumps []int
		jne := func(reg uint8, v int32) {
			jumps = append(jumps, len(block))
			block = append(block, insn(bpfJneK, reg, 0, 0, v))
		}
		jne(3, typ)
		if r.Major != Any {
			jne(5, int32(r.Major))
		}
		if r.Minor != Any {
			jne(6, int32(r.Minor))
		}
		// Access asked beyond the rule's: not this rule.
		block = append(block, insn(bpfMov64X, 7, 4, 0, 0), insn(bpfAnd64K, 7, 0, 0, ^acc&bpfAccessAll))
		jne(7, 0)
		block = append(block, insn(bpfMov64K, 0, 0, 0, 1), insn(bpfExitInsn, 0, 0, 0, 0))
		for _, j := range jumps {
			block[j].off = int16(len(block) - j - 1)
		}
		prog = append(prog, block...)
	}
	return append(prog, insn(bpfMov64K, 0, 0, 0, 0), insn(bpfExitInsn, 0, 0, 0, 0)), nil
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// bpfProgAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type bpfProgAttachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

// AttachDeviceProgram loads the device program for rules and attaches it
// to the cgroup v2 directory dir (BPF_F_ALLOW_MULTI: a device must pass
// every program of the cgroup and of its ancestors). The attachment
// lives as long as the cgroup.
func AttachDeviceProgram(dir string, rules []DeviceRule) error {
	prog, err := deviceProgram(rules)
	if err != nil {
		return err
	}
	license := []byte("Apache-2.0\x00")
	logBuf := make([]byte, 64*1024)
	load := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog)),
		insns:    uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	copy(load.progName[:], "rkt_devices")
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&load)), unsafe.Sizeof(load))
	// The kernel read them through the addresses in load.
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	runtime.KeepAlive(logBuf)
	if errno != 0 {
		msg := strings.TrimRight(string(logBuf), "\x00")
		return fmt.Errorf("loading the device program: %w %s", errno, strings.TrimSpace(msg))
	}
	defer unix.Close(int(fd))
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device program: %w", err)
	}
	defer unix.Close(cg)
	attach := bpfProgAttachAttr{
		targetFD:    uint32(cg),
		attachBPFFD: uint32(fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attach)), unsafe.Sizeof(attach)); errno != 0 {
		return fmt.Errorf("attaching the device program to %s: %w", dir, errno)
	}
	return nil
}
