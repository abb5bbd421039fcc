package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rkt/rkt/common/mdsclient"
	"github.com/rkt/rkt/tests/harness"
)

// The metadata service (reference §8, TEST-40, TEST-01): the real
// `rkt metadata-service` on its well-known socket and port 18112 (the
// port the apps' AC_METADATA_URL names), native stage1 pods registered
// with --mds-register.

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startMDS starts `rkt metadata-service` and returns a function that
// stops it (also run at cleanup) and its log.
func startMDS(t *testing.T) (stop func(), log *lockedBuf) {
	t.Helper()
	l, err := net.Listen("tcp4", fmt.Sprintf(":%d", mdsclient.DefaultPort))
	if err != nil {
		t.Skipf("port %d is not free, cannot run the metadata service: %v", mdsclient.DefaultPort, err)
	}
	l.Close()
	if c, err := net.Dial("unix", mdsclient.SocketPath); err == nil {
		c.Close()
		t.Skipf("a metadata service already listens on %s", mdsclient.SocketPath)
	}
	log = &lockedBuf{}
	cmd := exec.Command(harness.Bin("rkt"), "metadata-service")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("metadata service: %v\n%s", err, log)
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Errorf("metadata service did not stop on SIGTERM\n%s", log)
			}
		})
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		c, err := net.Dial("unix", mdsclient.SocketPath)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("metadata service did not come up: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop, log
}

func mdsGet(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", mdsclient.DefaultPort, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// valueOf returns the value of a KEY=value line of out.
func valueOf(t *testing.T, out, key string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s= line in:\n%s", key, out)
	return ""
}

const mdsScript = `set -e
m=$AC_METADATA_URL/acMetadata/v1
echo URL=$AC_METADATA_URL
echo UUID=$(wget -q -O- $m/pod/uuid)
echo IMAGEID=$(wget -q -O- $m/apps/$AC_APP_NAME/image/id)
echo PODANN=$(wget -q -O- $m/pod/annotations)
echo APPANN=$(wget -q -O- $m/apps/$AC_APP_NAME/annotations/example.com%2Fcolor)
echo NAME=$(wget -q -O- $m/apps/$AC_APP_NAME/image/manifest | grep -o '"name":"example.com/busybox"')
sig=$(wget -q -O- --post-data=content=hello $m/pod/hmac/sign)
echo SIG=$sig
esig=$(echo "$sig" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
uuid=$(wget -q -O- $m/pod/uuid)
wget -q -O- --post-data="content=hello&uuid=$uuid&signature=$esig" $m/pod/hmac/verify && echo VERIFY=ok
wget -q -O- --post-data="content=hellO&uuid=$uuid&signature=$esig" $m/pod/hmac/verify 2>&1 && echo TAMPERED=accepted || echo TAMPERED=refused
wget -q -O- http://${AC_METADATA_URL#http://}x/acMetadata/v1/pod/uuid 2>&1 || echo WRONGTOKEN=refused
`

func TestMetadataService(t *testing.T) {
	e, id := runEnv(t)
	flags := nativeFlags(t)
	stop, log := startMDS(t)
	uuidFile := filepath.Join(e.Root, "uuid")

	args := append([]string{"run"}, flags...)
	args = append(args, "--mds-register", "--uuid-file-save="+uuidFile,
		"example.com/busybox", "--annotation=example.com/color=blue", "--exec=/bin/sh", "--", "-c", mdsScript)
	r := e.Rkt(args...).OK(t)
	out := r.Stdout
	uuid := readFile(t, uuidFile)
	if got := valueOf(t, out, "UUID"); got != uuid {
		t.Errorf("pod/uuid = %q, want %q", got, uuid)
	}
	if got := valueOf(t, out, "IMAGEID"); !strings.HasPrefix(got, id) || len(got) != len("sha512-")+128 {
		t.Errorf("image/id = %q, want %q", got, id)
	}
	if got := valueOf(t, out, "PODANN"); !strings.HasPrefix(got, "[") {
		t.Errorf("pod/annotations = %q, want a JSON list", got)
	}
	if got := valueOf(t, out, "APPANN"); got != "blue" {
		t.Errorf("app annotation = %q, want blue", got)
	}
	if got := valueOf(t, out, "NAME"); got == "" {
		t.Errorf("image/manifest lacks the image name:\n%s", out)
	}
	if got := valueOf(t, out, "SIG"); len(got) != 88 {
		t.Errorf("signature %q is not a base64 HMAC-SHA512", got)
	}
	valueOf(t, out, "VERIFY")
	if got := valueOf(t, out, "TAMPERED"); got != "refused" {
		t.Errorf("a signature of other content was accepted")
	}
	if !strings.Contains(out, "401 Unauthorized") || valueOf(t, out, "WRONGTOKEN") != "refused" {
		t.Errorf("a wrong token was not refused with 401:\n%s", out)
	}
	url := valueOf(t, out, "URL")
	if !strings.HasPrefix(url, "http://172.16.28.1:18112/") || len(url) != len("http://172.16.28.1:18112/")+32 {
		t.Errorf("AC_METADATA_URL = %q", url)
	}
	token := url[strings.LastIndex(url, "/")+1:]
	// The pod unregistered when it exited: its token is unknown.
	if code := mdsGet(t, "/"+token+"/acMetadata/v1/pod/uuid"); code != http.StatusUnauthorized {
		t.Errorf("token of an exited pod: status %d, want 401", code)
	}
	if !strings.Contains(log.String(), "DELETE /pods/"+uuid+" - 200") {
		t.Errorf("no unregistration in the service log:\n%s", log)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)

	// --mds-register needs a pod network.
	for _, n := range []string{"none", "host"} {
		r := e.Rkt(append(append([]string{"run"}, flags...), "--mds-register", "--net="+n, "example.com/busybox", "--exec=/bin/true")...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "--mds-register needs a pod network") {
			t.Errorf("--net=%s: %s", n, r)
		}
	}

	// TEST-01: the appc ACE validator.
	t.Run("ACEValidator", func(t *testing.T) {
		ace := harness.ACEImages(t)
		main, side := filepath.Join(ace, "ace-validator-main.aci"), filepath.Join(ace, "ace-validator-sidekick.aci")
		// Exactly the command build-ace-images.sh prints, with the default stage1.
		r := e.Rkt("--insecure-options=image", "run", "--mds-register", "--volume=database,kind=empty", main, side).OK(t)
		for _, ok := range []string{"prestart OK", "main OK", "sidekick OK", "poststop OK"} {
			if !strings.Contains(r.Stdout, ok) {
				t.Errorf("ACE validator: no %q: %s", ok, r)
			}
		}
	})

	// Without the service, the pod does not start.
	stop()
	if _, err := os.Stat(mdsclient.SocketPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left after the service stopped: %v", err)
	}
	r = e.Rkt(append(append([]string{"run"}, flags...), "--mds-register", "example.com/busybox", "--exec=/bin/true")...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "could not reach the metadata service") {
		t.Errorf("without the service: %s", r)
	}
}
