package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// tree maps a path relative to a test root to file contents.
type tree map[string]string

func writeTree(t *testing.T, root string, files tree) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// doc builds a v1 config file of the given kind with extra key/value pairs.
func doc(kind string, kv ...any) string {
	m := map[string]any{"rktKind": kind, "rktVersion": "v1"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // test helper misuse only
	}
	return string(b)
}

func basic(user, pass string, domains ...string) string {
	return doc("auth", "domains", domains, "type", "basic",
		"credentials", map[string]string{"user": user, "password": pass})
}

func oauth(token string, domains ...string) string {
	return doc("auth", "domains", domains, "type", "oauth",
		"credentials", map[string]string{"token": token})
}

func aws(id, secret, region string, domains ...string) string {
	c := map[string]string{"accessKeyID": id, "secretAccessKey": secret}
	if region != "" {
		c["awsRegion"] = region
	}
	return doc("auth", "domains", domains, "type", "aws", "credentials", c)
}

func docker(user, pass string, regs ...string) string {
	return doc("dockerAuth", "registries", regs,
		"credentials", map[string]string{"user": user, "password": pass})
}

// emptyConfig is what Load returns when there is nothing to read.
func emptyConfig() *Config {
	return &Config{AuthPerHost: map[string]Auth{}, DockerAuthPerReg: map[string]DockerAuth{}}
}

func TestLoadEmpty(t *testing.T) {
	root := t.TempDir()
	emptyDir := filepath.Join(root, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	emptySubdirs := filepath.Join(root, "subdirs")
	for _, sd := range []string{"auth.d", "paths.d", "stage1.d"} {
		if err := os.MkdirAll(filepath.Join(emptySubdirs, sd), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		dirs []string
	}{
		{"no dirs", nil},
		{"empty strings", []string{"", "", ""}},
		{"missing dirs", []string{filepath.Join(root, "nope"), filepath.Join(root, "nope", "deeper")}},
		{"empty dir", []string{emptyDir}},
		{"empty subdirs", []string{emptySubdirs}},
		{"mixed", []string{"", filepath.Join(root, "nope"), emptyDir, emptySubdirs}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.dirs...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(cfg, emptyConfig()) {
				t.Errorf("got %+v, want empty config with non-nil maps", cfg)
			}
		})
	}
}

func TestLoadPrecedence(t *testing.T) {
	root := t.TempDir()
	sys, local, user := filepath.Join(root, "sys"), filepath.Join(root, "local"), filepath.Join(root, "user")
	writeTree(t, sys, tree{
		"auth.d/basic.json":    basic("sysUser", "sysPass", "foo.com", "bar.com", "baz.com"),
		"auth.d/docker.json":   docker("sysD", "sysDP", "registry-1.docker.io", "quay.io", "gcr.io"),
		"paths.d/paths.json":   doc("paths", "data", "/sys/data", "stage1-images", "/sys/images"),
		"stage1.d/stage1.json": doc("stage1", "name", "sys/stage1", "version", "1", "location", "/sys/stage1.aci"),
	})
	writeTree(t, local, tree{
		"auth.d/bar.json":     oauth("localTok", "bar.com"),
		"auth.d/quay.json":    docker("localD", "localDP", "quay.io"),
		"paths.d/data.json":   doc("paths", "data", "/local/data"),
		"stage1.d/where.json": doc("stage1", "location", "https://example.com/stage1.aci"),
	})
	writeTree(t, user, tree{
		"auth.d/foo.json":     aws("AK", "SK", "", "foo.com"),
		"auth.d/gcr.json":     docker("userD", "userDP", "gcr.io"),
		"paths.d/images.json": doc("paths", "stage1-images", "/user/images"),
		"stage1.d/name.json":  doc("stage1", "name", "user/stage1", "version", "2"),
	})

	want := &Config{
		AuthPerHost: map[string]Auth{
			"foo.com": {Type: "aws", AccessKeyID: "AK", SecretAccessKey: "SK"},
			"bar.com": {Type: "oauth", Token: "localTok"},
			"baz.com": {Type: "basic", User: "sysUser", Password: "sysPass"},
		},
		DockerAuthPerReg: map[string]DockerAuth{
			"registry-1.docker.io": {User: "sysD", Password: "sysDP"},
			"quay.io":              {User: "localD", Password: "localDP"},
			"gcr.io":               {User: "userD", Password: "userDP"},
		},
		Paths:  Paths{Data: "/local/data", Stage1Images: "/user/images"},
		Stage1: Stage1{Name: "user/stage1", Version: "2", Location: "https://example.com/stage1.aci"},
	}
	cfg, err := Load(sys, local, user)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("merged config:\n got %+v\nwant %+v", cfg, want)
	}

	// Empty strings and missing dirs in between must not change anything.
	cfg, err = Load("", sys, filepath.Join(root, "missing"), local, "", user)
	if err != nil {
		t.Fatalf("Load with gaps: %v", err)
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("merged config with gaps:\n got %+v\nwant %+v", cfg, want)
	}
}

