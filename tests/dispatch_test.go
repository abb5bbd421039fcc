package tests

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

func TestVersion(t *testing.T) {
	r := harness.Run(t, harness.Bin("rkt"), "version").OK(t)
	for _, want := range []string{"rkt Version: ", "appc Version: 0.8.11", "Go Version: go", "Go OS/Arch: linux/", "Features: ", "Default stage1 image: ", "Stage1 images directory: "} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if r2 := harness.Run(t, harness.Bin("rkt"), "--version").OK(t); r2.Stdout != r.Stdout {
		t.Errorf("--version differs from version:\n%s\n%s", r2.Stdout, r.Stdout)
	}
}

func TestHelp(t *testing.T) {
	r := harness.Run(t, harness.Bin("rkt"), "help").OK(t)
	for _, want := range []string{"USAGE:", "COMMANDS:", "GLOBAL OPTIONS:", "run-prepared", "metadata-service", "--insecure-options"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(r.Stdout, "cpuprofile") {
		t.Error("help shows the hidden --cpuprofile flag")
	}
	sub := harness.Run(t, harness.Bin("rkt"), "help", "config").OK(t)
	for _, want := range []string{"rkt config", "--pretty-print", "GLOBAL OPTIONS:", "--dir"} {
		if !strings.Contains(sub.Stdout, want) {
			t.Errorf("help config lacks %q:\n%s", want, sub.Stdout)
		}
	}
	// `rkt help SUB` and `rkt-SUB --help` are the same page.
	direct := harness.Run(t, harness.Bin("rkt-config"), "--help").OK(t)
	if direct.Stdout != sub.Stdout {
		t.Errorf("rkt-config --help differs from rkt help config")
	}
	harness.Run(t, harness.Bin("rkt"), "help", "fetch").OK(t)
	harness.Run(t, harness.Bin("rkt"), "help", "nosuch").Fails(t, 254, "'nosuch' is not a rkt command")
}

func TestUnknownAndMissingSubcommand(t *testing.T) {
	r := harness.Run(t, harness.Bin("rkt"), "nosuch").Fails(t, 254, "rkt: 'nosuch' is not a rkt command")
	if !strings.Contains(r.Stderr, "run-prepared") {
		t.Errorf("unknown command error lacks the command list: %s", r)
	}
	if r.Stdout != "" {
		t.Errorf("error wrote to stdout: %q", r.Stdout)
	}
	r = harness.Run(t, harness.Bin("rkt")).Fails(t, 2, "USAGE:")
	if r.Stdout != "" {
		t.Errorf("usage on no subcommand went to stdout")
	}
	harness.Run(t, harness.Bin("rkt"), "--bogus-flag", "list").Fails(t, 254, "unknown flag: --bogus-flag")
	harness.Run(t, harness.Bin("rkt"), "config", "--bogus-flag").Fails(t, 254, "unknown flag: --bogus-flag")
}

func TestPrefixMatch(t *testing.T) {
	e := harness.NewEnv(t)
	full := e.Rkt("config").OK(t)
	short := e.Rkt("conf").OK(t)
	if full.Stdout != short.Stdout {
		t.Errorf("`rkt conf` differs from `rkt config`")
	}
	// "r" matches rm, run and run-prepared: ambiguous is unknown.
	harness.Run(t, harness.Bin("rkt"), "r").Fails(t, 254, "is not a rkt command")
}

func TestInsecureOptions(t *testing.T) {
	e := harness.NewEnv(t)
	for _, ok := range []string{"none", "image", "tls,http", "ondisk", "all-fetch", "all-run", "all", "pubkey,capabilities,paths,seccomp"} {
		e.Rkt("config", "--insecure-options="+ok).OK(t)
	}
	e.Rkt("config", "--insecure-options=image,bogus").Fails(t, 254, `unknown insecure option "bogus"`)
}

// The exec path is one directory: --exec-path, then $RKT_EXEC_PATH, then
// the build-time one; $PATH is never searched.
func TestExecPath(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "rkt-config")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho fake-config \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := harness.Run(t, harness.Bin("rkt"), "--exec-path="+dir, "config", "--x").OK(t)
	if strings.TrimSpace(r.Stdout) != "fake-config --exec-path="+dir+" --x" {
		t.Errorf("--exec-path not used or arguments changed: %q", r.Stdout)
	}
	t.Setenv("RKT_EXEC_PATH", dir)
	r = harness.Run(t, harness.Bin("rkt"), "config").OK(t)
	if !strings.HasPrefix(r.Stdout, "fake-config") {
		t.Errorf("$RKT_EXEC_PATH not used: %q", r.Stdout)
	}
	t.Setenv("RKT_EXEC_PATH", t.TempDir())
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	harness.Run(t, harness.Bin("rkt"), "config").Fails(t, 254, "rkt-config not found in exec path")
}

// On amd64 the dispatcher execs the subcommand before the Go runtime
// starts when it can tell what Main would exec (common/dispatch/fast.go),
// and leaves every other command line to Main. GODEBUG=inittrace=1 makes
// a starting Go runtime print "init ..." lines: the fake subcommand, a
// shell script, prints none, so any come from the dispatcher.
func TestDispatchFastPath(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fast path is amd64 only")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rkt-config"), []byte("#!/bin/sh\necho fake-config \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GODEBUG", "inittrace=1")
	runtimeStarted := func(r *harness.Result) bool { return strings.Contains(r.Stderr, "init runtime @") }

	args := []string{"--dir=/nowhere", "--debug", "--insecure-options", "image,ondisk", "--exec-path=" + dir, "config", "--x", "--", "y"}
	r := harness.Run(t, harness.Bin("rkt"), args...).OK(t)
	if want := "fake-config " + strings.Join(append(args[:5:5], args[6:]...), " "); strings.TrimSpace(r.Stdout) != want {
		t.Errorf("fast path: got %q, want %q", r.Stdout, want)
	}
	if runtimeStarted(r) {
		t.Errorf("the dispatcher started the Go runtime for %q:\n%s", args, r.Stderr)
	}
	// Shapes the fast path leaves to Main, which does the same.
	for _, args := range [][]string{
		{"--exec-path=" + dir, "conf", "--x"},                   // a prefix
		{"--debug=true", "--exec-path=" + dir, "config", "--x"}, // --bool=value
		{"--exec-path=" + dir + "/../" + filepath.Base(dir), "config", "--x"},
	} {
		r := harness.Run(t, harness.Bin("rkt"), args...).OK(t)
		if !strings.HasPrefix(r.Stdout, "fake-config ") || !strings.HasSuffix(strings.TrimSpace(r.Stdout), " --x") {
			t.Errorf("%q: %q", args, r.Stdout)
		}
		if !runtimeStarted(r) {
			t.Errorf("%q took the fast path", args)
		}
	}
	// A failed exec on the fast path falls back to Main, which says why.
	if err := os.Chmod(filepath.Join(dir, "rkt-config"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = harness.Run(t, harness.Bin("rkt"), "--exec-path="+dir, "config").Fails(t, 254, "rkt-config in exec path "+dir+" is not executable")
	if !runtimeStarted(r) {
		t.Errorf("no fallback to Main after a failed exec:\n%s", r.Stderr)
	}
}
