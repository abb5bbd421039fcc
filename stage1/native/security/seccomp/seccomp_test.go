package seccomp

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rkt/rkt/stage1/manifest"
	"github.com/rkt/rkt/stage1/native/appspawn"
	"github.com/rkt/rkt/stage1/native/appspawn/appspawntest"
	"github.com/rkt/rkt/stage1/native/security/caps/capset"
	"github.com/rkt/rkt/stage1/native/security/isolators"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// iso decodes one isolator as run does (isolators.Decode).
func iso(t *testing.T, name, value string) isolators.Isolator {
	t.Helper()
	isos, err := isolators.Decode([]manifest.Isolator{{Name: name, Value: json.RawMessage(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return isos[0]
}

func retain(t *testing.T, v string) isolators.Isolator {
	return iso(t, isolators.SeccompRetainSetName, v)
}

func remove(t *testing.T, v string) isolators.Isolator {
	return iso(t, isolators.SeccompRemoveSetName, v)
}

func mustBuild(t *testing.T, isos isolators.Isolators) *Filter {
	t.Helper()
	f, err := Build(isos, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.Active() {
		if _, err := f.Instructions(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestBuildDefault(t *testing.T) {
	f := mustBuild(t, nil)
	if f.Mode != Whitelist || f.Errno != 0 || !f.Active() {
		t.Fatalf("default filter: %+v", f)
	}
	for _, s := range []string{"read", "write", "execve", "futex", "clone", "getcwd"} {
		if !slices.Contains(f.Syscalls, s) {
			t.Errorf("default whitelist lacks %s", s)
		}
	}
	for _, s := range []string{"mount", "reboot", "ptrace", "kexec_load", "unshare"} {
		if slices.Contains(f.Syscalls, s) {
			t.Errorf("default whitelist has %s", s)
		}
	}
	if f.blockAction() != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("default action %#x, want kill", f.blockAction())
	}
}

func TestBuildGroups(t *testing.T) {
	for _, g := range []string{GroupRktDefaultWhitelist, GroupDockerDefaultWhitelist} {
		f := mustBuild(t, isolators.Isolators{retain(t, `{"set":["`+g+`"]}`)})
		if f.Mode != Whitelist || !slices.Contains(f.Syscalls, "openat") || slices.Contains(f.Syscalls, "mount") {
			t.Errorf("%s: %+v", g, f)
		}
	}
	for _, g := range []string{GroupRktDefaultBlacklist, GroupDockerDefaultBlacklist} {
		f := mustBuild(t, isolators.Isolators{remove(t, `{"set":["`+g+`"],"errno":"ENOSYS"}`)})
		if f.Mode != Blacklist || f.Errno != syscall.ENOSYS || !slices.Contains(f.Syscalls, "mount") || slices.Contains(f.Syscalls, "read") {
			t.Errorf("%s: %+v", g, f)
		}
		// Names of other architectures (vm86, stime on amd64) are dropped.
		if runtime.GOARCH == "amd64" && slices.Contains(f.Syscalls, "vm86") {
			t.Errorf("%s: foreign syscall kept", g)
		}
	}
	f := mustBuild(t, isolators.Isolators{retain(t, `{"set":["@appc.io/all"]}`)})
	if f.Active() {
		t.Error("@appc.io/all retain-set must disable seccomp")
	}
	f = mustBuild(t, isolators.Isolators{remove(t, `{"set":["@appc.io/empty"],"errno":"EPERM"}`)})
	if f.Mode != Whitelist || !slices.Contains(f.Syscalls, "read") || f.Errno != syscall.EPERM {
		t.Errorf("@appc.io/empty remove-set: %+v", f)
	}
	f = mustBuild(t, isolators.Isolators{remove(t, `{"set":["@docker/default-blacklist","getcwd","uname"]}`)})
	if !slices.Contains(f.Syscalls, "getcwd") || !slices.Contains(f.Syscalls, "ptrace") || f.Errno != 0 {
		t.Errorf("mixed remove-set: %+v", f)
	}
	f = mustBuild(t, isolators.Isolators{retain(t, `{"set":["read","write","exit_group"],"errno":"EACCES"}`)})
	if !slices.Equal(f.Syscalls, []string{"exit_group", "read", "write"}) || f.Errno != syscall.EACCES {
		t.Errorf("retain-set: %+v", f)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := map[string]isolators.Isolators{
		"too many seccomp isolators": {retain(t, `{"set":["read"]}`), remove(t, `{"set":["mount"]}`)},
		"unknown syscall":            {retain(t, `{"set":["no_such_syscall"]}`)},
		"unsupported seccomp group":  {retain(t, `{"set":["@systemd/clock"]}`)},
		"unknown errno":              {remove(t, `{"set":["mount"],"errno":"ENOTANERRNO"}`)},
		"would block every syscall":  {remove(t, `{"set":["@appc.io/all"]}`)},
	}
	for want, isos := range cases {
		_, err := Build(isos, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	// Insecure option disables seccomp but the isolator count is still checked.
	if f, err := Build(isolators.Isolators{retain(t, `{"set":["read"]}`)}, true); err != nil || f.Active() {
		t.Errorf("disabled: %v %+v", err, f)
	}
}

func TestInstructions(t *testing.T) {
	f := mustBuild(t, isolators.Isolators{remove(t, `{"set":["getcwd"],"errno":"EPERM"}`)})
	insts, err := f.Instructions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(insts); err != nil {
		t.Fatal(err)
	}
	var sawErrno bool
	for _, in := range insts {
		if r, ok := in.(bpf.RetConstant); ok && r.Val == unix.SECCOMP_RET_ERRNO|uint32(syscall.EPERM) {
			sawErrno = true
		}
	}
	if !sawErrno {
		t.Error("no errno return in blacklist program")
	}
	// The default whitelist allows, kills, or refuses an x32 number.
	f = mustBuild(t, nil)
	insts, _ = f.Instructions()
	for _, in := range insts {
		if r, ok := in.(bpf.RetConstant); ok && r.Val != unix.SECCOMP_RET_ALLOW && r.Val != unix.SECCOMP_RET_KILL_PROCESS && r.Val != x32Errno {
			t.Fatalf("default whitelist returns %#x", r.Val)
		}
	}
}

const helperEnv = "RKT_SECCOMP_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper runs in the test binary started again under a filter (see
// runHelper), so that filters never touch the test process itself.
func helper(mode string) int {
	fail := func(err error) int { os.Stderr.WriteString(err.Error() + "\n"); return 1 }
	buf := make([]byte, 4096)
	switch mode {
	case "errno", "kill":
		// Reached under the filter: the runtime's start did not trip it.
		os.Stdout.WriteString("calling getcwd\n")
		_, err := unix.Getcwd(buf)
		if !errors.Is(err, syscall.EPERM) {
			return fail(errors.New("getcwd: got " + errString(err) + ", want EPERM"))
		}
		// uname is not in the set and must still work.
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return fail(err)
		}
	case "default":
		// Ordinary Go work: goroutines, files, timers, fork+exec.
		done := make(chan error)
		for range 4 {
			go func() {
				_, err := os.ReadFile("/proc/self/status")
				done <- err
			}()
		}
		for range 4 {
			if err := <-done; err != nil {
				return fail(err)
			}
		}
		if _, err := os.Getwd(); err != nil {
			return fail(err)
		}
		plain := exec.Command(os.Args[0], "-test.run=^$")
		plain.Env = append(os.Environ(), helperEnv+"=")
		out, err := plain.CombinedOutput()
		if err != nil {
			return fail(errors.New("exec under filter: " + err.Error() + ": " + string(out)))
		}
		// mount is not whitelisted: the process would be killed, so only
		// check via a child that it is.
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=mount")
		err = cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGSYS {
			return fail(errors.New("mount under default filter: " + errString(err)))
		}
	case "mount":
		// Inherits the default filter from the parent helper.
		_ = unix.Mount("none", "/nonexistent", "tmpfs", 0, "")
		return 0
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// helperIsolators are the isolators of each helper mode: getcwd blocked
// with EPERM, getcwd blocked (kill), and the default whitelist.
func helperIsolators(t *testing.T, mode string) isolators.Isolators {
	switch mode {
	case "errno":
		return isolators.Isolators{remove(t, `{"set":["getcwd"],"errno":"EPERM"}`)}
	case "kill":
		return isolators.Isolators{remove(t, `{"set":["getcwd"]}`)}
	}
	return nil
}

// runHelper starts the test binary as helper mode under the filter of
// the mode's isolators, as the supervisor starts an app (appspawn, with
// no_new_privs and every capability), and returns how it ended.
func runHelper(t *testing.T, mode string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	prog, err := mustBuild(t, helperIsolators(t, mode)).Raw()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out, ws, err := appspawntest.Run(t, &appspawn.Spec{
		Path: self, Argv: []string{self, "-test.run=^$"}, Env: append(os.Environ(), helperEnv+"="+mode),
		Dir:        wd,
		Caps:       capset.Masks{Bounding: ^uint64(0)},
		NoNewPrivs: true, Seccomp: prog,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		return out, nil
	}
	t.Logf("helper %s output: %s", mode, out)
	return out, helperExit{ws}
}

// helperExit is how a helper that did not exit 0 ended.
type helperExit struct{ ws unix.WaitStatus }

func (e helperExit) Error() string {
	if e.ws.Signaled() {
		return "killed by " + e.ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(e.ws.ExitStatus())
}

func requireSeccomp(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/sys/kernel/seccomp/actions_avail"); err != nil {
		t.Skip("seccomp filters not supported by this kernel")
	}
}

func TestLoadErrno(t *testing.T) {
	requireSeccomp(t)
	if _, err := runHelper(t, "errno"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKill(t *testing.T) {
	requireSeccomp(t)
	out, err := runHelper(t, "kill")
	var he helperExit
	if !errors.As(err, &he) || he.ws.Signal() != syscall.SIGSYS || !strings.Contains(out, "calling getcwd") {
		t.Fatalf("want death by SIGSYS at getcwd, got %v (output %q)", err, out)
	}
}

func TestLoadDefaultWhitelist(t *testing.T) {
	requireSeccomp(t)
	if _, err := runHelper(t, "default"); err != nil {
		t.Fatal(err)
	}
}
