package dispatch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		in, name string
		ok       bool
	}{
		{"list", "list", true},
		{"li", "list", true},
		{"run", "run", true}, // exact beats run-prepared
		{"run-p", "run-prepared", true},
		{"r", "", false}, // rm, run, run-prepared
		{"metadata-service", "metadata-service", true},
		{"vers", "version", true},
		{"", "", false},
		{"nosuch", "", false},
	} {
		s, ok := Lookup(tc.in)
		if ok != tc.ok || s.Name != tc.name {
			t.Errorf("Lookup(%q) = %q %v, want %q %v", tc.in, s.Name, ok, tc.name, tc.ok)
		}
	}
	if s, _ := Lookup("run"); s.Binary != "rkt-prepare" || s.Argv0 != "rkt-run" {
		t.Errorf("run must be rkt-prepare in run mode: %+v", s)
	}
	for name, bin := range map[string]string{"metadata-service": "rkt-mds", "api-service": "rkt-api"} {
		if s, _ := Lookup(name); s.Binary != bin {
			t.Errorf("%s -> %s, want %s", name, s.Binary, bin)
		}
	}
}

// Every binary in the table has a main package in the repository.
func TestBinariesExist(t *testing.T) {
	for _, b := range Binaries() {
		if _, err := os.Stat(filepath.Join("..", "..", b, "main.go")); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

func TestExecDirOrder(t *testing.T) {
	t.Setenv(ExecPathEnv, "/from/env")
	if d := ExecDir("/from/flag"); d != "/from/flag" {
		t.Errorf("flag: %s", d)
	}
	if d := ExecDir(""); d != "/from/env" {
		t.Errorf("env: %s", d)
	}
	t.Setenv(ExecPathEnv, "")
	if d := ExecDir(""); d == "" || d == "/from/env" {
		t.Errorf("build-time: %s", d)
	}
}

func TestMainErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "USAGE:") || out.Len() != 0 {
		t.Errorf("no subcommand: %d", code)
	}
	out.Reset()
	errb.Reset()
	if code := Main([]string{"--dir=/x", "nosuch"}, &out, &errb); code != 254 || !strings.Contains(errb.String(), "'nosuch' is not a rkt command") {
		t.Errorf("unknown: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"--exec-path=" + t.TempDir(), "list"}, &out, &errb); code != 254 || !strings.Contains(errb.String(), "rkt-list not found in exec path") {
		t.Errorf("missing binary: %d %s", code, errb.String())
	}
	out.Reset()
	if code := Main([]string{"version"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "appc Version: 0.8.11") {
		t.Errorf("version: %d %s", code, out.String())
	}
}
