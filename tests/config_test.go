package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

func writeConfig(t *testing.T, dir, sub, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, sub, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Global flags work before and after the subcommand name, with the same
// result.
func TestGlobalFlagsEitherSide(t *testing.T) {
	e := harness.NewEnv(t)
	before := harness.Run(t, harness.Bin("rkt"), append(e.GlobalFlags(), "config")...).OK(t)
	after := e.Rkt("config").OK(t)
	direct := harness.Run(t, harness.Bin("rkt-config"), e.GlobalFlags()...).OK(t)
	if before.Stdout != after.Stdout || after.Stdout != direct.Stdout {
		t.Fatalf("outputs differ:\n%s\n%s\n%s", before.Stdout, after.Stdout, direct.Stdout)
	}
	var got struct {
		Stage0 []map[string]any `json:"stage0"`
	}
	if err := json.Unmarshal([]byte(after.Stdout), &got); err != nil {
		t.Fatalf("config output is not JSON: %v\n%s", err, after.Stdout)
	}
	if got.Stage0[0]["rktKind"] != "paths" || got.Stage0[0]["data"] != e.DataDir {
		t.Errorf("paths entry does not show --dir: %v", got.Stage0[0])
	}
}

func TestConfigMerged(t *testing.T) {
	e := harness.NewEnv(t)
	writeConfig(t, e.SystemConfig, "auth.d", "a.json", `{"rktKind":"auth","rktVersion":"v1","domains":["a.example","b.example"],"type":"basic","credentials":{"user":"sys","password":"p"}}`)
	writeConfig(t, e.LocalConfig, "auth.d", "a.json", `{"rktKind":"auth","rktVersion":"v1","domains":["b.example"],"type":"oauth","credentials":{"token":"tok"}}`)
	writeConfig(t, e.UserConfig, "auth.d", "d.json", `{"rktKind":"dockerAuth","rktVersion":"v1","registries":["registry-1.docker.io"],"credentials":{"user":"u","password":"pw"}}`)
	writeConfig(t, e.LocalConfig, "paths.d", "p.json", `{"rktKind":"paths","rktVersion":"v1","stage1-images":"/opt/s1"}`)
	writeConfig(t, e.UserConfig, "stage1.d", "s.json", `{"rktKind":"stage1","rktVersion":"v1","name":"example.com/s1","version":"1.2"}`)
	r := e.Rkt("config", "--pretty-print=false").OK(t)
	want := `{"stage0":[` +
		`{"rktVersion":"v1","rktKind":"auth","domains":["a.example"],"type":"basic","credentials":{"user":"sys","password":"p"}},` +
		`{"rktVersion":"v1","rktKind":"auth","domains":["b.example"],"type":"oauth","credentials":{"token":"tok"}},` +
		`{"rktVersion":"v1","rktKind":"dockerAuth","registries":["registry-1.docker.io"],"credentials":{"user":"u","password":"pw"}},` +
		`{"rktVersion":"v1","rktKind":"paths","data":"` + e.DataDir + `","stage1-images":"/opt/s1"},` +
		`{"rktVersion":"v1","rktKind":"stage1","name":"example.com/s1","version":"1.2","location":""}]}` + "\n"
	if r.Stdout != want {
		t.Errorf("merged config:\n got %s\nwant %s", r.Stdout, want)
	}
}

func TestConfigErrorsNameTheFile(t *testing.T) {
	for _, tc := range []struct{ name, sub, body, msg string }{
		{"malformed", "paths.d", `{"rktKind":"paths",`, "invalid"},
		{"nokind", "paths.d", `{"rktVersion":"v1","data":"/x"}`, "rktKind"},
		{"wrongkind", "paths.d", `{"rktKind":"stage1","rktVersion":"v1","name":"a","version":"1"}`, "paths"},
		{"badversion", "stage1.d", `{"rktKind":"stage1","rktVersion":"v9"}`, "v9"},
		{"relative", "paths.d", `{"rktKind":"paths","rktVersion":"v1","data":"rel/dir"}`, "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := harness.NewEnv(t)
			p := writeConfig(t, e.LocalConfig, tc.sub, "bad.json", tc.body)
			r := e.Rkt("config").Fails(t, 254, p, tc.msg)
			if r.Stdout != "" {
				t.Errorf("stdout not empty on error: %q", r.Stdout)
			}
		})
	}
}

// paths.d "data" is the data dir unless --dir is given.
func TestDataDirFromConfig(t *testing.T) {
	e := harness.NewEnv(t)
	alt := filepath.Join(e.Root, "alt-data")
	writeConfig(t, e.LocalConfig, "paths.d", "p.json", `{"rktKind":"paths","rktVersion":"v1","data":"`+alt+`"}`)
	flags := []string{"config", "--pretty-print=false", "--local-config=" + e.LocalConfig, "--system-config=" + e.SystemConfig}
	r := harness.Run(t, harness.Bin("rkt"), flags...).OK(t)
	var got struct {
		Stage0 []map[string]any `json:"stage0"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Stage0[0]["data"] != alt {
		t.Errorf("data = %v, want %s", got.Stage0[0]["data"], alt)
	}
}
