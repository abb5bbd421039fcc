package aci

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// FuzzRead feeds arbitrary bytes to Read as an uncompressed tar. Whatever
// the input, Read must not panic, and nothing may appear outside the
// target: it lives in a parent that must hold only the target afterwards
// (relative symlink escapes land there first).
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, root, rootfsOnly bool) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "dir")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// A deadlock between the reader and the workers would stall the
		// fuzzer silently; make it a crash that saves the input.
		tm := time.AfterFunc(20*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("Read hung\n%s", buf[:n]))
		})
		defer tm.Stop()
		img, err := Read(bytes.NewReader(data), dir, ExtractOptions{Root: root, RootfsOnly: rootfsOnly})
		if err == nil && (img.Manifest == nil || len(img.ID) != len("sha512-")+128) {
			t.Fatalf("success without manifest or ID: %+v", img)
		}
		if err != nil && img != nil {
			t.Fatal("image and error both returned")
		}
		es, rerr := os.ReadDir(parent)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(es) != 1 || es[0].Name() != "dir" || !es[0].IsDir() {
			var got []string
			for _, e := range es {
				got = append(got, e.Name())
			}
			t.Fatalf("parent holds %v after extraction (err %v)", got, err)
		}
		// The ID does not depend on extraction.
		img2, err2 := Read(bytes.NewReader(data), "", ExtractOptions{})
		if err == nil && (err2 != nil || img2.ID != img.ID) {
			t.Fatalf("extracting read ok, plain read: %v", err2)
		}
		if errors.Is(err2, ErrUnsafePath) && err == nil {
			t.Fatal("unsafe path accepted when extracting")
		}
	})
}

// FuzzParseManifest: never panic; a manifest that parses re-encodes and
// parses again.
func FuzzParseManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
			}
			return
		}
		out, err := m.MarshalJSON()
		if err != nil {
			// The schema's own validation is not symmetric for every
			// field; only a panic is a bug here.
			return
		}
		if _, err := ParseManifest(out); err != nil {
			t.Fatalf("re-encoded manifest does not parse: %v\n%s", err, out)
		}
	})
}
