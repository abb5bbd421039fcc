package mds

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/appc/spec/schema"
)

// The registration client speaks HTTP/1.1 by hand over the unix socket
// only: the privileged binaries that use it (stage1, rkt gc) link no
// network client code.

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
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("metadata service: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusNotFound && method == http.MethodDelete {
		return fmt.Errorf("%w: %s %s", ErrNotRegistered, method, path)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("metadata service: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// RegisterPod registers a pod: its manifest, the token its apps use,
// and (if not nil) the only address its requests may come from; then the
// image manifest of each app.
func (c *Client) RegisterPod(uuid, token string, ip net.IP, pm *schema.PodManifest, images map[string]*schema.ImageManifest) error {
	body, err := json.Marshal(pm)
	if err != nil {
		return err
	}
	q := url.Values{"token": {token}}
	if ip != nil {
		q.Set("ip", ip.String())
	}
	if err := c.do(http.MethodPut, "/pods/"+url.PathEscape(uuid)+"?"+q.Encode(), body); err != nil {
		return err
	}
	for _, ra := range pm.Apps {
		im := images[ra.Name.String()]
		if im == nil {
			continue
		}
		b, err := json.Marshal(im)
		if err != nil {
			return err
		}
		if err := c.do(http.MethodPut, "/pods/"+url.PathEscape(uuid)+"/"+url.PathEscape(ra.Name.String()), b); err != nil {
			_ = c.Unregister(uuid)
			return err
		}
	}
	return nil
}

// Unregister removes a pod from the service.
func (c *Client) Unregister(uuid string) error {
	return c.do(http.MethodDelete, "/pods/"+url.PathEscape(uuid), nil)
}
