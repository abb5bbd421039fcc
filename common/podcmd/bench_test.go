package podcmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/stage1abi"
)

// BenchmarkList lists a thousand exited one-app pods, the case the
// performance target of `rkt list` is set for (docs/pods.md). Run with
// go test -run=^$ -bench=List ./common/podcmd
func BenchmarkList(b *testing.B) {
	root, err := newBenchRoot(b.TempDir(), 1000)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if code := cli.Run(List(), []string{"--dir=" + root}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkStatus looks one pod up among a thousand by a prefix of its
// UUID and prints its status.
func BenchmarkStatus(b *testing.B) {
	root, err := newBenchRoot(b.TempDir(), 1000)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if code := cli.Run(Status(), []string{"--dir=" + root, "00000500"}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

func newBenchRoot(dir string, n int) (string, error) {
	app := fakeApp{name: "app", image: "example.com/app", version: "1.0"}
	pm := podManifestJSON([]fakeApp{app})
	im := imageManifestJSON(app)
	for _, d := range []string{"embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"} {
		if err := os.MkdirAll(filepath.Join(dir, "pods", d), 0o750); err != nil {
			return "", err
		}
	}
	for i := range n {
		pd := filepath.Join(dir, "pods", "run", fmt.Sprintf("%08d-0000-4000-8000-000000000000", i))
		files := map[string]string{
			stage1abi.PodManifestFile: pm,
			stage1abi.PodCreatedFile:  "",
			stage1abi.PIDFile:         "42",
			filepath.Join(stage1abi.AppsInfoDir, "app", stage1abi.AppManifestFile): im,
			filepath.Join(stage1abi.Stage1RootfsRel, stage1abi.StatusDir, "app"):   "0",
		}
		for rel, content := range files {
			p := filepath.Join(pd, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				return "", err
			}
			if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}
