package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

// trustFixture returns the fixture key file and the store name of the key
// (its lowercase fingerprint).
func trustFixture(t *testing.T) (pubkeys, fpr string) {
	t.Helper()
	fix := harness.Fixtures(t)
	b, err := os.ReadFile(filepath.Join(fix, "signing-key.fpr"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(fix, "pubkeys.gpg"), strings.ToLower(strings.TrimSpace(string(b)))
}

// gpgFormat is how rkt trust shows a fingerprint: 4-digit groups, a double
// space in the middle.
func gpgFormat(fpr string) string {
	fpr = strings.ToUpper(fpr)
	var g []string
	for i := 0; i < len(fpr); i += 4 {
		g = append(g, fpr[i:i+4])
	}
	return strings.Join(g[:len(g)/2], " ") + "  " + strings.Join(g[len(g)/2:], " ")
}

func checkKeyFile(t *testing.T, path, stopAt string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("trusted key not stored: %v", err)
	}
	if fi.Mode() != 0o644 {
		t.Errorf("%s: mode %v, want -rw-r--r--", path, fi.Mode())
	}
	for d := filepath.Dir(path); d != stopAt; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, want mode 0755", d, fi.Mode())
		}
	}
}

func TestTrustPrefixKeyFile(t *testing.T) {
	e := harness.NewEnv(t)
	pubkeys, fpr := trustFixture(t)
	r := e.Rkt("trust", "--prefix=example.com/busybox", "--skip-fingerprint-review", pubkeys).OK(t)
	path := filepath.Join(e.LocalConfig, "trustedkeys", "prefix.d", "example.com", "busybox", fpr)
	checkKeyFile(t, path, e.LocalConfig)
	want, _ := os.ReadFile(pubkeys)
	if got, _ := os.ReadFile(path); string(got) != string(want) {
		t.Errorf("stored key differs from %s", pubkeys)
	}
	for _, line := range []string{
		"gpg key fingerprint is: " + gpgFormat(fpr) + "\n",
		`Trusting "` + pubkeys + `" for prefix "example.com/busybox" without fingerprint review.` + "\n",
		`Added key for prefix "example.com/busybox" at "` + path + `"` + "\n",
	} {
		if !strings.Contains(r.Stdout, line) {
			t.Errorf("stdout lacks %q:\n%s", line, r)
		}
	}
	if want := "prefix: \"example.com/busybox\"\nkey: \"" + pubkeys + "\"\n"; r.Stderr != want {
		t.Errorf("stderr %q, want %q", r.Stderr, want)
	}
	// Nothing goes to the system config dir.
	if ents, _ := os.ReadDir(e.SystemConfig); len(ents) != 0 {
		t.Errorf("rkt trust wrote to the system config dir")
	}
}

func TestTrustRoot(t *testing.T) {
	e := harness.NewEnv(t)
	pubkeys, fpr := trustFixture(t)
	r := e.Rkt("trust", "--root", "--skip-fingerprint-review", pubkeys).OK(t)
	path := filepath.Join(e.LocalConfig, "trustedkeys", "root.d", fpr)
	checkKeyFile(t, path, e.LocalConfig)
	if !strings.Contains(r.Stdout, `Trusting "`+pubkeys+`" for prefix "" without fingerprint review.`) ||
		!strings.Contains(r.Stdout, `Added root key at "`+path+`"`) {
		t.Errorf("stdout:\n%s", r)
	}
}

func TestTrustErrors(t *testing.T) {
	pubkeys, _ := trustFixture(t)
	for _, tc := range []struct {
		args []string
		msgs []string
	}{
		{[]string{pubkeys}, []string{"rkt: aborting due to implicit unbounded trust (root domain)", "rkt trust --root PUBKEY"}},
		{nil, []string{"Usage: rkt trust"}},
		{[]string{"--prefix=example.com", "--root", pubkeys}, []string{"--root and --prefix usage mutually exclusive"}},
		{[]string{"--root"}, []string{"--root flag requires that paths to the public key files be specified"}},
		{[]string{"--prefix=https://example.com/busybox", pubkeys}, []string{"--prefix must not contain a URL scheme, omit https://"}},
		{[]string{"--prefix=Example.com", pubkeys}, []string{"invalid --prefix"}},
		// Not a terminal, and no --skip-fingerprint-review.
		{[]string{"--prefix=example.com/busybox", pubkeys}, []string{"rkt: error reviewing key: unable to ask user to review fingerprint due to lack of tty"}},
		{[]string{"--prefix=example.com", "--skip-fingerprint-review", "http://127.0.0.1:1/pubkeys.gpg"}, []string{"--insecure-allow-http required for http URLs"}},
		{[]string{"--prefix=example.com", "--skip-fingerprint-review", filepath.Join(filepath.Dir(pubkeys), "busybox.aci.asc")}, []string{"error reading the key"}},
	} {
		e := harness.NewEnv(t)
		e.Rkt(append([]string{"trust"}, tc.args...)...).Fails(t, 254, tc.msgs...)
		if _, err := os.Stat(filepath.Join(e.LocalConfig, "trustedkeys")); err == nil {
			t.Errorf("%v: failed but wrote the trust store", tc.args)
		}
	}
}