// TestLoadOverrideOrder checks each overridable setting separately: the
// last directory that sets it wins, and a directory that leaves it unset
// does not clear it.
func TestLoadOverrideOrder(t *testing.T) {
	tests := []struct {
		name          string
		sys, loc, usr tree
		check         func(*Config) string
		want          string
	}{
		{
			name:  "auth domain user wins",
			sys:   tree{"auth.d/a.json": basic("s", "s", "d")},
			loc:   tree{"auth.d/a.json": basic("l", "l", "d")},
			usr:   tree{"auth.d/a.json": basic("u", "u", "d")},
			check: func(c *Config) string { return c.AuthPerHost["d"].User },
			want:  "u",
		},
		{
			name:  "auth domain local wins over system",
			sys:   tree{"auth.d/a.json": basic("s", "s", "d")},
			loc:   tree{"auth.d/a.json": basic("l", "l", "d")},
			usr:   tree{"auth.d/a.json": basic("u", "u", "other")},
			check: func(c *Config) string { return c.AuthPerHost["d"].User },
			want:  "l",
		},
		{
			name:  "auth type replaced not merged",
			sys:   tree{"auth.d/a.json": basic("s", "s", "d")},
			usr:   tree{"auth.d/a.json": oauth("tok", "d")},
			check: func(c *Config) string { a := c.AuthPerHost["d"]; return a.Type + "/" + a.User + "/" + a.Token },
			want:  "oauth//tok",
		},
		{
			name:  "auth domain with port is its own key",
			sys:   tree{"auth.d/a.json": basic("s", "s", "d", "d:5000")},
			usr:   tree{"auth.d/a.json": basic("u", "u", "d:5000")},
			check: func(c *Config) string { return c.AuthPerHost["d"].User + " " + c.AuthPerHost["d:5000"].User },
			want:  "s u",
		},
		{
			name:  "docker registry system only",
			sys:   tree{"auth.d/d.json": docker("s", "s", "r")},
			loc:   tree{"auth.d/d.json": docker("l", "l", "other")},
			check: func(c *Config) string { return c.DockerAuthPerReg["r"].User },
			want:  "s",
		},
		{
			name:  "docker registry local wins",
			sys:   tree{"auth.d/d.json": docker("s", "s", "r")},
			loc:   tree{"auth.d/d.json": docker("l", "l", "r")},
			check: func(c *Config) string { return c.DockerAuthPerReg["r"].User },
			want:  "l",
		},
		{
			name:  "paths data per field",
			sys:   tree{"paths.d/p.json": doc("paths", "data", "/s", "stage1-images", "/si")},
			loc:   tree{"paths.d/p.json": doc("paths", "data", "/l")},
			usr:   tree{"paths.d/p.json": doc("paths", "data", "")},
			check: func(c *Config) string { return c.Paths.Data + " " + c.Paths.Stage1Images },
			want:  "/l /si",
		},
		{
			name:  "stage1 name and version as a pair",
			sys:   tree{"stage1.d/s.json": doc("stage1", "name", "sn", "version", "sv", "location", "/s.aci")},
			usr:   tree{"stage1.d/s.json": doc("stage1", "name", "un", "version", "uv")},
			check: func(c *Config) string { s := c.Stage1; return s.Name + " " + s.Version + " " + s.Location },
			want:  "un uv /s.aci",
		},
		{
			name:  "stage1 location alone",
			sys:   tree{"stage1.d/s.json": doc("stage1", "name", "sn", "version", "sv", "location", "/s.aci")},
			loc:   tree{"stage1.d/s.json": doc("stage1", "location", "docker://l")},
			check: func(c *Config) string { s := c.Stage1; return s.Name + " " + s.Version + " " + s.Location },
			want:  "sn sv docker://l",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			var dirs []string
			for i, files := range []tree{tc.sys, tc.loc, tc.usr} {
				d := filepath.Join(root, fmt.Sprint(i))
				writeTree(t, d, files)
				dirs = append(dirs, d)
			}
			cfg, err := Load(dirs...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tc.check(cfg); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLoadPerDomainSplit follows the `rkt config` documentation example:
// a user file overriding one domain of a multi-domain system file.
func TestLoadPerDomainSplit(t *testing.T) {
	root := t.TempDir()
	sys, usr := filepath.Join(root, "sys"), filepath.Join(root, "usr")
	writeTree(t, sys, tree{"auth.d/basic.json": basic("sysUser", "sysPassword", "foo.com", "bar.com", "baz.com")})
	writeTree(t, usr, tree{"auth.d/basic.json": basic("user", "password", "foo.com")})
	cfg, err := Load(sys, "", usr)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, err := cfg.Render(false)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	want := `{"stage0":[` +
		`{"rktVersion":"v1","rktKind":"auth","domains":["bar.com"],"type":"basic","credentials":{"user":"sysUser","password":"sysPassword"}},` +
		`{"rktVersion":"v1","rktKind":"auth","domains":["baz.com"],"type":"basic","credentials":{"user":"sysUser","password":"sysPassword"}},` +
		`{"rktVersion":"v1","rktKind":"auth","domains":["foo.com"],"type":"basic","credentials":{"user":"user","password":"password"}},` +
		`{"rktVersion":"v1","rktKind":"paths","data":"","stage1-images":""},` +
		`{"rktVersion":"v1","rktKind":"stage1","name":"","version":"","location":""}]}` + "\n"
	if string(got) != want {
		t.Errorf("render:\n got %s\nwant %s", got, want)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name  string
		files tree
		file  string // file the error must name, relative to the dir
		want  string // substring of the message after the file name
	}{
		// Header and JSON problems.
		{"invalid JSON", tree{"paths.d/x.json": `{`}, "paths.d/x.json", "invalid JSON: "},
		{"empty file", tree{"paths.d/x.json": ``}, "paths.d/x.json", "invalid JSON: "},
		{"trailing garbage", tree{"paths.d/x.json": doc("paths") + " x"}, "paths.d/x.json", "invalid JSON: "},
		{"top-level array", tree{"auth.d/x.json": `[]`}, "auth.d/x.json", "invalid JSON: "},
		{"non-string kind", tree{"auth.d/x.json": `{"rktKind":1,"rktVersion":"v1"}`}, "auth.d/x.json", "invalid JSON: "},
		{"null document", tree{"paths.d/x.json": `null`}, "paths.d/x.json", "no rktKind specified"},
		{"missing rktKind", tree{"paths.d/x.json": `{"rktVersion":"v1","data":"/d"}`}, "paths.d/x.json", "no rktKind specified"},
		{"empty rktKind", tree{"paths.d/x.json": `{"rktKind":"","rktVersion":"v1"}`}, "paths.d/x.json", "no rktKind specified"},
		{"missing rktVersion", tree{"paths.d/x.json": `{"rktKind":"paths","data":"/d"}`}, "paths.d/x.json", "no rktVersion specified"},
		{"empty rktVersion", tree{"stage1.d/x.json": `{"rktKind":"stage1","rktVersion":""}`}, "stage1.d/x.json", "no rktVersion specified"},
		{"unknown version", tree{"auth.d/x.json": `{"rktKind":"auth","rktVersion":"v2"}`}, "auth.d/x.json", `unsupported rktVersion "v2" for rktKind "auth", expected "v1"`},
		{"unknown kind", tree{"auth.d/x.json": `{"rktKind":"bogus","rktVersion":"v1"}`}, "auth.d/x.json", `rktKind "bogus" not allowed in auth.d, expected "auth" or "dockerAuth"`},
		{"paths in auth.d", tree{"auth.d/x.json": doc("paths", "data", "/d")}, "auth.d/x.json", `rktKind "paths" not allowed in auth.d, expected "auth" or "dockerAuth"`},
		{"auth in paths.d", tree{"paths.d/x.json": basic("u", "p", "d")}, "paths.d/x.json", `rktKind "auth" not allowed in paths.d, expected "paths"`},
		{"dockerAuth in stage1.d", tree{"stage1.d/x.json": docker("u", "p", "r")}, "stage1.d/x.json", `rktKind "dockerAuth" not allowed in stage1.d, expected "stage1"`},
		{"stage1 in paths.d", tree{"paths.d/x.json": doc("stage1", "location", "/s.aci")}, "paths.d/x.json", `rktKind "stage1" not allowed in paths.d, expected "paths"`},

		// auth v1.
		{"auth no domains", tree{"auth.d/x.json": doc("auth", "type", "oauth", "credentials", map[string]string{"token": "t"})}, "auth.d/x.json", "no domains specified"},
		{"auth empty domains", tree{"auth.d/x.json": oauth("t")}, "auth.d/x.json", "no domains specified"},
		{"auth empty domain", tree{"auth.d/x.json": oauth("t", "a", "")}, "auth.d/x.json", "empty domain in domains"},
		{"auth domains wrong type", tree{"auth.d/x.json": doc("auth", "domains", "a.com", "type", "oauth")}, "auth.d/x.json", "invalid auth configuration: "},
		{"auth no type", tree{"auth.d/x.json": doc("auth", "domains", []string{"a"}, "credentials", map[string]string{"token": "t"})}, "auth.d/x.json", "no auth type specified"},
		{"auth unknown type", tree{"auth.d/x.json": doc("auth", "domains", []string{"a"}, "type", "digest")}, "auth.d/x.json", `unknown auth type "digest", expected "basic", "oauth" or "aws"`},
		{"basic no credentials", tree{"auth.d/x.json": doc("auth", "domains", []string{"a"}, "type", "basic")}, "auth.d/x.json", "no user specified"},
		{"basic null credentials", tree{"auth.d/x.json": doc("auth", "domains", []string{"a"}, "type", "basic", "credentials", nil)}, "auth.d/x.json", "no user specified"},
		{"basic no user", tree{"auth.d/x.json": basic("", "p", "a")}, "auth.d/x.json", "basic credentials: no user specified"},
		{"basic no password", tree{"auth.d/x.json": basic("u", "", "a")}, "auth.d/x.json", "basic credentials: no password specified"},
		{"oauth no token", tree{"auth.d/x.json": oauth("", "a")}, "auth.d/x.json", "oauth credentials: no token specified"},
		{"aws no key id", tree{"auth.d/x.json": aws("", "s", "r", "a")}, "auth.d/x.json", "aws credentials: no accessKeyID specified"},
		{"aws no secret", tree{"auth.d/x.json": aws("k", "", "r", "a")}, "auth.d/x.json", "aws credentials: no secretAccessKey specified"},
		{"auth domain twice in one file", tree{"auth.d/x.json": oauth("t", "a", "b", "a")}, "auth.d/x.json", `domain "a" listed more than once`},
		{
			"auth domain twice in one dir",
			tree{"auth.d/a.json": oauth("t", "x", "dup"), "auth.d/b.json": basic("u", "p", "dup")},
			"auth.d/b.json", `domain "dup" already specified in "` + "$DIR/auth.d/a.json" + `"`,
		},

		// dockerAuth v1.
		{"docker no registries", tree{"auth.d/x.json": doc("dockerAuth", "credentials", map[string]string{"user": "u", "password": "p"})}, "auth.d/x.json", "no registries specified"},
		{"docker empty registry", tree{"auth.d/x.json": docker("u", "p", "")}, "auth.d/x.json", "empty registry in registries"},
		{"docker no credentials", tree{"auth.d/x.json": doc("dockerAuth", "registries", []string{"r"})}, "auth.d/x.json", "basic credentials: no user specified"},
		{"docker no password", tree{"auth.d/x.json": docker("u", "", "r")}, "auth.d/x.json", "basic credentials: no password specified"},
		{"docker registry twice in one file", tree{"auth.d/x.json": docker("u", "p", "r", "r")}, "auth.d/x.json", `registry "r" listed more than once`},
		{
			"docker registry twice in one dir",
			tree{"auth.d/a.json": docker("u", "p", "quay.io"), "auth.d/b.json": docker("u2", "p2", "gcr.io", "quay.io")},
			"auth.d/b.json", `registry "quay.io" already specified in "$DIR/auth.d/a.json"`,
		},
		{
			"auth and docker keys are separate namespaces",
			tree{"auth.d/a.json": docker("u", "p", "quay.io"), "auth.d/b.json": basic("u", "p", "quay.io"), "auth.d/c.json": `{`},
			"auth.d/c.json", "invalid JSON",
		},

		// paths v1.
		{"paths relative data", tree{"paths.d/x.json": doc("paths", "data", "var/lib/rkt")}, "paths.d/x.json", `data "var/lib/rkt" is not an absolute path`},
		{"paths relative stage1-images", tree{"paths.d/x.json": doc("paths", "stage1-images", "./images")}, "paths.d/x.json", `stage1-images "./images" is not an absolute path`},
		{"paths wrong type", tree{"paths.d/x.json": doc("paths", "data", 3)}, "paths.d/x.json", "invalid paths configuration: "},
		{
			"paths data twice in one dir",
			tree{"paths.d/a.json": doc("paths", "data", "/a"), "paths.d/b.json": doc("paths", "data", "/b")},
			"paths.d/b.json", `data already specified in "$DIR/paths.d/a.json"`,
		},
		{
			"paths stage1-images twice in one dir",
			tree{"paths.d/a.json": doc("paths", "data", "/a", "stage1-images", "/i"), "paths.d/b.json": doc("paths", "stage1-images", "/j")},
			"paths.d/b.json", `stage1-images already specified in "$DIR/paths.d/a.json"`,
		},

		// stage1 v1.
		{"stage1 name without version", tree{"stage1.d/x.json": doc("stage1", "name", "n")}, "stage1.d/x.json", `stage1 name "n" specified without a version`},
		{"stage1 version without name", tree{"stage1.d/x.json": doc("stage1", "version", "1")}, "stage1.d/x.json", `stage1 version "1" specified without a name`},
		{"stage1 relative location", tree{"stage1.d/x.json": doc("stage1", "location", "stage1.aci")}, "stage1.d/x.json", "neither an absolute path nor a URL with a scheme"},
		{"stage1 bad scheme", tree{"stage1.d/x.json": doc("stage1", "location", "ftp://h/s.aci")}, "stage1.d/x.json", `unsupported scheme "ftp"`},
		{"stage1 wrong type", tree{"stage1.d/x.json": doc("stage1", "name", []int{1})}, "stage1.d/x.json", "invalid stage1 configuration: "},
		{
			"stage1 name twice in one dir",
			tree{"stage1.d/a.json": doc("stage1", "name", "n", "version", "1"), "stage1.d/b.json": doc("stage1", "name", "n", "version", "2")},
			"stage1.d/b.json", `stage1 name and version already specified in "$DIR/stage1.d/a.json"`,
		},
		{
			"stage1 location twice in one dir",
			tree{"stage1.d/a.json": doc("stage1", "location", "/a.aci"), "stage1.d/b.json": doc("stage1", "name", "n", "version", "1", "location", "/b.aci")},
			"stage1.d/b.json", `stage1 location already specified in "$DIR/stage1.d/a.json"`,
		},

		// Files are read in sorted name order, so the later name is blamed.
		{
			"sorted order names later file",
			tree{"paths.d/9.json": doc("paths", "data", "/nine"), "paths.d/10.json": doc("paths", "data", "/ten")},
			"paths.d/9.json", `data already specified in "$DIR/paths.d/10.json"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			cfg, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want error", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config together with an error")
			}
			checkFileError(t, err, filepath.Join(dir, tc.file), false, strings.ReplaceAll(tc.want, "$DIR", dir))
		})
	}
}

// checkFileError asserts the error contract: wraps ErrInvalid, is a
// *FileError for path, and reads `config file "<path>": ...<want>...`.
func checkFileError(t *testing.T, err error, path string, isDir bool, want string) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", err)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q is not a *FileError", err)
	}
	if fe.Path != path || fe.IsDir != isDir {
		t.Errorf("FileError{Path: %q, IsDir: %v}, want {%q, %v}", fe.Path, fe.IsDir, path, isDir)
	}
	prefix := fmt.Sprintf("config file %q: ", path)
	if isDir {
		prefix = fmt.Sprintf("config directory %q: ", path)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("error %q does not start with %q", msg, prefix)
	}
	if !strings.Contains(strings.TrimPrefix(msg, prefix), want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

func TestLoadJSONErrorUnwraps(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, tree{"paths.d/x.json": `{"rktKind":`})
	_, err := Load(dir)
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		t.Errorf("error %v does not expose the JSON decoding error", err)
	}
	checkFileError(t, err, filepath.Join(dir, "paths.d/x.json"), false, "invalid JSON: ")
}

func TestLoadDirErrors(t *testing.T) {
	t.Run("config dir is a file", func(t *testing.T) {
		root := t.TempDir()
		file := filepath.Join(root, "rkt")
		writeTree(t, root, tree{"rkt": "not a dir"})
		_, err := Load(file)
		checkFileError(t, err, file, true, "not a directory")
	})
	t.Run("later config dir is a file", func(t *testing.T) {
		root := t.TempDir()
		writeTree(t, root, tree{"sys/paths.d/p.json": doc("paths", "data", "/d"), "local": "x"})
		_, err := Load(filepath.Join(root, "sys"), filepath.Join(root, "local"))
		checkFileError(t, err, filepath.Join(root, "local"), true, "not a directory")
	})
	for _, sd := range []string{"auth.d", "paths.d", "stage1.d"} {
		t.Run(sd+" is a file", func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tree{sd: "x"})
			_, err := Load(root)
			checkFileError(t, err, filepath.Join(root, sd), true, "not a directory")
		})
	}
	t.Run("unreadable subdir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can read any directory")
		}
		root := t.TempDir()
		sub := filepath.Join(root, "auth.d")
		if err := os.Mkdir(sub, 0o000); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(sub, 0o755) })
		_, err := Load(root)
		checkFileError(t, err, sub, true, "permission denied")
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("error %v does not wrap os.ErrPermission", err)
		}
	})
}

func TestLoadIgnoredEntries(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc")
	const bad = `{ this is not json`
	writeTree(t, dir, tree{
		"auth.d/good.json":             oauth("tok", "good.com"),
		"auth.d/README":                bad,
		"auth.d/notes.txt":             bad,
		"auth.d/backup.json~":          bad,
		"auth.d/old.json.bak":          bad,
		"auth.d/UPPER.JSON":            bad,
		"auth.d/nested/bad.json":       bad,
		"auth.d/dir.json/bad.json":     bad,
		"paths.d/sub/paths.json":       doc("paths", "data", "/nested"),
		"stage1.d/deep/er/stage1.json": bad,
		"toplevel.json":                bad,
		"net.d/10-net.json":            bad,
		"docker.d/x.json":              bad,
		"trustedkeys/prefix.d/x.json":  bad,
		// Targets for the symlinks below live outside any config subdir.
		"../elsewhere/bad.json":  bad,
		"../elsewhere/good.json": oauth("linked", "linked.com"),
	})
	for link, target := range map[string]string{
		"auth.d/bad-link.json":    filepath.Join(root, "elsewhere/bad.json"),
		"auth.d/good-link.json":   filepath.Join(root, "elsewhere/good.json"),
		"auth.d/dangling.json":    filepath.Join(root, "nowhere.json"),
		"paths.d/linkeddir.json":  filepath.Join(root, "elsewhere"),
		"stage1.d/relative.json":  "../auth.d/good.json",
		"stage1.d/self-loop.json": "self-loop.json",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	// Reading a FIFO would block forever, so it must be skipped as well.
	if err := syscall.Mkfifo(filepath.Join(dir, "auth.d", "fifo.json"), 0o644); err != nil {
		t.Logf("no fifo test: %v", err)
	}

	cfg, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := emptyConfig()
	want.AuthPerHost["good.com"] = Auth{Type: "oauth", Token: "tok"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

// TestLoadSymlinkedDirs shows that only files are subject to the symlink
// rule: a config dir or subdir reached through a symlink is read normally.
func TestLoadSymlinkedDirs(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, tree{
		"real/paths.d/p.json":    doc("paths", "data", "/real"),
		"shared/stage1.d/s.json": doc("stage1", "location", "/s.aci"),
	})
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "cfg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "shared/stage1.d"), filepath.Join(root, "real/stage1.d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "missing"), filepath.Join(root, "real/auth.d")); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(filepath.Join(root, "cfg"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Paths.Data != "/real" || cfg.Stage1.Location != "/s.aci" {
		t.Errorf("got %+v", cfg)
	}
}

func TestLoadAuthTypes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, tree{
		"auth.d/basic.json": basic("u", "p", "b.com", "b.com:8443"),
		"auth.d/oauth.json": oauth("t", "o.com"),
		"auth.d/aws.json":   aws("AK", "SK", "eu-west-1", "a.com"),
		"auth.d/aws2.json":  aws("AK2", "SK2", "", "a2.com"),
		// Unknown fields are ignored so newer compatible files still load.
		"auth.d/extra.json": `{"rktKind":"auth","rktVersion":"v1","domains":["e.com"],"type":"oauth","credentials":{"token":"t","user":"ignored"},"comment":"x"}`,
		"auth.d/dock.json":  docker("du", "dp", "registry-1.docker.io"),
	})
	cfg, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		AuthPerHost: map[string]Auth{
			"b.com":      {Type: AuthBasic, User: "u", Password: "p"},
			"b.com:8443": {Type: AuthBasic, User: "u", Password: "p"},
			"o.com":      {Type: AuthOAuth, Token: "t"},
			"a.com":      {Type: AuthAWS, AccessKeyID: "AK", SecretAccessKey: "SK", AWSRegion: "eu-west-1"},
			"a2.com":     {Type: AuthAWS, AccessKeyID: "AK2", SecretAccessKey: "SK2"},
			"e.com":      {Type: AuthOAuth, Token: "t"},
		},
		DockerAuthPerReg: map[string]DockerAuth{"registry-1.docker.io": {User: "du", Password: "dp"}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
}

func TestStage1Location(t *testing.T) {
	tests := []struct {
		loc     string
		wantErr string // empty: valid
	}{
		{"/usr/lib/rkt/stage1-images/stage1-coreos.aci", ""},
		{"file:///usr/lib/rkt/stage1.aci", ""},
		{"docker://busybox", ""},
		{"http://example.com/stage1.aci", ""},
		{"https://example.com/stage1.aci", ""},
		{"HTTPS://example.com/stage1.aci", ""}, // schemes are case-insensitive
		{"stage1.aci", "neither an absolute path nor a URL with a scheme"},
		{"./stage1.aci", "neither an absolute path nor a URL with a scheme"},
		{"../stage1.aci", "neither an absolute path nor a URL with a scheme"},
		{"example.com/stage1.aci", "neither an absolute path nor a URL with a scheme"},
		{"ftp://example.com/stage1.aci", `unsupported scheme "ftp", expected "docker", "file", "http" or "https"`},
		{"coreos.com/rkt/stage1:1.0", "neither an absolute path nor a URL with a scheme"},
		{"http://[::1", "is not a valid URL"},
		{":nothing", "is not a valid URL"},
	}
	for _, tc := range tests {
		t.Run(tc.loc, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tree{"stage1.d/s.json": doc("stage1", "location", tc.loc)})
			cfg, err := Load(dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if cfg.Stage1.Location != tc.loc {
					t.Errorf("location %q, want %q", cfg.Stage1.Location, tc.loc)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted location %q", tc.loc)
			}
			checkFileError(t, err, filepath.Join(dir, "stage1.d/s.json"), false, tc.wantErr)
		})
	}
}

func fullConfig() *Config {
	return &Config{
		AuthPerHost: map[string]Auth{
			"c.com":      {Type: AuthAWS, AccessKeyID: "AK", SecretAccessKey: "SK", AWSRegion: "us-east-1"},
			"a.com":      {Type: AuthBasic, User: "u", Password: "p"},
			"b.com:5000": {Type: AuthOAuth, Token: "tok"},
		},
		DockerAuthPerReg: map[string]DockerAuth{
			"quay.io":              {User: "qu", Password: "qp"},
			"registry-1.docker.io": {User: "du", Password: "dp"},
		},
		Paths:  Paths{Data: "/var/lib/rkt", Stage1Images: "/usr/lib/rkt/stage1-images"},
		Stage1: Stage1{Name: "coreos.com/rkt/stage1-coreos", Version: "1.30.0", Location: "/usr/lib/rkt/stage1-images/stage1-coreos.aci"},
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		cfg    *Config
		pretty bool
		golden string
	}{
		{"full compact", fullConfig(), false, "full.compact.json"},
		{"full pretty", fullConfig(), true, "full.pretty.json"},
		{"empty compact", emptyConfig(), false, "empty.compact.json"},
		{"empty pretty", emptyConfig(), true, "empty.pretty.json"},
		{"zero value pretty", &Config{}, true, "empty.pretty.json"},
		{"nil pretty", nil, true, "empty.pretty.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "render", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.cfg.Render(tc.pretty)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("Render(%v) mismatch\n got:\n%s\nwant:\n%s", tc.pretty, got, want)
			}
		})
	}
}

func TestRenderUnknownAuthType(t *testing.T) {
	cfg := &Config{AuthPerHost: map[string]Auth{"x.com": {Type: "digest"}}}
	if _, err := cfg.Render(false); err == nil || !strings.Contains(err.Error(), `"digest"`) {
		t.Errorf("Render error = %v, want unknown auth type", err)
	}
}

// TestRenderRoundTrip writes every rendered entry back as its own file
// and checks that loading them reproduces the configuration, since the
// output is documented to consist of valid configuration entries.
func TestRenderRoundTrip(t *testing.T) {
	for _, cfg := range []*Config{fullConfig(), emptyConfig()} {
		out, err := cfg.Render(true)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		var doc struct{ Stage0 []json.RawMessage }
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("rendered output is not JSON: %v", err)
		}
		dir := t.TempDir()
		files := tree{}
		for i, e := range doc.Stage0 {
			var h header
			if err := json.Unmarshal(e, &h); err != nil {
				t.Fatal(err)
			}
			sub := map[string]string{"auth": "auth.d", "dockerAuth": "auth.d", "paths": "paths.d", "stage1": "stage1.d"}[h.RktKind]
			files[fmt.Sprintf("%s/%03d.json", sub, i)] = string(e)
		}
		writeTree(t, dir, files)
		got, err := Load(dir)
		if err != nil {
			t.Fatalf("Load of rendered entries: %v", err)
		}
		if !reflect.DeepEqual(got, cfg) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, cfg)
		}
	}
}

func TestQuoteList(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, `"a"`},
		{[]string{"a", "b"}, `"a" or "b"`},
		{[]string{"a", "b", "c"}, `"a", "b" or "c"`},
	} {
		if got := quoteList(tc.in); got != tc.want {
			t.Errorf("quoteList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
