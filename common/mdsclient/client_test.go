package mdsclient

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// serve runs h on a unix socket and returns a client of it.
func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &Client{Socket: sock}
}

func TestClientAgainstNetHTTP(t *testing.T) {
	var got []string
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		switch {
		case r.Method == "DELETE" && strings.HasSuffix(r.URL.Path, "/gone"):
			http.Error(w, "no such pod", http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/bad"):
			http.Error(w, "pod manifest: invalid", http.StatusBadRequest)
		case strings.HasSuffix(r.URL.Path, "/chunked"):
			// Flushing before the end makes net/http send chunks.
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "first part, ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "second part")
		default:
			b, _ := io.ReadAll(r.Body)
			if r.Method == "PUT" && len(b) == 0 {
				http.Error(w, "empty body", http.StatusBadRequest)
			}
		}
	})
	pm := schema.BlankPodManifest()
	id, err := types.NewHash("sha512-" + strings.Repeat("ab", 64))
	if err != nil {
		t.Fatal(err)
	}
	im := schema.BlankImageManifest()
	im.Name = "example.com/app"
	pm.Apps = schema.AppList{{Name: types.ACName("app"), Image: schema.RuntimeImage{ID: *id}}}
	pmJSON, err := json.Marshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	imJSON, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterPod("ok", "tok", net.ParseIP("10.0.0.2"), pmJSON, []App{{Name: "app", ImageManifest: imJSON}}); err != nil {
		t.Fatalf("register: %v", err)
	}
	want := []string{"PUT /pods/ok?ip=10.0.0.2&token=tok", "PUT /pods/ok/app"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := c.Unregister("ok"); err != nil {
		t.Errorf("unregister: %v", err)
	}
	if err := c.Unregister("gone"); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("unregister of an unknown pod: %v, want ErrNotRegistered", err)
	}
	err = c.RegisterPod("bad", "tok", nil, pmJSON, nil)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request: pod manifest: invalid") {
		t.Errorf("register refused: %v", err)
	}
	err = c.Unregister("chunked")
	if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error: first part, second part") {
		t.Errorf("chunked error body: %v", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	c := &Client{Socket: filepath.Join(t.TempDir(), "none")}
	if err := c.Ping(); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("ping of no service: %v", err)
	}
}

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		in, status, body string
		code             int
		bad              bool
	}{
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", code: 200, status: "200 OK"},
		{in: "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngoneXXXX", code: 404, status: "404 Not Found", body: "gone"},
		{in: "HTTP/1.0 500 Oops\r\n\r\nuntil the end", code: 500, status: "500 Oops", body: "until the end"},
		{in: "HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", code: 500, status: "500 E", body: "abcde"},
		{in: "HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bad: true},
		{in: "HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", bad: true},
		{in: "SSH-2.0-OpenSSH\r\n\r\n", bad: true},
		{in: "HTTP/1.1 2000 OK\r\n\r\n", bad: true},
		{in: "HTTP/1.1 000 OK\r\n\r\n", bad: true},
		{in: "HTTP/1.1 +12 OK\r\n\r\n", bad: true},
		{in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", bad: true},
		{in: "HTTP/1.1 200 OK\r\nbroken header line\r\n\r\n", bad: true},
		{in: "", bad: true},
	} {
		code, status, body, err := readResponse(bufio.NewReader(strings.NewReader(tc.in)))
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted (%d %q %q)", tc.in, code, status, body)
			}
			continue
		}
		if err != nil || code != tc.code || status != tc.status || string(body) != tc.body {
			t.Errorf("%q: got %d %q %q %v, want %d %q %q", tc.in, code, status, body, err, tc.code, tc.status, tc.body)
		}
	}
	// A body is read up to maxMessage bytes, whatever it announces.
	long := "HTTP/1.1 500 E\r\n\r\n" + strings.Repeat("x", 3*maxMessage)
	if _, _, body, err := readResponse(bufio.NewReader(strings.NewReader(long))); err != nil || len(body) != maxMessage {
		t.Errorf("long body: %d bytes, %v", len(body), err)
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	f.Add("HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	f.Add("HTTP/1.0 404 Not Found\r\n\r\nbody")
	f.Fuzz(func(t *testing.T, in string) {
		code, _, body, err := readResponse(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		if code < 100 || code > 999 {
			t.Fatalf("status code %d accepted", code)
		}
		if len(body) > maxMessage {
			t.Fatalf("body of %d bytes", len(body))
		}
	})
}
