package cli

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestInsecureSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Insecure
		str  string
	}{
		{"none", 0, "none"},
		{"image", InsecureImage, "image"},
		{"image,tls", InsecureImage | InsecureTLS, "image,tls"},
		{"all-fetch", InsecureAllFetch, "image,tls,http,pubkey"},
		{"all-run", InsecureAllRun, "capabilities,paths,seccomp"},
		{"all", InsecureAll, "image,tls,ondisk,http,pubkey,capabilities,paths,seccomp"},
		{"ondisk", InsecureOnDisk, "ondisk"},
		{" HTTP , pubkey", InsecureHTTP | InsecurePubKey, "http,pubkey"},
	} {
		var i Insecure
		if err := i.Set(tc.in); err != nil {
			t.Fatalf("Set(%q): %v", tc.in, err)
		}
		if i != tc.want || i.String() != tc.str {
			t.Errorf("Set(%q) = %v (%s), want %v (%s)", tc.in, i, i.String(), tc.want, tc.str)
		}
	}
	var i Insecure
	if err := i.Set("image,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown option accepted: %v", err)
	}
	// Repeated flags accumulate.
	i = 0
	_ = i.Set("image")
	_ = i.Set("seccomp")
	if !i.Has(InsecureImage|InsecureSeccomp) || i.Has(InsecureTLS) {
		t.Errorf("accumulate: %s", i)
	}
}

func runCmd(c *Command, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(c, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunErrorsAndExitCodes(t *testing.T) {
	var got []string
	var flag string
	c := &Command{
		Name:  "demo",
		Usage: "ARG",
		Flags: func(fs *pflag.FlagSet) { fs.StringVar(&flag, "thing", "", "a thing") },
		Run: func(env *Env, args []string) error {
			got = args
			switch {
			case len(args) == 0:
				return Usagef("demo needs an argument")
			case args[0] == "fail":
				return fmt.Errorf("doing %s: %w", args[0], errors.New("it broke"))
			case args[0] == "exit3":
				return &ExitError{Code: 3}
			}
			fmt.Fprintln(env.Stdout, "dir="+env.Globals.Dir, "thing="+flag)
			return nil
		},
	}
	code, out, _ := runCmd(c, "x", "--thing=t", "--dir=/tmp/d")
	if code != 0 || out != "dir=/tmp/d thing=t\n" || len(got) != 1 {
		t.Errorf("interspersed flags: %d %q %v", code, out, got)
	}
	code, _, errs := runCmd(c, "fail")
	if code != ExitFailure || errs != "rkt: doing fail: it broke\n" {
		t.Errorf("error: %d %q", code, errs)
	}
	code, _, errs = runCmd(c)
	if code != ExitFailure || !strings.Contains(errs, "Usage: rkt demo ARG") {
		t.Errorf("usage error: %d %q", code, errs)
	}
	if code, _, errs = runCmd(c, "exit3"); code != 3 || errs != "" {
		t.Errorf("ExitError: %d %q", code, errs)
	}
	if code, _, errs = runCmd(c, "--nope"); code != ExitFailure || !strings.Contains(errs, "unknown flag: --nope") {
		t.Errorf("bad flag: %d %q", code, errs)
	}
	code, out, _ = runCmd(c, "--help")
	if code != 0 || !strings.Contains(out, "--thing") || !strings.Contains(out, "GLOBAL OPTIONS:") || strings.Contains(out, "memprofile") {
		t.Errorf("help: %d\n%s", code, out)
	}
	// The command's own flags are under OPTIONS, the global ones only under GLOBAL OPTIONS.
	opts := out[strings.Index(out, "OPTIONS:"):strings.Index(out, "GLOBAL OPTIONS:")]
	if strings.Contains(opts, "--dir") {
		t.Errorf("global flag listed among the command's options:\n%s", out)
	}
}

func TestStopAtFirstArg(t *testing.T) {
	var got []string
	c := &Command{Name: "run", StopAtFirstArg: true, Run: func(_ *Env, args []string) error { got = args; return nil }}
	if code, _, errs := runCmd(c, "--debug", "img", "--name=x", "--", "a"); code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	if strings.Join(got, " ") != "img --name=x -- a" {
		t.Errorf("args after the first image must be left alone: %q", got)
	}
}

func TestDataDirPrecedence(t *testing.T) {
	dir := t.TempDir()
	var root string
	c := &Command{Name: "d", Run: func(env *Env, _ []string) error {
		r, err := env.DataDir()
		root = r.Path()
		return err
	}}
	if code, _, errs := runCmd(c, "--system-config=/nonexistent", "--local-config="+dir); code != 0 || root != "/var/lib/rkt" {
		t.Errorf("default: %d %s %s", code, root, errs)
	}
	if code, _, _ := runCmd(c, "--dir=rel"); code != 0 || !strings.HasPrefix(root, "/") {
		t.Errorf("--dir is not made absolute: %s", root)
	}
	if code, _, errs := runCmd(c, "--dir="); code != ExitFailure || !strings.Contains(errs, "cannot be empty") {
		t.Errorf("empty --dir accepted: %d %s", code, errs)
	}
}

// StringArrayVar behaves as pflag's StringArrayVar: each use adds a value
// (commas kept), the first replaces the default, the help shows no
// default and the type, and it is a pflag.SliceValue.
func TestStringArrayVar(t *testing.T) {
	ours, theirs := pflag.NewFlagSet("ours", pflag.ContinueOnError), pflag.NewFlagSet("theirs", pflag.ContinueOnError)
	var a, b []string
	StringArrayVar(ours, &a, "env", "an environment variable")
	theirs.StringArrayVar(&b, "env", nil, "an environment variable")
	if ours.FlagUsages() != theirs.FlagUsages() {
		t.Errorf("help:\n%s\npflag's:\n%s", ours.FlagUsages(), theirs.FlagUsages())
	}
	args := []string{"--env=A=1,2", "--env", "B=3"}
	if err := ours.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := theirs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) || len(a) != 2 || a[0] != "A=1,2" {
		t.Errorf("values %q, pflag's %q", a, b)
	}
	sv, ok := ours.Lookup("env").Value.(pflag.SliceValue)
	if !ok {
		t.Fatal("not a pflag.SliceValue")
	}
	if !slices.Equal(sv.GetSlice(), a) {
		t.Errorf("GetSlice %q", sv.GetSlice())
	}
	sv.Append("C=4")
	sv.Replace([]string{"D=5"})
	if !slices.Equal(a, []string{"D=5"}) || ours.Lookup("env").Value.String() != "[D=5]" {
		t.Errorf("after Append and Replace: %q %q", a, ours.Lookup("env").Value.String())
	}
	// A default set before parsing is replaced by the first use.
	var c []string
	fs := pflag.NewFlagSet("d", pflag.ContinueOnError)
	StringArrayVar(fs, &c, "x", "")
	c = []string{"default"}
	if err := fs.Parse([]string{"--x=1"}); err != nil || !slices.Equal(c, []string{"1"}) {
		t.Errorf("default not replaced: %q %v", c, err)
	}
}
