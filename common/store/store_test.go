package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/common/dirs"

	// The tests import and render compressed images.
	_ "github.com/rkt/rkt/common/aci/compression/codecs"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	root, err := dirs.New(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeACI writes a gzip ACI named name with files under rootfs/.
func writeACI(t *testing.T, dir, name, version string, extra map[string]any, files map[string]string) string {
	t.Helper()
	m := map[string]any{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
		"labels": []map[string]string{{"name": "version", "value": version}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}}}
	for k, v := range extra {
		m[k] = v
	}
	mj, _ := json.Marshal(m)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	put := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	put(&tar.Header{Name: "manifest", Mode: 0o644, Typeflag: tar.TypeReg}, string(mj))
	put(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	put(&tar.Header{Name: "rootfs/etc/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	for p, c := range files {
		put(&tar.Header{Name: "rootfs/" + p, Mode: 0o644, Typeflag: tar.TypeReg}, c)
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+"-"+version+".aci")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIDForms(t *testing.T) {
	full := "sha512-" + strings.Repeat("ab", 64)
	if !IsID(full) || !IsID("sha512-ab") || IsID("sha512-a") || IsID("sha512-xyz0") || IsID("example.com/x") {
		t.Error("IsID")
	}
	k, err := KeyOf(full)
	if err != nil || len(k) != len("sha512-")+64 {
		t.Errorf("KeyOf: %s %v", k, err)
	}
	if k, _ := KeyOf("SHA512-AB"); k != "" {
		t.Errorf("upper-case prefix accepted: %s", k)
	}
	if ShortID(full, ListHexLen) != "sha512-abababababab" {
		t.Error("ShortID")
	}
}

func TestImportResolveRemove(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	a1 := writeACI(t, dir, "example.com/a", "1", nil, map[string]string{"etc/a": "1"})
	a2 := writeACI(t, dir, "example.com/a", "2", nil, map[string]string{"etc/a": "2"})
	i1, err := s.ImportFile(a1, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	i2, err := s.ImportFile(a2, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Importing again finds the same entry.
	again, err := s.ImportFile(a1, ImportOptions{})
	if err != nil || again.Key != i1.Key {
		t.Fatalf("re-import: %v %v", again, err)
	}
	if keys, _ := s.Keys(); len(keys) != 2 {
		t.Errorf("keys: %v", keys)
	}
	for arg, want := range map[string]string{"example.com/a": i2.Key, "example.com/a:1": i1.Key, i1.ID: i1.Key, i1.Key[:20]: i1.Key} {
		if got, err := s.Resolve(arg); err != nil || got != want {
			t.Errorf("Resolve(%s) = %s %v, want %s", arg, got, err, want)
		}
	}
	if _, err := s.Resolve("sha512-"); !errors.Is(err, ErrBadID) && !errors.Is(err, ErrNotFound) {
		t.Errorf("bad id: %v", err)
	}
	if _, err := s.Resolve("example.com/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	if i1.Size <= 0 || i1.TarSize <= i1.Size || i1.Compression != "gzip" {
		t.Errorf("info: %+v", i1)
	}
	// Info reads back what the import recorded, labels in their order.
	got, err := s.Info(i1.Key)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Labels.Get("version"); v != "1" || len(got.Labels) != 3 || got.Labels[2].Name != "arch" || got.Labels[2].Value != "amd64" ||
		got.ID != i1.ID || got.Name != "example.com/a" || got.Size != i1.Size || got.TarSize != i1.TarSize || !got.ImportTime.Equal(i1.ImportTime) {
		t.Errorf("Info = %+v, imported %+v", got, i1)
	}
	if err := s.Remove(i1.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(i1.Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("after remove: %v", err)
	}
	if err := s.Remove(i1.Key); !errors.Is(err, ErrNotFound) {
		t.Errorf("double remove: %v", err)
	}
	if ents, _ := os.ReadDir(s.root.CASTmp()); len(ents) != 0 {
		t.Errorf("tmp not clean: %v", ents)
	}
}

func TestAmbiguousPrefix(t *testing.T) {
	s := newStore(t)
	for _, k := range []string{"sha512-aa11", "sha512-aa22"} {
		key := k + strings.Repeat("0", 60)
		if err := os.MkdirAll(filepath.Join(s.root.Images(), key), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ResolveID("sha512-aa"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous: %v", err)
	}
	if k, err := s.ResolveID("sha512-aa1"); err != nil || !strings.HasPrefix(k, "sha512-aa11") {
		t.Errorf("unique prefix: %s %v", k, err)
	}
}

func TestLatestPreferred(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	old := writeACI(t, dir, "example.com/l", "1", nil, nil)
	newer := writeACI(t, dir, "example.com/l", "2", nil, nil)
	iOld, _ := s.ImportFile(old, ImportOptions{Latest: true})
	time.Sleep(5 * time.Millisecond)
	s.ImportFile(newer, ImportOptions{})
	found, err := s.FindByName("example.com/l", nil)
	if err != nil || len(found) != 2 || found[0].Key != iOld.Key {
		t.Errorf("latest-flagged image must come first without a version: %v", found)
	}
	found, _ = s.FindByName("example.com/l", map[string]string{"version": "2"})
	if len(found) != 1 || found[0].Version() != "2" {
		t.Errorf("version filter: %v", found)
	}
}

func TestTreeCheckVerifyRender(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the tree store keeps ownership: needs root")
	}
	s := newStore(t)
	dir := t.TempDir()
	base := writeACI(t, dir, "example.com/base", "1", nil, map[string]string{"etc/base": "b", "etc/shared": "base", "etc/drop": "x"})
	app := writeACI(t, dir, "example.com/app", "1", map[string]any{
		"dependencies":  []map[string]any{{"imageName": "example.com/base"}},
		"pathWhitelist": []string{"/etc/base", "/etc/shared", "/etc/app"},
	}, map[string]string{"etc/app": "a", "etc/shared": "app"})
	ib, err := s.ImportFile(base, ImportOptions{Render: true, Root: true})
	if err != nil {
		t.Fatal(err)
	}
	baseTree := TreeID([]string{ib.Key})
	if err := s.CheckTree(baseTree); err != nil {
		t.Fatalf("base rendered at import: %v", err)
	}
	// A version 1 statsum (trees of earlier builds) is checked as such,
	// then replaced by a version 2 one.
	sumFile := filepath.Join(s.TreePath(baseTree), treeStatSum)
	v1, err := statSum(s.TreeRootfs(baseTree), 1)
	if err != nil || strings.HasPrefix(v1, "2:") {
		t.Fatal(v1, err)
	}
	if err := os.WriteFile(sumFile, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTree(baseTree); err != nil {
		t.Fatalf("a tree with a version 1 statsum: %v", err)
	}
	if b, _ := os.ReadFile(sumFile); !strings.HasPrefix(string(b), "2:") {
		t.Errorf("statsum not upgraded: %q", b)
	}
	if err := s.CheckTree(baseTree); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	if err := os.WriteFile(sumFile, []byte(strings.Repeat("0", 128)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTree(baseTree); !errors.Is(err, ErrTreeDamaged) {
		t.Errorf("a wrong version 1 statsum: %v", err)
	}
	if err := s.VerifyTree(baseTree); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sumFile); !strings.HasPrefix(string(b), "2:") {
		t.Errorf("VerifyTree wrote %q", b)
	}
	ia, err := s.ImportFile(app, ImportOptions{Render: true, Root: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, apply, err := s.RenderKeys(ia.Key)
	if err != nil || len(keys) != 2 || keys[0] != ia.Key || apply[0] != ib.Key {
		t.Fatalf("RenderKeys: %v %v %v", keys, apply, err)
	}
	id, err := s.Render(ia.Key, true, false)
	if err != nil {
		t.Fatal(err)
	}
	root := s.TreeRootfs(id)
	for p, want := range map[string]string{"etc/base": "b", "etc/shared": "app", "etc/app": "a"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/drop")); err == nil {
		t.Error("pathWhitelist not applied")
	}
	if err := s.VerifyTree(id); err != nil {
		t.Fatal(err)
	}
	// Any change is caught by the cheap check, and by the full one.
	if err := os.WriteFile(filepath.Join(root, "etc/app"), []byte("A"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTree(id); !errors.Is(err, ErrTreeDamaged) {
		t.Errorf("CheckTree after a write: %v", err)
	}
	if err := s.VerifyTree(id); !errors.Is(err, ErrTreeDamaged) {
		t.Errorf("VerifyTree after a write: %v", err)
	}
	// Render rebuilds a damaged tree, and sets the damaged one aside: a
	// running pod may have it as its overlay lower layer.
	inUse, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.Close()
	if _, err := s.Render(ia.Key, true, false); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyTree(id); err != nil {
		t.Errorf("after re-render: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join("/proc/self/fd", strconv.Itoa(int(inUse.Fd())), "etc/app")); err != nil || string(b) != "A" {
		t.Errorf("the damaged tree's files went while in use: %q %v", b, err)
	}
	retired, _ := filepath.Glob(filepath.Join(s.root.CASTmp(), retiredPrefix+id+".*"))
	if len(retired) != 1 {
		t.Fatalf("retired trees: %v", retired)
	}
	if err := s.CleanTmp(0); err != nil {
		t.Fatal(err)
	}
	if err := s.GCTrees(map[string]bool{baseTree: true, id: true}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(retired[0]); err != nil {
		t.Errorf("a retired tree whose ID a pod uses was removed: %v", err)
	}
	// A tree without its marker is a crashed render.
	os.Remove(filepath.Join(s.TreePath(id), treeRendered))
	if err := s.CheckTree(id); !errors.Is(err, ErrNotRendered) {
		t.Errorf("no marker: %v", err)
	}
	if err := s.GCTrees(map[string]bool{baseTree: true}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.TreeIDs(); len(ids) != 1 || ids[0] != baseTree {
		t.Errorf("GCTrees kept %v", ids)
	}
	if _, err := os.Stat(retired[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a retired tree no pod uses was kept: %v", err)
	}
}

func TestCleanTmp(t *testing.T) {
	s := newStore(t)
	past := time.Now().Add(-2 * time.Hour)
	// A killed import: unlocked, removed whatever its age.
	stale := filepath.Join(s.root.CASTmp(), "import-stale")
	os.Mkdir(stale, 0o755)
	// An import killed before it locked its new directory (an import
	// still making it starts again: see lockedWorkDir).
	killed := filepath.Join(s.root.CASTmp(), newWorkPrefix+"killed")
	os.Mkdir(killed, 0o755)
	// A live import.
	work, lk, err := s.lockedWorkDir()
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	if !strings.HasPrefix(filepath.Base(work), "import-") {
		t.Errorf("work directory %s", work)
	}
	old := filepath.Join(s.root.CASTmp(), "dl-old")
	os.WriteFile(old, []byte("x"), 0o644)
	os.Chtimes(old, past, past)
	fresh := filepath.Join(s.root.CASTmp(), "dl-fresh")
	os.WriteFile(fresh, []byte("x"), 0o644)
	if err := s.CleanTmp(time.Hour); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{stale: false, killed: false, work: true, old: false, fresh: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", p, err == nil, want)
		}
	}
}

func TestRemoteFreshness(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	info, err := s.ImportFile(writeACI(t, dir, "example.com/r", "1", nil, nil), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := &Remote{URL: "https://x/r.aci", Key: info.Key, ETag: `"e"`, MaxAge: time.Minute, DownloadTime: now}
	if err := s.PutRemote(r); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRemote(r.URL)
	if err != nil || got == nil || got.ETag != `"e"` || !got.Fresh(now.Add(30*time.Second)) || got.Fresh(now.Add(2*time.Minute)) {
		t.Fatalf("GetRemote: %+v %v", got, err)
	}
	s.Remove(info.Key)
	if got, _ := s.GetRemote(r.URL); got != nil {
		t.Error("record of a removed image survives")
	}
}

// An image or tree written without a sync in another boot is verified
// before use; a damaged one is refused, an intact one settled.
func TestUnsyncedFromAnotherBoot(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	info, err := s.ImportFile(writeACI(t, dir, "example.com/u", "1", nil, map[string]string{"etc/u": "u"}), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(s.imageDir(info.Key), unsyncedFile)
	if b, err := os.ReadFile(marker); err != nil || string(b) != bootID() {
		t.Fatalf("no unsynced marker for this boot: %q %v", b, err)
	}
	release, err := s.Hold(info.Key)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := os.Stat(marker); err != nil {
		t.Error("same boot: the marker must stay (no sync needed yet)")
	}
	os.WriteFile(marker, []byte("another-boot"), 0o660)
	release, err = s.Hold(info.Key)
	if err != nil {
		t.Fatalf("intact image from another boot: %v", err)
	}
	release()
	if _, err := os.Stat(marker); err == nil {
		t.Error("verified image still marked unsynced")
	}
	os.WriteFile(marker, []byte("another-boot"), 0o660)
	os.WriteFile(s.BlobPath(info.Key), []byte("zeroes after a crash"), 0o660)
	if _, err := s.Hold(info.Key); !errors.Is(err, ErrImageDamaged) {
		t.Errorf("damaged image from another boot: %v", err)
	}
}

// The ondisk check's walker must agree with filepath.WalkDir's order, or
// trees rendered before a change would all look damaged.
func TestStatSumMatchesWalkDir(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"b/c/d", "a", "b/a", "c"} {
		os.MkdirAll(filepath.Join(dir, p), 0o755)
		os.WriteFile(filepath.Join(dir, p, "f"), []byte(p), 0o644)
	}
	os.Symlink("a", filepath.Join(dir, "link"))
	os.Symlink("../f", filepath.Join(dir, "b", "zlink"))
	for version := 1; version <= 2; version++ {
		got, err := statSum(dir, version)
		if err != nil {
			t.Fatal(err)
		}
		h := sha512.New()
		var rec []byte
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			var st syscall.Stat_t
			syscall.Lstat(p, &st)
			rec = append(rec[:0], p[len(dir):]...)
			rec = append(rec, 0)
			if version == 2 && st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
				rec = append(rec, 'l', ' ')
				rec = strconv.AppendUint(rec, st.Ino, 16)
				h.Write(rec)
				return nil
			}
			for _, v := range []uint64{st.Ino, uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), uint64(st.Size), uint64(st.Mtim.Nano()), uint64(st.Ctim.Nano())} {
				rec = strconv.AppendUint(rec, v, 16)
				rec = append(rec, ' ')
			}
			h.Write(rec)
			return nil
		})
		want := hex.EncodeToString(h.Sum(nil))
		if version == 2 {
			want = "2:" + want
		}
		if got != want {
			t.Errorf("version %d: statSum %s, WalkDir order gives %s", version, got, want)
		}
	}
}

// What a version 2 statsum notices: every change but a symbolic link's
// own owner (see the comment at the top of tree.go).
func TestStatSumV2Notices(t *testing.T) {
	for name, change := range map[string]func(dir string) error{
		"file written": func(d string) error { return os.WriteFile(filepath.Join(d, "a", "f"), []byte("x"), 0o644) },
		"file chmod":   func(d string) error { return os.Chmod(filepath.Join(d, "a", "f"), 0o600) },
		"link replaced": func(d string) error {
			os.Remove(filepath.Join(d, "a", "l"))
			return os.Symlink("/etc/shadow", filepath.Join(d, "a", "l"))
		},
		"link added":   func(d string) error { return os.Symlink("f", filepath.Join(d, "a", "l2")) },
		"link removed": func(d string) error { return os.Remove(filepath.Join(d, "a", "l")) },
		"link renamed": func(d string) error { return os.Rename(filepath.Join(d, "a", "l"), filepath.Join(d, "a", "m")) },
		"link to a file": func(d string) error {
			os.Remove(filepath.Join(d, "a", "l"))
			return os.WriteFile(filepath.Join(d, "a", "l"), nil, 0o644)
		},
		"dir chmod":       func(d string) error { return os.Chmod(filepath.Join(d, "a"), 0o700) },
		"file moved away": func(d string) error { return os.Rename(filepath.Join(d, "a", "f"), filepath.Join(d, "f")) },
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "a"), 0o755)
		os.WriteFile(filepath.Join(dir, "a", "f"), []byte("f"), 0o644)
		os.Symlink("f", filepath.Join(dir, "a", "l"))
		before, err := statSum(dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := change(dir); err != nil {
			t.Fatal(err)
		}
		if after, err := statSum(dir, 2); err != nil || after == before {
			t.Errorf("%s: not noticed (%v)", name, err)
		}
	}
}
