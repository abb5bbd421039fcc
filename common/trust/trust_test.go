package trust

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Ed25519 keys: generating RSA keys would make the tests slow.
var keyConfig = &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}

type testKey struct {
	e     *openpgp.Entity
	pub   []byte // armored public key
	fpr   string
	email string
}

func newKey(t *testing.T, name string) *testKey {
	t.Helper()
	email := name + "@example.com"
	e, err := openpgp.NewEntity(name, "test", email, keyConfig)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &testKey{e: e, pub: buf.Bytes(), fpr: Fingerprint(e), email: email}
}

func (k *testKey) sign(t *testing.T, data []byte, armored bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	sign := openpgp.DetachSign
	if armored {
		sign = openpgp.ArmoredDetachSign
	}
	if err := sign(&buf, k.e, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newStore(t *testing.T) *Store {
	d := t.TempDir()
	return &Store{SystemDir: filepath.Join(d, "system"), LocalDir: filepath.Join(d, "local")}
}

// addSystemKey puts a key where a vendor would: AddKey only writes the
// local dir.
func addSystemKey(t *testing.T, s *Store, prefix string, k *testKey) {
	t.Helper()
	sys := &Store{LocalDir: s.SystemDir}
	if _, err := sys.AddKey(prefix, k.pub); err != nil {
		t.Fatal(err)
	}
}

func mustAdd(t *testing.T, s *Store, prefix string, k *testKey) string {
	t.Helper()
	p, err := s.AddKey(prefix, k.pub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mask writes the empty file that distrusts fpr under dir's prefix (or
// root.d when prefix is "").
func mask(t *testing.T, dir, prefix, fpr string) {
	t.Helper()
	d := rootDir(dir)
	if prefix != "" {
		d = filepath.Join(prefixDir(dir), prefix)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, fpr), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

var data = []byte("the exact bytes of an image, as downloaded\n")

func TestVerifyValid(t *testing.T) {
	s := newStore(t)
	k := newKey(t, "signer")
	mustAdd(t, s, "example.com/app", k)
	for _, armored := range []bool{true, false} {
		sig := k.sign(t, data, armored)
		e, err := s.Verify("example.com/app", bytes.NewReader(data), sig)
		if err != nil {
			t.Fatalf("armored=%v: %v", armored, err)
		}
		if Fingerprint(e) != k.fpr {
			t.Errorf("signer %s, want %s", Fingerprint(e), k.fpr)
		}
	}
}

func TestVerifyBadSignature(t *testing.T) {
	s := newStore(t)
	k := newKey(t, "signer")
	mustAdd(t, s, "example.com/app", k)
	sig := k.sign(t, data, true)
	tampered := append([]byte("X"), data[1:]...)
	e, err := s.Verify("example.com/app", bytes.NewReader(tampered), sig)
	if !errors.Is(err, ErrBadSignature) || e != nil {
		t.Fatalf("tampered data: %v, %v; want ErrBadSignature", e, err)
	}
	// Truncated data is tampered data too.
	if _, err := s.Verify("example.com/app", bytes.NewReader(data[:10]), sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("truncated data: %v", err)
	}
}

func TestVerifyUnknownSigner(t *testing.T) {
	s := newStore(t)
	trusted, other := newKey(t, "trusted"), newKey(t, "other")
	mustAdd(t, s, "example.com/app", trusted)
	_, err := s.Verify("example.com/app", bytes.NewReader(data), other.sign(t, data, true))
	if !errors.Is(err, ErrUnsignedBy) {
		t.Fatalf("got %v, want ErrUnsignedBy", err)
	}
	for _, want := range []string{"openpgp: signature made by unknown entity", `rkt trust --prefix "example.com/app"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestVerifyNoKeys(t *testing.T) {
	s := newStore(t)
	k := newKey(t, "signer")
	_, err := s.Verify("example.com/app", bytes.NewReader(data), k.sign(t, data, true))
	if !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), `rkt trust --prefix "example.com/app"`) {
		t.Fatalf("got %v, want ErrNoKeys with hint", err)
	}
}

func TestVerifyNoSignature(t *testing.T) {
	s := newStore(t)
	k := newKey(t, "signer")
	mustAdd(t, s, "", k)
	for name, sig := range map[string][]byte{
		"empty":       nil,
		"html":        []byte("<html><body>404 not found</body></html>\n"),
		"public key":  k.pub,
		"bad armor":   []byte("-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP SIGNATURE-----\n"),
		"binary junk": {0x89, 0x01, 0x02},
	} {
		_, err := s.Verify("example.com/app", bytes.NewReader(data), sig)
		if !errors.Is(err, ErrNoSignature) {
			t.Errorf("%s: got %v, want ErrNoSignature", name, err)
		}
	}
}

func TestInvalidName(t *testing.T) {
	s := newStore(t)
	for _, name := range []string{"", "Example.com", "example.com/../etc", "/abs", "a//b", "example.com/app/"} {
		if _, err := s.Keyring(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Keyring(%q): %v, want ErrInvalidName", name, err)
		}
		if _, err := s.NewVerifier(name, nil); !errors.Is(err, ErrInvalidName) {
			t.Errorf("NewVerifier(%q): %v, want ErrInvalidName", name, err)
		}
	}
	k := newKey(t, "k")
	for _, prefix := range []string{"Example.com", "../x", "example.com/../../x", "https://example.com"} {
		if _, err := s.AddKey(prefix, k.pub); !errors.Is(err, ErrInvalidName) {
			t.Errorf("AddKey(%q): %v, want ErrInvalidName", prefix, err)
		}
	}
}

// Which stored prefixes make a key trusted for which names (TEST-66).
func TestPrefixMatching(t *testing.T) {
	for _, tc := range []struct {
		prefix, name string
		trusted      bool
	}{
		{"example.com", "example.com/busybox", true},
		{"example.com/busybox", "example.com/busybox", true},
		{"example.com/busybox", "example.com/busybox/sub", true},
		{"", "example.com/busybox", true}, // root key
		{"", "other.org/x", true},
		{"example.com/busy", "example.com/busybox", false}, // not a whole component
		{"example.com/busybox/sub", "example.com/busybox", false},
		{"other.com", "example.com/busybox", false},
		{"example.co", "example.com/busybox", false},
	} {
		s := newStore(t)
		k := newKey(t, "k")
		mustAdd(t, s, tc.prefix, k)
		_, err := s.Verify(tc.name, bytes.NewReader(data), k.sign(t, data, true))
		if tc.trusted && err != nil {
			t.Errorf("key for %q, image %q: %v, want trusted", tc.prefix, tc.name, err)
		}
		if !tc.trusted && !errors.Is(err, ErrNoKeys) {
			t.Errorf("key for %q, image %q: %v, want ErrNoKeys", tc.prefix, tc.name, err)
		}
	}
}

// A key trusted for an unrelated prefix does not help, and every matching
// prefix directory contributes, in both config dirs.
func TestKeyringMerges(t *testing.T) {
	s := newStore(t)
	sysRoot, locRoot := newKey(t, "sysroot"), newKey(t, "locroot")
	sysShort, locLong, unrelated := newKey(t, "sysshort"), newKey(t, "loclong"), newKey(t, "unrelated")
	addSystemKey(t, s, "", sysRoot)
	mustAdd(t, s, "", locRoot)
	addSystemKey(t, s, "example.com", sysShort)
	mustAdd(t, s, "example.com/app", locLong)
	mustAdd(t, s, "other.com/app", unrelated)
	mustAdd(t, s, "example.com/app/sub", unrelated)

	kr, err := s.Keyring("example.com/app")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range kr {
		got = append(got, Fingerprint(e))
	}
	want := []string{sysRoot.fpr, locRoot.fpr, sysShort.fpr, locLong.fpr}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("keyring %v, want %v (system root, local root, system prefix, local prefix)", got, want)
	}
	for _, k := range []*testKey{sysRoot, locRoot, sysShort, locLong} {
		if _, err := s.Verify("example.com/app", bytes.NewReader(data), k.sign(t, data, true)); err != nil {
			t.Errorf("%s: %v", k.email, err)
		}
	}
	if _, err := s.Verify("example.com/app", bytes.NewReader(data), unrelated.sign(t, data, true)); !errors.Is(err, ErrUnsignedBy) {
		t.Errorf("unrelated prefix key: %v, want ErrUnsignedBy", err)
	}
}

func TestMasking(t *testing.T) {
	t.Run("root", func(t *testing.T) {
		s := newStore(t)
		k := newKey(t, "vendor")
		addSystemKey(t, s, "", k)
		mask(t, s.LocalDir, "", k.fpr)
		if _, err := s.Verify("example.com/app", bytes.NewReader(data), k.sign(t, data, true)); !errors.Is(err, ErrNoKeys) {
			t.Fatalf("masked root key: %v, want ErrNoKeys", err)
		}
	})
	t.Run("prefix", func(t *testing.T) {
		s := newStore(t)
		k, other := newKey(t, "vendor"), newKey(t, "other")
		addSystemKey(t, s, "example.com", k)
		mustAdd(t, s, "example.com", other)
		mask(t, s.LocalDir, "example.com", k.fpr)
		if _, err := s.Verify("example.com/app", bytes.NewReader(data), k.sign(t, data, true)); !errors.Is(err, ErrUnsignedBy) {
			t.Fatalf("masked prefix key: %v, want ErrUnsignedBy", err)
		}
		if _, err := s.Verify("example.com/app", bytes.NewReader(data), other.sign(t, data, true)); err != nil {
			t.Fatalf("unmasked key: %v", err)
		}
	})
	t.Run("prefix masks root for names below it", func(t *testing.T) {
		s := newStore(t)
		k := newKey(t, "vendor")
		addSystemKey(t, s, "", k)
		mask(t, s.LocalDir, "example.com", k.fpr)
		sig := k.sign(t, data, true)
		if _, err := s.Verify("example.com/app", bytes.NewReader(data), sig); !errors.Is(err, ErrNoKeys) {
			t.Errorf("under the masking prefix: %v, want ErrNoKeys", err)
		}
		if _, err := s.Verify("other.com/app", bytes.NewReader(data), sig); err != nil {
			t.Errorf("elsewhere: %v", err)
		}
	})
	t.Run("mask read before the key does nothing", func(t *testing.T) {
		s := newStore(t)
		k := newKey(t, "k")
		mask(t, s.SystemDir, "", k.fpr)
		mustAdd(t, s, "", k)
		if _, err := s.Verify("example.com/app", bytes.NewReader(data), k.sign(t, data, true)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKeyringBadFiles(t *testing.T) {
	s := newStore(t)
	k, other := newKey(t, "k"), newKey(t, "other")
	p := mustAdd(t, s, "example.com", k)
	// A stray temporary file of an interrupted write is not a key.
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), ".x.tmp-1"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if kr, err := s.Keyring("example.com/app"); err != nil || len(kr) != 1 {
		t.Fatalf("with a dot file: %v, %v", kr, err)
	}
	// A key under another key's name is refused, not trusted.
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), other.fpr), k.pub, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keyring("example.com/app"); !errors.Is(err, ErrBadKeyFile) || !strings.Contains(err.Error(), other.fpr) {
		t.Fatalf("misnamed key: %v, want ErrBadKeyFile", err)
	}
}

func TestAddKeyLayout(t *testing.T) {
	old := syscall.Umask(0o077) // the modes must not depend on the umask
	defer syscall.Umask(old)
	s := newStore(t)
	k := newKey(t, "k")
	if len(k.fpr) != 40 || strings.ToLower(k.fpr) != k.fpr {
		t.Fatalf("fingerprint %q is not 40 lowercase hex digits", k.fpr)
	}
	p := mustAdd(t, s, "example.com/busybox", k)
	want := filepath.Join(s.LocalDir, "trustedkeys", "prefix.d", "example.com", "busybox", k.fpr)
	if p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	r := mustAdd(t, s, "", k)
	if want := filepath.Join(s.LocalDir, "trustedkeys", "root.d", k.fpr); r != want {
		t.Errorf("root path %s, want %s", r, want)
	}
	for _, f := range []string{p, r} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != FileMode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode(), FileMode)
		}
		if got, _ := os.ReadFile(f); !bytes.Equal(got, k.pub) {
			t.Errorf("%s: content differs from the key given", f)
		}
	}
	for d := filepath.Dir(p); d != filepath.Dir(s.LocalDir); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != DirMode {
			t.Errorf("%s: mode %v, want %v", d, fi.Mode().Perm(), DirMode)
		}
	}
	// Adding again replaces the file in place.
	if again := mustAdd(t, s, "example.com/busybox", k); again != p {
		t.Errorf("re-add: %s", again)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("after re-add the dir holds %d entries", len(ents))
	}
}

func TestAddKeyRejects(t *testing.T) {
	s := newStore(t)
	k, k2 := newKey(t, "k"), newKey(t, "k2")
	var priv bytes.Buffer
	w, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := k.e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var both bytes.Buffer
	w, _ = armor.Encode(&both, openpgp.PublicKeyType, nil)
	k.e.Serialize(w)
	k2.e.Serialize(w)
	w.Close()
	for name, key := range map[string][]byte{
		"private key": priv.Bytes(),
		"two keys":    both.Bytes(),
		"junk":        []byte("not a key"),
		"empty":       nil,
	} {
		if _, err := s.AddKey("example.com", key); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("%s: %v, want ErrBadKeyFile", name, err)
		}
	}
	if _, err := (&Store{}).AddKey("", k.pub); !errors.Is(err, ErrNoLocalDir) {
		t.Errorf("no local dir: %v", err)
	}
	if _, err := os.Stat(s.LocalDir); err == nil {
		t.Errorf("a rejected key left directories behind")
	}
}

func TestFormatFingerprint(t *testing.T) {
	fp := []byte{0x06, 0xDA, 0xAA, 0xEC, 0x08, 0x8D, 0x42, 0xA4, 0xB4, 0x73, 0xB7, 0x87, 0x74, 0xA8, 0xF3, 0x42, 0x0E, 0x33, 0x85, 0xF0}
	if got, want := FormatFingerprint(fp), "06DA AAEC 088D 42A4 B473  B787 74A8 F342 0E33 85F0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := FormatFingerprint([]byte{0xab, 0xcd}); got != "ABCD" {
		t.Errorf("short: %q", got)
	}
}

// Writing in arbitrary chunks gives what Verify gives, for every outcome.
func TestStreamingEqualsVerify(t *testing.T) {
	s := newStore(t)
	k, other := newKey(t, "k"), newKey(t, "other")
	mustAdd(t, s, "example.com", k)
	big := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(big)
	tampered := append([]byte{}, big...)
	tampered[len(tampered)/2] ^= 1
	for name, tc := range map[string]struct {
		data, sig []byte
	}{
		"valid":    {big, k.sign(t, big, true)},
		"binary":   {big, k.sign(t, big, false)},
		"tampered": {tampered, k.sign(t, big, true)},
		"unknown":  {big, other.sign(t, big, true)},
		"junk sig": {big, []byte("junk")},
	} {
		e1, err1 := s.Verify("example.com/app", bytes.NewReader(tc.data), tc.sig)
		v, err := s.NewVerifier("example.com/app", tc.sig)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(2))
		var werr error
		for rest := tc.data; len(rest) > 0 && werr == nil; {
			n := min(1+rng.Intn(100000), len(rest))
			_, werr = v.Write(rest[:n])
			rest = rest[n:]
		}
		e2, err2 := v.Done()
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() || (e1 == nil) != (e2 == nil) {
			t.Errorf("%s: Verify = %v, %v; streaming = %v, %v", name, e1, err1, e2, err2)
		}
		if werr != nil && werr.Error() != err2.Error() {
			t.Errorf("%s: Write failed with %v, Done with %v", name, werr, err2)
		}
	}
}

// An unknown signer is known before the data: writes fail at once rather
// than block or swallow an image that will be thrown away.
func TestVerifierFailsEarly(t *testing.T) {
	s := newStore(t)
	k, other := newKey(t, "k"), newKey(t, "other")
	mustAdd(t, s, "example.com", k)
	v, err := s.NewVerifier("example.com/app", other.sign(t, data, true))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			_, err = v.Write(data)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnsignedBy) {
			t.Errorf("Write: %v, want ErrUnsignedBy", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked")
	}
	if _, err := v.Done(); !errors.Is(err, ErrUnsignedBy) {
		t.Errorf("Done: %v", err)
	}
}

func TestVerifierAbort(t *testing.T) {
	s := newStore(t)
	k := newKey(t, "k")
	mustAdd(t, s, "example.com", k)
	v, err := s.NewVerifier("example.com/app", k.sign(t, data, true))
	if err != nil {
		t.Fatal(err)
	}
	writer := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			_, err = v.Write(data)
		}
		writer <- err
	}()
	time.Sleep(10 * time.Millisecond)
	aborted := make(chan struct{})
	go func() { v.Abort(); close(aborted) }()
	for _, ch := range []<-chan struct{}{aborted, errDone(writer)} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("Abort or Write blocked")
		}
	}
	if e, err := v.Done(); !errors.Is(err, ErrAborted) || e != nil {
		t.Errorf("Done after Abort: %v, %v", e, err)
	}
	if _, err := v.Write(data); err == nil {
		t.Error("Write after Abort succeeded")
	}
	// Abort with no writer at all, and twice, returns.
	v2, _ := s.NewVerifier("example.com/app", k.sign(t, data, true))
	v2.Abort()
	v2.Abort()
}

func errDone(ch <-chan error) <-chan struct{} {
	out := make(chan struct{})
	go func() { <-ch; close(out) }()
	return out
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestVerifyReadError(t *testing.T) {
	s := newStore(t)
	k := newKey(t, "k")
	mustAdd(t, s, "example.com", k)
	_, err := s.Verify("example.com/app", io.MultiReader(bytes.NewReader(data), failingReader{}), k.sign(t, data, true))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want the read error", err)
	}
}

// The shared fixtures: real gpg-made keys and signatures over real ACIs.
func TestFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "build", "fixtures")
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("fixture %s not built (tests/harness builds them)", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pub, untrustedPub := read("pubkeys.gpg"), read("untrusted-pubkey.gpg")
	wantFpr := strings.ToLower(strings.TrimSpace(string(read("signing-key.fpr"))))
	s := newStore(t)
	p, err := s.AddKey("example.com/busybox", pub)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != wantFpr {
		t.Errorf("stored as %s, want %s", filepath.Base(p), wantFpr)
	}
	// The untrusted key is trusted, but for a prefix that does not match.
	if _, err := s.AddKey("example.org", untrustedPub); err != nil {
		t.Fatal(err)
	}
	verify := func(aci string) (*openpgp.Entity, error) {
		f, err := os.Open(filepath.Join(dir, aci))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return s.Verify("example.com/busybox", f, read(aci+".asc"))
	}
	e, err := verify("busybox.aci")
	if err != nil {
		t.Fatalf("busybox.aci: %v", err)
	}
	if Fingerprint(e) != wantFpr {
		t.Errorf("signer %s, want %s", Fingerprint(e), wantFpr)
	}
	if _, err := verify("busybox-tampered.aci"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("busybox-tampered.aci: %v, want ErrBadSignature", err)
	}
	if _, err := verify("busybox-untrusted.aci"); !errors.Is(err, ErrUnsignedBy) {
		t.Errorf("busybox-untrusted.aci: %v, want ErrUnsignedBy", err)
	}
	// A binary form of the same signature verifies too.
	block, err := armor.Decode(bytes.NewReader(read("busybox.aci.asc")))
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := io.ReadAll(block.Body)
	f, _ := os.Open(filepath.Join(dir, "busybox.aci"))
	defer f.Close()
	if _, err := s.Verify("example.com/busybox", f, bin); err != nil {
		t.Errorf("binary signature: %v", err)
	}
}
