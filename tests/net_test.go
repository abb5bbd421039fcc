package tests

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

// Pod networking of the native stage1 (reference NET-01..NET-10,
// TEST-45). Traffic only goes between the host and the pods, on the
// 172.16.28.0/24 links of the default network.

// cniLeaseDir holds host-local's leases of the default network.
const cniLeaseDir = "/var/lib/cni/rkt-networks/default"

func netRun(t *testing.T, e *harness.Env, net, script string, flags ...string) *harness.Result {
	t.Helper()
	args := append(append([]string{"--net=" + net}, flags...), "example.com/busybox", "--exec=/bin/sh", "--", "-c", script)
	return nativeRun(t, e, args...)
}

func hostIfaces(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// leases lists the addresses host-local has reserved for the default
// network.
func leases() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir(cniLeaseDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "172.16.28.") {
			out[e.Name()] = true
		}
	}
	return out
}

func TestNetNoneAndHost(t *testing.T) {
	e, _ := runEnv(t)
	r := netRun(t, e, "none", "ls /sys/class/net; ip -o -4 addr").OK(t)
	if strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[0]) != "lo" || strings.Contains(r.Stdout, "eth0") {
		t.Errorf("--net=none: %s", r)
	}
	if !strings.Contains(r.Stdout, "127.0.0.1") {
		t.Errorf("--net=none: loopback is not up: %s", r)
	}
	r = netRun(t, e, "host", "ls /sys/class/net").OK(t)
	got := strings.Fields(r.Stdout)
	sort.Strings(got)
	if want := hostIfaces(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("--net=host: interfaces %v, host has %v", got, want)
	}
	// Unknown networks are refused before the pod starts.
	r = netRun(t, e, "nosuchnet", "true")
	if r.Code != 254 || !strings.Contains(r.Stderr, "networks not found: nosuchnet") {
		t.Errorf("unknown network: %s", r)
	}
}

var ip4RE = regexp.MustCompile(`inet (172\.16\.28\.\d+)/24`)

// startNetPod starts a native busybox pod on the default network serving
// a file with httpd on port 8080 and returns its rkt run, uuid and IP.
func startNetPod(t *testing.T, e *harness.Env, net string) (*exec.Cmd, string, string) {
	t.Helper()
	script := `mkdir -p /tmp/www; echo "hello from $(hostname)" > /tmp/www/index.html; httpd -f -p 8080 -h /tmp/www`
	cmd, uuid := startPod(t, e, append(nativeFlags(t), "--net="+net, "example.com/busybox", "--exec=/bin/sh", "--", "-c", script)...)
	st := e.Rkt("status", uuid).OK(t).Stdout
	m := regexp.MustCompile(`networks=default:ip4=(172\.16\.28\.\d+)`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("status lacks networks=default:ip4=172.16.28.x:\n%s", st)
	}
	return cmd, uuid, m[1]
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for i := 0; i < 50; i++ { // httpd may not listen yet
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func TestNetDefault(t *testing.T) {
	e, _ := runEnv(t)
	before := leases()

	// eth0 on 172.16.28.0/24, a default route, the host side reachable.
	r := netRun(t, e, "default", "ip -4 -o addr show eth0; ip route; ping -c 1 -W 5 172.16.28.1 >/dev/null && echo ping-ok").OK(t)
	if !ip4RE.MatchString(r.Stdout) || !strings.Contains(r.Stdout, "default via 172.16.28.1 dev eth0") || !strings.Contains(r.Stdout, "ping-ok") {
		t.Errorf("--net=default: %s", r)
	}
	// Without --net, the pod is on the default network too.
	r = nativeRun(t, e, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show eth0").OK(t)
	if !ip4RE.MatchString(r.Stdout) {
		t.Errorf("no --net: %s", r)
	}

	// Two running pods get distinct addresses; the host reaches both.
	cmd1, uuid1, ip1 := startNetPod(t, e, "default")
	cmd2, uuid2, ip2 := startNetPod(t, e, "default")
	if ip1 == ip2 {
		t.Errorf("two pods share %s", ip1)
	}
	for uuid, ip := range map[string]string{uuid1: ip1, uuid2: ip2} {
		if got := httpGet(t, "http://"+ip+":8080/index.html"); got != "hello from rkt-"+uuid+"\n" {
			t.Errorf("pod %s at %s answered %q", uuid, ip, got)
		}
	}
	if l := leases(); !l[ip1] || !l[ip2] {
		t.Errorf("leases %v lack %s, %s", l, ip1, ip2)
	}
	// The pod's info survives its exit (for list/status) until gc.
	e.Rkt("stop", uuid1).OK(t)
	waitCmd(t, cmd1)
	if st := e.Rkt("status", uuid1).OK(t).Stdout; !strings.Contains(st, "networks=default:ip4="+ip1) {
		t.Errorf("exited pod status: %s", st)
	}
	if leases()[ip1] {
		t.Errorf("lease of %s kept after the pod exited", ip1)
	}
	// SIGKILL the supervisor and rkt run of the second pod: gc cleans up.
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(e.Rkt("status", uuid2).OK(t).Stdout)
	if m == nil {
		t.Fatal("no pid in status")
	}
	_ = cmd2.Process.Kill()
	waitCmd(t, cmd2)
	if err := exec.Command("kill", "-9", m[1]).Run(); err != nil {
		t.Fatalf("kill the supervisor: %v", err)
	}
	for i := 0; i < 100 && exec.Command("kill", "-0", m[1]).Run() == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !leases()[ip2] {
		t.Errorf("lease of %s gone before gc", ip2)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
	if l := leases(); l[ip1] || l[ip2] {
		t.Errorf("leases left after gc: %v (before %v)", l, before)
	}
	if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), uuid1) || strings.Contains(string(out), uuid2) {
		t.Errorf("iptables rules left:\n%s", out)
	}

	// A new pod can take a released address (--net=default:IP=...).
	r = netRun(t, e, "default:IP="+ip1, "ip -4 -o addr show eth0").OK(t)
	if !strings.Contains(r.Stdout, "inet "+ip1+"/24") {
		t.Errorf("--net=default:IP=%s: %s", ip1, r)
	}
}
