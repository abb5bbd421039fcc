package harness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Servers is the running ../shared/fixtures/serve-fixtures.sh: a Docker
// registry and an https appc discovery/file server on 127.0.0.1.
type Servers struct {
	State string
	// Env holds the variables of the script's env.sh (FIXTURES_*,
	// SSL_CERT_FILE, ...).
	Env map[string]string
}

var (
	serversOnce sync.Once
	servers     *Servers
	serversErr  error
)

// HTTPSPort is where the https server listens: 443, because appc meta
// discovery of "example.com/busybox" asks https://example.com/ on the
// default port, and RunOpts.Hosts maps example.com to 127.0.0.1.
const HTTPSPort = "443"

// Serve starts the fixture servers once per test process (stopped by
// Main after the run). It needs root, for port 443.
func Serve(t testing.TB) *Servers {
	t.Helper()
	RequireRoot(t)
	fix := Fixtures(t)
	serversOnce.Do(func() {
		state := filepath.Join(tmpRoot, "serve-fixtures")
		cmd := exec.Command("bash", filepath.Join(top, "..", "shared", "fixtures", "serve-fixtures.sh"), "start", fix, state)
		cmd.Env = append(os.Environ(), "HTTPS_PORT="+HTTPSPort)
		if out, err := cmd.CombinedOutput(); err != nil {
			serversErr = fmt.Errorf("serve-fixtures.sh start: %v\n%s", err, out)
			return
		}
		s := &Servers{State: state, Env: map[string]string{}}
		f, err := os.Open(filepath.Join(state, "env.sh"))
		if err != nil {
			serversErr = err
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "export ") {
				continue
			}
			kv := strings.SplitN(strings.TrimPrefix(line, "export "), "=", 2)
			if len(kv) == 2 {
				s.Env[kv[0]] = strings.TrimSpace(strings.SplitN(kv[1], "#", 2)[0])
			}
		}
		servers = s
	})
	if serversErr != nil {
		t.Fatal(serversErr)
	}
	return servers
}

func stopServers() {
	if servers != nil {
		cmd := exec.Command("bash", filepath.Join(top, "..", "shared", "fixtures", "serve-fixtures.sh"), "stop", servers.State)
		_ = cmd.Run()
	}
}

// Get returns one FIXTURES_* (or other env.sh) value.
func (s *Servers) Get(key string) string { return s.Env[key] }
