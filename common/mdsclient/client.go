// Package mdsclient is the stage1 and stage0 side of the metadata
// service (package mds): the client of its registration socket, the pod
// token, and the service's well-known places. It links no HTTP
// implementation: the binaries on the path of every pod start (rkt-run,
// rkt-run-prepared, the native stage1) import it, and net/http costs
// each of them ~0.4 ms of start-up.
package mdsclient

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/common/stage1abi"
)

// Well-known places of the service.
const (
	// SocketPath is the registration socket.
	SocketPath = "/run/rkt/metadata-svc.sock"
	// DefaultPort is the public TCP port apps reach the service on.
	DefaultPort = 18112
	// RegisteredFile, in a pod directory, says the pod was registered.
	RegisteredFile = stage1abi.MDSRegisteredFile
)

// The registration client speaks HTTP/1.1 by hand over the unix socket
// only: the privileged binaries that use it (stage1, rkt gc) link no
// network client code, and no HTTP package either.

// NewToken returns a pod token: 16 random bytes in hex (MDS-03).
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// ErrUnreachable is wrapped by the errors of a service that cannot be
// reached at all.
var ErrUnreachable = errors.New("could not reach the metadata service")

// ErrNotRegistered is wrapped by the error of Unregister for a pod the
// service does not know (it was restarted, or the pod unregistered).
var ErrNotRegistered = errors.New("pod not registered with the metadata service")

// Client talks to the registration socket.
type Client struct {
	Socket   string        // default SocketPath
	Attempts int           // connection attempts, default 1
	Delay    time.Duration // between attempts
}

func (c *Client) dial() (net.Conn, error) {
	sock := c.Socket
	if sock == "" {
		sock = SocketPath
	}
	var err error
	for i := 0; i < max(c.Attempts, 1); i++ {
		if i > 0 {
			time.Sleep(c.Delay)
		}
		var conn net.Conn
		if conn, err = net.DialTimeout("unix", sock, 5*time.Second); err == nil {
			return conn, nil
		}
	}
	return nil, fmt.Errorf("%w at %s (is `rkt metadata-service` running?): %v", ErrUnreachable, sock, err)
}

// Ping checks the service accepts connections.
func (c *Client) Ping() error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	return conn.Close()
}

func (c *Client) do(method, path string, body []byte) error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: rkt-metadata\r\nConnection: close\r\nContent-Length: %d\r\n", method, path, len(body))
	if body != nil {
		b.WriteString("Content-Type: application/json\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return fmt.Errorf("metadata service: %s %s: %w", method, path, err)
	}
	code, status, msg, err := readResponse(bufio.NewReader(conn))
	if err != nil {
		return fmt.Errorf("metadata service: %s %s: %w", method, path, err)
	}
	if code == 404 && method == "DELETE" {
		return fmt.Errorf("%w: %s %s", ErrNotRegistered, method, path)
	}
	if code != 200 {
		return fmt.Errorf("metadata service: %s %s: %s: %s", method, path, status, bytes.TrimSpace(msg))
	}
	return nil
}

// maxMessage bounds the body of a response read (an error message).
const maxMessage = 4096

// readResponse reads an HTTP/1.1 response: its status code, its status
// ("404 Not Found") and up to maxMessage bytes of its body, which is
// delimited by Content-Length, chunked, or by the end of the connection
// (every request says "Connection: close").
func readResponse(r *bufio.Reader) (code int, status string, body []byte, err error) {
	tp := textproto.NewReader(r)
	line, err := tp.ReadLine()
	if err != nil {
		return 0, "", nil, fmt.Errorf("reading the response: %w", err)
	}
	proto, status, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, "", nil, fmt.Errorf("malformed response %q", line)
	}
	codeText, _, _ := strings.Cut(status, " ")
	if code, err = strconv.Atoi(codeText); err != nil || len(codeText) != 3 || code < 100 {
		return 0, "", nil, fmt.Errorf("malformed status in %q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return 0, "", nil, fmt.Errorf("reading the response header: %w", err)
	}
	var src io.Reader = r
	switch {
	case strings.EqualFold(hdr.Get("Transfer-Encoding"), "chunked"):
		src = &chunked{r: r}
	case hdr.Get("Content-Length") != "":
		n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return 0, "", nil, fmt.Errorf("malformed Content-Length %q", hdr.Get("Content-Length"))
		}
		src = io.LimitReader(r, n)
	}
	body, err = io.ReadAll(io.LimitReader(src, maxMessage))
	if err != nil {
		return 0, "", nil, fmt.Errorf("reading the response body: %w", err)
	}
	return code, status, body, nil
}

// chunked reads a chunked transfer-encoded body (RFC 9112 §7.1); chunk
// extensions and trailers are ignored.
type chunked struct {
	r    *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("malformed chunk size %q", size)
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		// The CRLF after the chunk's data.
		if _, err := c.r.Discard(2); err != nil {
			return n, io.ErrUnexpectedEOF
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// App is an app of a pod being registered: its name and its image
// manifest, as JSON.
type App struct {
	Name          string
	ImageManifest []byte
}

// RegisterPod registers a pod: its manifest (JSON), the token its apps
// use, and (if not nil) the only address its requests may come from;
// then the image manifest of each app. The manifests are passed as JSON
// so that this package, which rkt-run-prepared links for its check of
// the service, does not link the appc schema.
func (c *Client) RegisterPod(uuid, token string, ip net.IP, manifest []byte, apps []App) error {
	q := url.Values{"token": {token}}
	if ip != nil {
		q.Set("ip", ip.String())
	}
	if err := c.do("PUT", "/pods/"+url.PathEscape(uuid)+"?"+q.Encode(), manifest); err != nil {
		return err
	}
	for _, a := range apps {
		if err := c.do("PUT", "/pods/"+url.PathEscape(uuid)+"/"+url.PathEscape(a.Name), a.ImageManifest); err != nil {
			_ = c.Unregister(uuid)
			return err
		}
	}
	return nil
}

// Unregister removes a pod from the service.
func (c *Client) Unregister(uuid string) error {
	return c.do("DELETE", "/pods/"+url.PathEscape(uuid), nil)
}
