package tests

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

// testImage describes a small ACI made by a test.
type testImage struct {
	Name    string
	Version string
	Files   map[string]string // rootfs path -> content
	Deps    []string          // dependency image names
	Arch    string            // the arch label; amd64 when empty
}

// makeACI writes a gzip ACI and returns its path and full image ID.
func makeACI(t *testing.T, dir string, img testImage) (string, string) {
	t.Helper()
	arch := img.Arch
	if arch == "" {
		arch = "amd64"
	}
	labels := []map[string]string{{"name": "os", "value": "linux"}, {"name": "arch", "value": arch}}
	if img.Version != "" {
		labels = append(labels, map[string]string{"name": "version", "value": img.Version})
	}
	m := map[string]any{
		"acKind": "ImageManifest", "acVersion": "0.8.11", "name": img.Name, "labels": labels,
		"app": map[string]any{"exec": []string{"/bin/sh"}, "user": "0", "group": "0"},
	}
	if len(img.Deps) > 0 {
		var deps []map[string]any
		for _, d := range img.Deps {
			deps = append(deps, map[string]any{"imageName": d})
		}
		m["dependencies"] = deps
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(img.Name, "/", "_")+"-"+img.Version+".aci")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha512.New()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(io.MultiWriter(gz, h))
	add := func(hdr *tar.Header, body string) {
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "manifest", Mode: 0o644, Typeflag: tar.TypeReg}, string(manifest))
	add(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	var names []string
	for p := range img.Files {
		names = append(names, p)
	}
	sort.Strings(names)
	made := map[string]bool{}
	for _, p := range names {
		parts := strings.Split(strings.Trim(p, "/"), "/")
		for i := 1; i < len(parts); i++ {
			d := "rootfs/" + strings.Join(parts[:i], "/") + "/"
			if !made[d] {
				made[d] = true
				add(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir}, "")
			}
		}
		add(&tar.Header{Name: "rootfs/" + strings.Trim(p, "/"), Mode: 0o644, Typeflag: tar.TypeReg}, img.Files[p])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return path, "sha512-" + hex.EncodeToString(h.Sum(nil))
}

// fixtureID returns the full image ID of a fixture ACI from FIXTURES.txt.
func fixtureID(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.Fixtures(t), "FIXTURES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == name && strings.HasPrefix(f[1], "sha512-") {
			return f[1]
		}
	}
	t.Fatalf("no ID for %s in FIXTURES.txt", name)
	return ""
}

// trustFixtureKey trusts the fixtures' signing key for prefix.
func trustFixtureKey(t *testing.T, e *harness.Env, prefix string) {
	t.Helper()
	key := filepath.Join(harness.Fixtures(t), "pubkeys.gpg")
	args := []string{"trust", "--skip-fingerprint-review"}
	if prefix == "" {
		args = append(args, "--root")
	} else {
		args = append(args, "--prefix="+prefix)
	}
	e.Rkt(append(args, key)...).OK(t)
}

func fix(t *testing.T, name string) string {
	return filepath.Join(harness.Fixtures(t), name)
}
