package mds

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const (
	testUUID = "84520615-bb1f-402a-87cc-dc60d508f969"
	testPM   = `{"acVersion":"0.8.11","acKind":"PodManifest","apps":[{"name":"a","image":{"id":"sha512-aaaa"},"annotations":[{"name":"x","value":"pod"}]}],"annotations":[{"name":"k","value":"v"}]}`
	testIM   = `{"acVersion":"0.8.11","acKind":"ImageManifest","name":"example.com/a","annotations":[{"name":"x","value":"img"},{"name":"y","value":"img"}]}`
)

func do(h http.Handler, method, target, remote, body string, form bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if remote != "" {
		r.RemoteAddr = remote
	}
	if form {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestService(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	reg, pub := s.RegistrationHandler(), s.PublicHandler()
	for _, c := range []struct {
		method, target, body string
		code                 int
	}{
		{"PUT", "/pods/bad?token=t", testPM, 400},
		{"PUT", "/pods/" + testUUID, testPM, 400},
		{"PUT", "/pods/" + testUUID + "?token=t", "{", 400},
		{"PUT", "/pods/" + testUUID + "/a", testIM, 404},
		{"DELETE", "/pods/" + testUUID, "", 404},
		{"PUT", "/pods/" + testUUID + "?token=tok&ip=10.0.0.2", testPM, 200},
		{"PUT", "/pods/" + testUUID + "/a", testIM, 200},
	} {
		if w := do(reg, c.method, c.target, "", c.body, false); w.Code != c.code {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.target, w.Code, c.code, w.Body)
		}
	}
	const pod, other = "10.0.0.2:4000", "10.0.0.3:4000"
	for _, c := range []struct {
		path, remote string
		code         int
		ctype, body  string
	}{
		{"/tok/acMetadata/v1/pod/uuid", pod, 200, contentText, testUUID},
		{"/tok/acMetadata/v1/pod/uuid", other, 403, "", ""},
		{"/nope/acMetadata/v1/pod/uuid", pod, 401, "", ""},
		{"/tok/acMetadata/v1/pod/annotations", pod, 200, contentJSON, `[{"name":"k","value":"v"}]`},
		{"/tok/acMetadata/v1/pod/annotations/k", pod, 200, contentText, "v"},
		{"/tok/acMetadata/v1/pod/annotations/nope", pod, 404, "", ""},
		{"/tok/acMetadata/v1/pod/manifest", pod, 200, contentJSON, ""},
		{"/tok/acMetadata/v1/apps/a/annotations", pod, 200, contentJSON, `[{"name":"x","value":"pod"},{"name":"y","value":"img"}]`},
		{"/tok/acMetadata/v1/apps/a/annotations/x", pod, 200, contentText, "pod"},
		{"/tok/acMetadata/v1/apps/a/image/id", pod, 200, contentText, "sha512-aaaa"},
		{"/tok/acMetadata/v1/apps/a/image/manifest", pod, 200, contentJSON, ""},
		{"/tok/acMetadata/v1/apps/b/image/id", pod, 404, "", ""},
	} {
		w := do(pub, "GET", c.path, c.remote, "", false)
		if w.Code != c.code {
			t.Errorf("GET %s from %s: %d, want %d", c.path, c.remote, w.Code, c.code)
			continue
		}
		if c.ctype != "" && w.Header().Get("Content-Type") != c.ctype {
			t.Errorf("GET %s: Content-Type %q", c.path, w.Header().Get("Content-Type"))
		}
		if c.body != "" && w.Body.String() != c.body {
			t.Errorf("GET %s: %q, want %q", c.path, w.Body, c.body)
		}
	}
	base := "/tok/acMetadata/v1/pod/hmac/"
	if w := do(pub, "POST", base+"sign", pod, "", true); w.Code != 400 {
		t.Errorf("sign without content: %d", w.Code)
	}
	w := do(pub, "POST", base+"sign", pod, "content=hello", true)
	if w.Code != 200 || w.Header().Get("Content-Type") != contentText {
		t.Fatalf("sign: %d %v", w.Code, w.Header())
	}
	sig := w.Body.String()
	for _, c := range []struct {
		form url.Values
		code int
	}{
		{url.Values{"content": {"hello"}, "uuid": {testUUID}, "signature": {sig}}, 200},
		{url.Values{"content": {"hellO"}, "uuid": {testUUID}, "signature": {sig}}, 403},
		{url.Values{"content": {"hello"}, "uuid": {"bad"}, "signature": {sig}}, 400},
		{url.Values{"content": {"hello"}, "uuid": {testUUID}, "signature": {"!!"}}, 400},
	} {
		if w := do(pub, "POST", base+"verify", pod, c.form.Encode(), true); w.Code != c.code {
			t.Errorf("verify %v: %d, want %d", c.form, w.Code, c.code)
		}
	}
	// Another service start has another key.
	s2, _ := New()
	if s2.mac([16]byte{}, "x") == nil || string(s2.mac([16]byte{}, "x")) == string(s.mac([16]byte{}, "x")) {
		t.Errorf("HMAC key is not random per start")
	}
	if w := do(reg, "DELETE", "/pods/"+testUUID, "", "", false); w.Code != 200 {
		t.Errorf("DELETE: %d", w.Code)
	}
	if w := do(pub, "GET", "/tok/acMetadata/v1/pod/uuid", pod, "", false); w.Code != 401 {
		t.Errorf("after DELETE: %d, want 401", w.Code)
	}
}
