package trustcmd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/trust"
)

// newKey returns an armored public key and its store file name.
func newKey(t *testing.T) ([]byte, string) {
	k, fpr, _ := newEntity(t)
	return k, fpr
}

func newEntity(t *testing.T) ([]byte, string, *openpgp.Entity) {
	t.Helper()
	e, err := openpgp.NewEntity("Test Signer", "", "signer@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes(), trust.Fingerprint(e), e
}

type harness struct {
	t              *testing.T
	env            *cli.Env
	stdout, stderr bytes.Buffer
	local          string
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t}
	g := cli.NewGlobals()
	d := t.TempDir()
	g.SystemConfig = filepath.Join(d, "system")
	g.LocalConfig = filepath.Join(d, "local")
	g.UserConfig = ""
	h.local = g.LocalConfig
	h.env = &cli.Env{Globals: g, Stdout: &h.stdout, Stderr: &h.stderr}
	return h
}

func (h *harness) run(o options, stdin string, interactive bool, args ...string) error {
	r := &runner{env: h.env, opts: o, in: strings.NewReader(stdin), interactive: interactive}
	return r.run(args)
}

func writeKey(t *testing.T, key []byte) string {
	p := filepath.Join(t.TempDir(), "key.gpg")
	if err := os.WriteFile(p, key, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFlagErrors(t *testing.T) {
	key, _ := newKey(t)
	file := writeKey(t, key)
	for _, tc := range []struct {
		o    options
		args []string
		want error
		msg  string
	}{
		{options{}, []string{file}, ErrImplicitRoot, "aborting due to implicit unbounded trust (root domain)"},
		{options{}, nil, cli.ErrUsage, ""},
		{options{prefix: "example.com", root: true}, []string{file}, ErrPrefixAndRoot, ""},
		{options{root: true}, nil, ErrRootNeedsKeys, ""},
		{options{prefix: "https://example.com/app"}, []string{file}, nil, "--prefix must not contain a URL scheme, omit https://"},
		{options{prefix: "Example.com"}, []string{file}, trust.ErrInvalidName, ""},
		{options{prefix: "example.com/../x"}, []string{file}, trust.ErrInvalidName, ""},
	} {
		h := newHarness(t)
		err := h.run(tc.o, "", true, tc.args...)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v %v: got %v, want %v %q", tc.o, tc.args, err, tc.want, tc.msg)
		}
		if _, serr := os.Stat(h.local); serr == nil {
			t.Errorf("%+v: wrote to the local config dir", tc.o)
		}
	}
}

func TestTrustFile(t *testing.T) {
	key, fpr, e := newEntity(t)
	file := writeKey(t, key)
	h := newHarness(t)
	if err := h.run(options{prefix: "example.com/app", skipReview: true}, "", false, file); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.local, "trustedkeys", "prefix.d", "example.com", "app", fpr)
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("stored key: %v", err)
	}
	wantOut := "gpg key fingerprint is: " + trust.FormatFingerprint(mustHex(t, fpr)) + "\n" +
		"    Subkey fingerprint: " + trust.FormatFingerprint(e.Subkeys[0].PublicKey.Fingerprint) + "\n" +
		"\tTest Signer <signer@example.com>\n" +
		`Trusting "` + file + `" for prefix "example.com/app" without fingerprint review.` + "\n" +
		`Added key for prefix "example.com/app" at "` + path + `"` + "\n"
	if h.stdout.String() != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", h.stdout.String(), wantOut)
	}
	if want := "prefix: \"example.com/app\"\nkey: \"" + file + "\"\n"; h.stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", h.stderr.String(), want)
	}

	h = newHarness(t)
	if err := h.run(options{root: true, skipReview: true}, "", false, "file://"+file); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(h.local, "trustedkeys", "root.d", fpr)
	if !strings.Contains(h.stdout.String(), `Added root key at "`+root+`"`) {
		t.Errorf("stdout:\n%s", h.stdout.String())
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReview(t *testing.T) {
	key, fpr := newKey(t)
	file := writeKey(t, key)
	stored := func(h *harness) bool {
		_, err := os.Stat(filepath.Join(h.local, "trustedkeys", "prefix.d", "example.com", fpr))
		return err == nil
	}
	o := options{prefix: "example.com"}

	h := newHarness(t)
	err := h.run(o, "", false, file)
	if !errors.Is(err, ErrNoTTY) || stored(h) {
		t.Errorf("no tty: %v, stored=%v", err, stored(h))
	}

	h = newHarness(t)
	if err := h.run(o, "maybe\n YES \n", true, file); err != nil || !stored(h) {
		t.Fatalf("yes after a re-ask: %v", err)
	}
	out := h.stdout.String()
	if strings.Count(out, "Are you sure you want to trust this key (yes/no)? ") != 2 ||
		!strings.Contains(out, "Please enter 'yes' or 'no'") ||
		!strings.Contains(out, `for prefix "example.com" after fingerprint review.`) {
		t.Errorf("stdout:\n%s", out)
	}

	h = newHarness(t)
	if err := h.run(o, "no\n", true, file); err != nil || stored(h) {
		t.Errorf("no: %v, stored=%v", err, stored(h))
	}
	if !strings.Contains(h.stderr.String(), "not trusting") {
		t.Errorf("stderr: %s", h.stderr.String())
	}

	h = newHarness(t)
	if err := h.run(o, "", true, file); err == nil || stored(h) {
		t.Errorf("EOF: %v, stored=%v", err, stored(h))
	}

	// Two keys share one stdin: the second answer is not lost to the
	// first prompt's buffering.
	key2, fpr2 := newKey(t)
	file2 := writeKey(t, key2)
	h = newHarness(t)
	if err := h.run(o, "yes\nyes\n", true, file, file2); err != nil {
		t.Fatalf("two keys: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.local, "trustedkeys", "prefix.d", "example.com", fpr2)); err != nil || !stored(h) {
		t.Errorf("two keys not both stored: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	h := newHarness(t)
	junk := writeKey(t, []byte("not a key"))
	if err := h.run(options{prefix: "example.com", skipReview: true}, "", false, junk); !errors.Is(err, trust.ErrBadKeyFile) {
		t.Errorf("junk: %v", err)
	}
	if err := h.run(options{prefix: "example.com", skipReview: true}, "", false, "/nonexistent/key"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := h.run(options{prefix: "example.com", skipReview: true}, "", false, "ftp://example.com/key"); !errors.Is(err, ErrUnsupportedLocation) {
		t.Errorf("ftp: %v", err)
	}
	if err := h.run(options{prefix: "example.com", skipReview: true}, "", false, "http://127.0.0.1:1/key"); !errors.Is(err, ErrHTTPNotAllowed) {
		t.Errorf("http: %v", err)
	}
}

func TestHTTPKeys(t *testing.T) {
	key, fpr := newKey(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/key":
			w.Write(key)
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), maxKeySize+1))
		default:
			http.NotFound(w, r)
		}
	}))
	defer plain.Close()
	tls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/key":
			w.Write(key)
		case "/downgrade":
			http.Redirect(w, r, plain.URL+"/key", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	// The refused handshakes are expected; keep them out of the log.
	tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	tls.StartTLS()
	defer tls.Close()
	stored := func(h *harness) bool {
		_, err := os.Stat(filepath.Join(h.local, "trustedkeys", "prefix.d", "example.com", fpr))
		return err == nil
	}

	// http with --insecure-allow-http.
	h := newHarness(t)
	if err := h.run(options{prefix: "example.com", skipReview: true, allowHTTP: true}, "", false, plain.URL+"/key"); err != nil || !stored(h) {
		t.Fatalf("http allowed: %v", err)
	}
	// The test server's certificate is not in the system pool.
	h = newHarness(t)
	if err := h.run(options{prefix: "example.com", skipReview: true}, "", false, tls.URL+"/key"); err == nil || stored(h) {
		t.Errorf("unknown CA accepted: %v", err)
	}
	// --insecure-options=tls fetches it, but --trust-keys-from-https does
	// not vouch for an unchecked certificate...
	h = newHarness(t)
	h.env.Globals.Insecure = cli.InsecureTLS
	h.env.Globals.TrustKeysFromHTTPS = true
	if err := h.run(options{prefix: "example.com"}, "", false, tls.URL+"/key"); !errors.Is(err, ErrNoTTY) {
		t.Errorf("insecure tls + trust-keys-from-https: %v, want ErrNoTTY", err)
	}
	// ...unless insecure keys are explicitly allowed.
	h = newHarness(t)
	h.env.Globals.Insecure = cli.InsecureTLS | cli.InsecurePubKey
	h.env.Globals.TrustKeysFromHTTPS = true
	if err := h.run(options{prefix: "example.com"}, "", false, tls.URL+"/key"); err != nil || !stored(h) {
		t.Errorf("insecure pubkey: %v", err)
	}
	if !strings.Contains(h.stdout.String(), "without fingerprint review") {
		t.Errorf("stdout: %s", h.stdout.String())
	}
	// An https URL may not redirect to http.
	h = newHarness(t)
	h.env.Globals.Insecure = cli.InsecureTLS
	if err := h.run(options{prefix: "example.com", skipReview: true}, "", false, tls.URL+"/downgrade"); !errors.Is(err, ErrHTTPNotAllowed) || stored(h) {
		t.Errorf("downgrade redirect: %v", err)
	}
	for path, want := range map[string]string{"/missing": "bad HTTP status code: 404", "/big": ErrKeyTooLarge.Error()} {
		h = newHarness(t)
		if err := h.run(options{prefix: "example.com", skipReview: true, allowHTTP: true}, "", false, plain.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	key, fpr := newKey(t)
	file := writeKey(t, key)
	h := newHarness(t)
	r := &runner{env: h.env, opts: options{prefix: "example.com/app", skipReview: true}, in: strings.NewReader("")}
	var asked string
	r.discover = func(prefix string) ([]string, error) { asked = prefix; return []string{file}, nil }
	if err := r.run(nil); err != nil {
		t.Fatal(err)
	}
	if asked != "example.com/app" {
		t.Errorf("discovered %q", asked)
	}
	if _, err := os.Stat(filepath.Join(h.local, "trustedkeys", "prefix.d", "example.com", "app", fpr)); err != nil {
		t.Error(err)
	}

	r = &runner{env: h.env, opts: options{prefix: "example.com/app"}}
	r.discover = func(string) ([]string, error) { return nil, ErrNoMetaTags }
	err := r.run(nil)
	if err == nil || err.Error() != "--prefix meta discovery error: found no ACI meta tags" {
		t.Errorf("got %v", err)
	}
}