// The review on a terminal: script(1) gives rkt a pty; the answers are
// typed into it.
func TestTrustReviewOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("needs script(1) for a pseudo-terminal")
	}
	pubkeys, fpr := trustFixture(t)
	for _, tc := range []struct {
		answers string
		trusted bool
	}{
		{"maybe\nyes\n", true},
		{"no\n", false},
	} {
		e := harness.NewEnv(t)
		cmd := append([]string{harness.Bin("rkt"), "trust"}, e.GlobalFlags()...)
		cmd = append(cmd, "--prefix=example.com/busybox", pubkeys)
		r := harness.RunWith(t, harness.RunOpts{Stdin: tc.answers}, "script", "-qec", shellQuote(cmd), "/dev/null")
		path := filepath.Join(e.LocalConfig, "trustedkeys", "prefix.d", "example.com", "busybox", fpr)
		_, err := os.Stat(path)
		if r.Code != 0 || (err == nil) != tc.trusted {
			t.Fatalf("answers %q: stored=%v: %s", tc.answers, err == nil, r)
		}
		out := strings.ReplaceAll(r.Stdout, "\r", "")
		if !strings.Contains(out, "Are you sure you want to trust this key (yes/no)?") {
			t.Errorf("no prompt:\n%s", out)
		}
		if tc.trusted && (!strings.Contains(out, "Please enter 'yes' or 'no'") ||
			!strings.Contains(out, `for prefix "example.com/busybox" after fingerprint review.`)) {
			t.Errorf("answers %q:\n%s", tc.answers, out)
		}
	}
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// A key by https URL from the fixture server, whose certificate is checked
// against the fixture CA.
func TestTrustHTTPSKey(t *testing.T) {
	srv := harness.Serve(t)
	_, fpr := trustFixture(t)
	url := srv.Get("FIXTURES_PUBKEYS_URL")
	ca := harness.RunOpts{Env: []string{"SSL_CERT_FILE=" + srv.Get("FIXTURES_CA")}}
	path := func(e *harness.Env) string {
		return filepath.Join(e.LocalConfig, "trustedkeys", "prefix.d", "example.com", "busybox", fpr)
	}

	// --trust-keys-from-https: no review for a key over verified https.
	e := harness.NewEnv(t)
	r := e.RktOpts(ca, "trust", "--trust-keys-from-https", "--prefix=example.com/busybox", url).OK(t)
	if !strings.Contains(r.Stdout, `Trusting "`+url+`" for prefix "example.com/busybox" without fingerprint review.`) {
		t.Errorf("stdout:\n%s", r)
	}
	checkKeyFile(t, path(e), e.LocalConfig)

	// Without the CA the certificate is refused.
	e = harness.NewEnv(t)
	e.Rkt("trust", "--skip-fingerprint-review", "--prefix=example.com/busybox", url).Fails(t, 254, "certificate")
	if _, err := os.Stat(path(e)); err == nil {
		t.Error("key stored despite a bad certificate")
	}

	// --insecure-options=tls fetches it, but then https vouches for
	// nothing: the key still needs a review.
	e = harness.NewEnv(t)
	e.Rkt("trust", "--insecure-options=tls", "--trust-keys-from-https", "--prefix=example.com/busybox", url).
		Fails(t, 254, "lack of tty")
	e.Rkt("trust", "--insecure-options=tls", "--skip-fingerprint-review", "--prefix=example.com/busybox", url).OK(t)
	checkKeyFile(t, path(e), e.LocalConfig)
}

// --prefix without a key: appc meta discovery of ac-discovery-pubkeys at
// https://example.com/busybox?ac-discovery=1 (example.com -> 127.0.0.1).
func TestTrustDiscovery(t *testing.T) {
	srv := harness.Serve(t)
	_, fpr := trustFixture(t)
	opts := harness.RunOpts{
		Hosts: srv.Get("FIXTURES_HOSTS_FILE"),
		Env:   []string{"SSL_CERT_FILE=" + srv.Get("FIXTURES_CA")},
	}
	e := harness.NewEnv(t)
	r := e.RktOpts(opts, "trust", "--trust-keys-from-https", "--prefix=example.com/busybox").OK(t)
	path := filepath.Join(e.LocalConfig, "trustedkeys", "prefix.d", "example.com", "busybox", fpr)
	checkKeyFile(t, path, e.LocalConfig)
	if !strings.Contains(r.Stderr, `key: "`+srv.Get("FIXTURES_PUBKEYS_URL")+`"`) ||
		!strings.Contains(r.Stdout, "gpg key fingerprint is: "+gpgFormat(fpr)) {
		t.Errorf("output:\n%s", r)
	}

	// The same with --skip-fingerprint-review, for a shorter prefix (the
	// server's tags are for example.com).
	e = harness.NewEnv(t)
	e.RktOpts(opts, "trust", "--skip-fingerprint-review", "--prefix=example.com").OK(t)
	checkKeyFile(t, filepath.Join(e.LocalConfig, "trustedkeys", "prefix.d", "example.com", fpr), e.LocalConfig)

	// No tag for the prefix: localhost is served by the same server, whose
	// tags are all for example.com.
	e = harness.NewEnv(t)
	e.RktOpts(opts, "trust", "--skip-fingerprint-review", "--prefix=localhost/app").
		Fails(t, 254, "--prefix meta discovery error: found no ACI meta tags")

	// --root has no discovery.
	e = harness.NewEnv(t)
	e.RktOpts(opts, "trust", "--root").Fails(t, 254, "--root flag requires")
}
