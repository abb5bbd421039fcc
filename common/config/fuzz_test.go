package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzLoadFile feeds arbitrary bytes as the only file of each config
// subdirectory. Load must never panic; a rejected file must produce the
// documented error shape; an accepted one must satisfy every validation
// rule and survive a Render round trip.
func FuzzLoadFile(f *testing.F) {
	for _, s := range []string{
		basic("u", "p", "a.com", "b.com:5000"),
		oauth("t", "a.com"),
		aws("AK", "SK", "us-east-1", "a.com"),
		docker("u", "p", "quay.io"),
		doc("paths", "data", "/var/lib/rkt", "stage1-images", "/usr/lib/rkt/stage1-images"),
		doc("stage1", "name", "coreos.com/rkt/stage1-coreos", "version", "1.30.0", "location", "https://example.com/s.aci"),
		`{"rktKind":"paths","rktVersion":"v2"}`,
		`{"rktKind":"stage1","rktVersion":"v1","location":"ftp://x"}`,
		`{"RKTKIND":"paths","rktversion":"v1","Data":"/x"}`,
		`null`,
		`{`,
		``,
	} {
		f.Add([]byte(s))
	}
	// The tree is built once and each input overwrites the same files:
	// fuzz inputs run sequentially within a worker process, and creating
	// fresh directories per input would make disk I/O dominate.
	root := f.TempDir()
	for i, sd := range subdirs {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprint(i), sd.name), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, sd := range subdirs {
			dir := filepath.Join(root, fmt.Sprint(i))
			file := filepath.Join(dir, sd.name, "fuzz.json")
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(dir)
			if err != nil {
				checkFuzzError(t, err, file)
				continue
			}
			checkValid(t, cfg, sd)
			checkRoundTrip(t, cfg)
		}
	})
}

func checkFuzzError(t *testing.T, err error, file string) {
	t.Helper()
	var fe *FileError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Path != file || fe.IsDir {
		t.Fatalf("error %q is not a file error for %q", err, file)
	}
	if prefix := fmt.Sprintf("config file %q: ", file); !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("error %q lacks prefix %q", err, prefix)
	}
}

// checkValid restates the acceptance rules independently of the parser.
func checkValid(t *testing.T, c *Config, sd subdir) {
	t.Helper()
	if sd.name != "auth.d" && (len(c.AuthPerHost) != 0 || len(c.DockerAuthPerReg) != 0) {
		t.Fatalf("%s file produced credentials: %+v", sd.name, c)
	}
	if sd.name != "paths.d" && c.Paths != (Paths{}) {
		t.Fatalf("%s file produced paths: %+v", sd.name, c.Paths)
	}
	if sd.name != "stage1.d" && c.Stage1 != (Stage1{}) {
		t.Fatalf("%s file produced stage1: %+v", sd.name, c.Stage1)
	}
	for d, a := range c.AuthPerHost {
		ok := d != ""
		switch a.Type {
		case AuthBasic:
			ok = ok && a.User != "" && a.Password != ""
		case AuthOAuth:
			ok = ok && a.Token != ""
		case AuthAWS:
			ok = ok && a.AccessKeyID != "" && a.SecretAccessKey != ""
		default:
			ok = false
		}
		if !ok {
			t.Fatalf("accepted invalid auth %q: %+v", d, a)
		}
	}
	for r, a := range c.DockerAuthPerReg {
		if r == "" || a.User == "" || a.Password == "" {
			t.Fatalf("accepted invalid dockerAuth %q: %+v", r, a)
		}
	}
	for _, p := range []string{c.Paths.Data, c.Paths.Stage1Images} {
		if p != "" && !filepath.IsAbs(p) {
			t.Fatalf("accepted relative path %q", p)
		}
	}
	if (c.Stage1.Name == "") != (c.Stage1.Version == "") {
		t.Fatalf("accepted half a stage1 name/version: %+v", c.Stage1)
	}
	if l := c.Stage1.Location; l != "" && checkLocation(l) != nil {
		t.Fatalf("accepted invalid stage1 location %q", l)
	}
}

// checkRoundTrip renders c and parses each entry again, in memory, as one
// directory; the result must equal c.
func checkRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	compact, err := c.Render(false)
	if err != nil {
		t.Fatalf("Render(false): %v", err)
	}
	pretty, err := c.Render(true)
	if err != nil {
		t.Fatalf("Render(true): %v", err)
	}
	if !json.Valid(compact) || !json.Valid(pretty) {
		t.Fatalf("Render produced invalid JSON:\n%s\n%s", compact, pretty)
	}
	var doc struct{ Stage0 []json.RawMessage }
	if err := json.Unmarshal(pretty, &doc); err != nil {
		t.Fatal(err)
	}
	st := newDirState()
	for i, e := range doc.Stage0 {
		var h header
		if err := json.Unmarshal(e, &h); err != nil {
			t.Fatal(err)
		}
		for _, sd := range subdirs {
			if !slices.Contains(sd.kinds, h.RktKind) {
				continue
			}
			path := fmt.Sprintf("/rendered/%s/%03d.json", sd.name, i)
			if err := st.parseFile(path, e, sd.kinds); err != nil {
				t.Fatalf("rendered entry %s rejected: %v", e, err)
			}
		}
	}
	if !reflect.DeepEqual(&st.cfg, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", st.cfg, *c)
	}
}
