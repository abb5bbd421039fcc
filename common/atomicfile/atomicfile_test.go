package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// entries lists the names in dir, so tests can spot leftover temp files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	if got := strings.Join(entries(t, dir), ","); got != strings.Join(want, ",") {
		t.Fatalf("%s holds %q, want %q", dir, got, strings.Join(want, ","))
	}
}

func assertFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Fatalf("%s = %q, want %q", path, b, content)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != perm {
		t.Fatalf("%s mode %v, want %v", path, st.Mode().Perm(), perm)
	}
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pod")
	if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Keep the old file open: a rename leaves its inode, and so a reader
	// that opened it before, intact.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	if err := WriteFile(path, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, "new", 0o640)
	assertOnly(t, dir, "pod")
	b, err := io.ReadAll(old)
	if err != nil || string(b) != "old content" {
		t.Fatalf("old reader got %q, %v", b, err)
	}
}

func TestPermIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o600, 0o640, 0o660, 0o644, 0o755, 0o400} {
		path := filepath.Join(dir, fmt.Sprintf("f%o", perm))
		if err := WriteFile(path, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		assertFile(t, path, "x", perm)
	}
}

func TestStreamingCommit(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	blobs := filepath.Join(dir, "blob")
	for _, d := range []string{tmp, blobs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(blobs, "sha512-0123")
	f, err := Create(path, tmp, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if filepath.Dir(f.Name()) != tmp {
		t.Fatalf("temp file %s not in %s", f.Name(), tmp)
	}
	want := bytes.Repeat([]byte("0123456789"), 100000)
	if _, err := f.Write(want[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, bytes.NewReader(want[10:])); err != nil {
		t.Fatal(err)
	}
	// Nothing is visible before Commit.
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target visible before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("content mismatch (%d bytes, %v)", len(got), err)
	}
	assertOnly(t, tmp)
	if err := f.Abort(); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
	if err := f.Commit(); !errors.Is(err, ErrDone) {
		t.Fatalf("second Commit = %v, want ErrDone", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Abort after Commit removed the target: %v", err)
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, "", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("discard")); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if err := f.Commit(); !errors.Is(err, ErrDone) {
		t.Fatalf("Commit after Abort = %v, want ErrDone", err)
	}
	assertFile(t, path, "keep", 0o644)
	assertOnly(t, dir, "f")
}

func TestMissingDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing", "f")
	if err := WriteFile(path, []byte("x"), 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFile into a missing dir = %v, want ErrNotExist", err)
	}
	if _, err := Create(filepath.Join(dir, "f"), filepath.Join(dir, "missing"), 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Create with a missing tmpDir = %v, want ErrNotExist", err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir(missing) = %v, want ErrNotExist", err)
	}
	assertOnly(t, dir)
}

// TestCommitFailureCleansUp makes the rename fail (the target is a
// non-empty directory) and checks that the temp file goes away.
func TestCommitFailureCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Join(path, "child"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, "", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit over a directory succeeded")
	}
	if err := f.Abort(); err != nil {
		t.Fatalf("Abort after a failed Commit: %v", err)
	}
	assertOnly(t, dir, "target")
}

func TestCrossDevice(t *testing.T) {
	// /dev/shm is a tmpfs on every Linux box we run on; skip otherwise.
	other, err := os.MkdirTemp("/dev/shm", "atomicfile-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	defer os.RemoveAll(other)
	dir := t.TempDir()
	if err := sameDevice(other, dir); err == nil {
		t.Skip("/dev/shm and the test temp dir are on the same file system")
	}
	if _, err := Create(filepath.Join(dir, "f"), other, 0o600); !errors.Is(err, ErrCrossDevice) {
		t.Fatalf("Create across devices = %v, want ErrCrossDevice", err)
	}
}

// TestConcurrentWriters runs writers and readers against one path: every
// read must see one writer's complete content, and so must the end result.
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	contents := make(map[string]bool)
	var payloads [][]byte
	for i := range 10 {
		// Sizes differ, so a torn or partial write could not pass as
		// another writer's content.
		p := bytes.Repeat([]byte{byte('a' + i)}, 4096*(i+1))
		payloads = append(payloads, p)
		contents[string(p)] = true
	}
	if err := WriteFile(path, payloads[0], 0o644); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if !contents[string(b)] {
					t.Errorf("reader saw a partial file (%d bytes)", len(b))
					return
				}
			}
		}()
	}

	var writers sync.WaitGroup
	for i := range 10 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 5 {
				if err := WriteFile(path, payloads[i], 0o644); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !contents[string(b)] {
		t.Fatalf("final content is no writer's (%d bytes)", len(b))
	}
	assertOnly(t, dir, "f")
}

func TestPublish(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pid")
	for _, v := range []string{"1", "22"} {
		if err := Publish(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != v {
			t.Errorf("content %q, want %q", b, v)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestWriteInPlace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pid")
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if err := WriteInPlace(p, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlace(p, []byte("7"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "7" {
		t.Errorf("content %q %v", b, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v: the umask must not apply", fi.Mode(), err)
	}
	if err := WriteInPlace(filepath.Join(dir, "marker"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteInPlace(filepath.Join(dir, "nodir", "x"), nil, 0o644); err == nil || !strings.Contains(err.Error(), "nodir") {
		t.Errorf("missing directory: %v", err)
	}
}
