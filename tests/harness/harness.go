// Package harness runs the real rkt binaries for the functional tests in
// tests/: it builds them once per test process, gives each test its own
// data and config directories, and checks at the end that nothing leaked
// (mounts, network namespaces, veths, cgroups, iptables chains).
package harness

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/fixtures"
)

var (
	top     string // the repository root
	outDir  string // where this process built the binaries
	tmpRoot string // every test's directories live below this
)

// Top returns the repository root.
func Top() string { return top }

// BinDir returns the directory holding the built rkt binaries.
func BinDir() string { return filepath.Join(outDir, "bin") }

// Bin returns the path of one built binary, e.g. Bin("rkt").
func Bin(name string) string { return filepath.Join(BinDir(), name) }

// Main is the TestMain of a functional test package: it builds the
// binaries, runs the tests, runs the leak check, and exits.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	top = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	var err error
	tmpRoot, err = os.MkdirTemp("", "rkt-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	// Tests run some binaries as an unprivileged user: they must reach them.
	_ = os.Chmod(tmpRoot, 0o755)
	outDir = filepath.Join(tmpRoot, "build")
	if pre := os.Getenv("RKT_TEST_BUILD"); pre != "" {
		// A caller that has just built (scripts/test) may reuse that build.
		outDir = pre
	} else {
		start := time.Now()
		cmd := exec.Command(filepath.Join(top, "scripts", "build"), "--out", outDir)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "harness: scripts/build failed:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "harness: built rkt in %s\n", time.Since(start).Round(time.Millisecond))
	}
	before := snapshot()
	code := m.Run()
	stopServers()
	if leaks := before.leaked(settle(before, snapshot)); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "LEAK CHECK FAILED: the tests left behind:\n  %s\n", strings.Join(leaks, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// TmpRoot returns the directory below which every test's files live.
func TmpRoot() string { return tmpRoot }

// RequireRoot skips a test that needs root, saying why.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root)")
	}
}

// Env is one test's rkt installation: its own data dir and config dirs.
type Env struct {
	T            testing.TB
	Root         string
	DataDir      string
	SystemConfig string
	LocalConfig  string
	UserConfig   string
}

// NewEnv makes fresh directories for one test and removes them after it
// (after unmounting anything left under them, so that a failed test
// cannot make the next one fail too).
func NewEnv(t testing.TB) *Env {
	t.Helper()
	root, err := os.MkdirTemp(tmpRoot, strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{
		T: t, Root: root,
		DataDir:      filepath.Join(root, "data"),
		SystemConfig: filepath.Join(root, "system-config"),
		LocalConfig:  filepath.Join(root, "local-config"),
		UserConfig:   filepath.Join(root, "user-config"),
	}
	for _, d := range []string{e.DataDir, e.SystemConfig, e.LocalConfig, e.UserConfig} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		unmountUnder(root)
		os.RemoveAll(root)
	})
	return e
}

// GlobalFlags returns the flags that point rkt at this Env's directories.
func (e *Env) GlobalFlags() []string {
	return []string{
		"--dir=" + e.DataDir,
		"--system-config=" + e.SystemConfig,
		"--local-config=" + e.LocalConfig,
		"--user-config=" + e.UserConfig,
	}
}

// Result is what a finished command printed and how it exited.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

func (r *Result) String() string {
	return fmt.Sprintf("%q exited %d\nstdout:\n%s\nstderr:\n%s", r.Args, r.Code, r.Stdout, r.Stderr)
}

// Rkt runs `rkt SUB ARGS...` with this Env's global flags placed after
// the subcommand name.
func (e *Env) Rkt(args ...string) *Result {
	e.T.Helper()
	full := args
	if len(args) > 0 {
		full = append(append([]string{args[0]}, e.GlobalFlags()...), args[1:]...)
	}
	return Run(e.T, Bin("rkt"), full...)
}

// Run runs any program to completion and collects its output. It never
// fails the test by itself: callers assert on the Result.
func Run(t testing.TB, prog string, args ...string) *Result {
	t.Helper()
	return RunWith(t, RunOpts{}, prog, args...)
}

// OK fails the test unless the command exited 0.
func (r *Result) OK(t testing.TB) *Result {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("expected success: %s", r)
	}
	return r
}

// Fails fails the test unless the command exited with code and its
// stderr contains every one of msgs.
func (r *Result) Fails(t testing.TB, code int, msgs ...string) *Result {
	t.Helper()
	if r.Code != code {
		t.Fatalf("expected exit status %d: %s", code, r)
	}
	for _, m := range msgs {
		if !strings.Contains(r.Stderr, m) {
			t.Fatalf("expected stderr to contain %q: %s", m, r)
		}
	}
	return r
}

// Fixtures returns the directory of the shared test images built by
// ../shared/fixtures/make-fixtures.sh (see package fixtures).
func Fixtures(t testing.TB) string {
	t.Helper()
	return fixtures.Require(t)
}

var (
	aceOnce sync.Once
	aceDir  string
	aceErr  error
)

// ACEImages returns the directory of the appc ACE validator images built
// by ../shared/conformance/build-ace-images.sh, built at most once per
// machine (cached in build/ace, rebuilt when the script changes).
func ACEImages(t testing.TB) string {
	t.Helper()
	aceOnce.Do(func() {
		script := filepath.Join(top, "..", "shared", "conformance", "build-ace-images.sh")
		sum, err := os.ReadFile(script)
		if err != nil {
			aceErr = fmt.Errorf("ACE script: %w", err)
			return
		}
		dir := filepath.Join(top, "build", "ace")
		stamp := filepath.Join(dir, ".script")
		if old, err := os.ReadFile(stamp); err == nil && bytes.Equal(old, sum) {
			aceDir = dir
			return
		}
		os.RemoveAll(dir)
		cmd := exec.Command("bash", script, dir)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Run(); err != nil {
			aceErr = fmt.Errorf("build-ace-images.sh: %w", err)
			return
		}
		if err := os.WriteFile(stamp, sum, 0o644); err != nil {
			aceErr = err
			return
		}
		aceDir = dir
	})
	if aceErr != nil {
		t.Fatal(aceErr)
	}
	return aceDir
}
