package tests

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// httpACI writes an ACI of busybox (the fixture rootfs) named
// example.com/busybox-http whose app exposes port "http" (tcp 8080).
func httpACI(t *testing.T, e *harness.Env, busyboxID string) string {
	t.Helper()
	var m map[string]any
	out := e.Rkt("image", "cat-manifest", "--pretty-print=false", busyboxID).OK(t).Stdout
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("busybox manifest: %v", err)
	}
	m["name"] = "example.com/busybox-http"
	app, _ := m["app"].(map[string]any)
	if app == nil {
		app = map[string]any{"exec": []string{"/bin/sh"}, "user": "0", "group": "0"}
		m["app"] = app
	}
	app["ports"] = []map[string]any{{"name": "http", "protocol": "tcp", "port": 8080}}
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.Root, "busybox-http.aci")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest", Mode: 0o644, Size: int64(len(mb)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(mb); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(harness.Fixtures(t), "rootfs")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		name := "rootfs"
		if rel != "." {
			name += "/" + filepath.ToSlash(rel)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = name, 0, 0, "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a TCP port of 127.0.0.1 nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostAddr returns a non-loopback IPv4 address of the host outside the
// pods' networks, or "".
func hostAddr() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !strings.HasPrefix(n.IP.String(), "172.16.28.") && !strings.HasPrefix(n.IP.String(), "172.31.") {
			return n.IP.String()
		}
	}
	return ""
}

// TestNetPortForward: --port=NAME:[HOSTIP:]HOSTPORT forwards a host port
// to the app's port through the portmap plugin (NET-09, CLI-RUN-02).
func TestNetPortForward(t *testing.T) {
	e, id := runEnv(t)
	aci := httpACI(t, e, id)
	script := `mkdir -p /tmp/www; echo "hello from $(hostname)" > /tmp/www/index.html; httpd -f -p 8080 -h /tmp/www`
	// --port needs a pod network.
	for _, n := range []string{"host", "none"} {
		r := nativeRun(t, e, "--net="+n, "--port=http:"+strconv.Itoa(freePort(t)), aci, "--exec=/bin/true")
		if r.Code != 254 || !strings.Contains(r.Stderr, "--port") {
			t.Errorf("--port with --net=%s: %s", n, r)
		}
	}
	// An unknown port name is refused.
	if r := nativeRun(t, e, "--port=nosuch:"+strconv.Itoa(freePort(t)), aci, "--exec=/bin/true"); r.Code != 254 || !strings.Contains(r.Stderr, "nosuch") {
		t.Errorf("unknown port name: %s", r)
	}

	// HOSTIP 127.0.0.1: reachable on localhost.
	port := freePort(t)
	cmd, uuid := startPod(t, e, append(nativeFlags(t), "--port=http:127.0.0.1:"+strconv.Itoa(port), aci, "--exec=/bin/sh", "--", "-c", script)...)
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port)); got != "hello from rkt-"+uuid+"\n" {
		t.Errorf("127.0.0.1:%d answered %q", port, got)
	}
	nat, _ := exec.Command("iptables-save", "-t", "nat").Output()
	if !strings.Contains(string(nat), "--dport "+strconv.Itoa(port)) && !strings.Contains(string(nat), "--dports "+strconv.Itoa(port)) {
		t.Errorf("no DNAT rule for port %d:\n%s", port, nat)
	}
	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), uuid) {
		t.Errorf("iptables rules left after the pod exited:\n%s", out)
	}

	// No HOSTIP: reachable on the host's own address and on localhost.
	port = freePort(t)
	cmd, uuid = startPod(t, e, append(nativeFlags(t), "--port=http:"+strconv.Itoa(port), aci, "--exec=/bin/sh", "--", "-c", script)...)
	want := "hello from rkt-" + uuid + "\n"
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port)); got != want {
		t.Errorf("127.0.0.1:%d answered %q", port, got)
	}
	if a := hostAddr(); a != "" {
		if got := httpGet(t, fmt.Sprintf("http://%s/index.html", net.JoinHostPort(a, strconv.Itoa(port)))); got != want {
			t.Errorf("%s:%d answered %q", a, port, got)
		}
	}
	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), uuid) || strings.Contains(string(out), "CNI-DN-") {
		t.Errorf("iptables rules left after gc:\n%s", out)
	}
}

// podIP returns the ip4 address `rkt status` records for the pod on
// network name.
func podIP(t *testing.T, e *harness.Env, uuid, name string) string {
	t.Helper()
	st := e.Rkt("status", uuid).OK(t).Stdout
	m := regexp.MustCompile(`networks=(?:[^\s]*,)?` + regexp.QuoteMeta(name) + `:ip4=([0-9.]+)`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("status of %s lacks networks=%s:ip4=...:\n%s", uuid, name, st)
	}
	return m[1]
}

// hostRoutes returns the host's routes to ip (a ptp pod's host side
// has one through its veth while the pod's link exists).
func hostRoutes(t *testing.T, ip string) string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "to", ip+"/32").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// checkLinksGone fails if the host still routes to one of ips through
// a pod's veth after a few seconds: the veth of a pod outlives it only
// with its netns, which the kernel frees in the background once the pod
// exited (rkt drops its last reference to it before the CNI DEL, which
// then has no link to delete; see docs/networking.md).
func checkLinksGone(t *testing.T, ips map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ip := range ips {
		r := hostRoutes(t, ip)
		for r != "" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			r = hostRoutes(t, ip)
		}
		if r != "" {
			t.Errorf("host side of %s left: %s", ip, r)
		}
	}
}

// stopOnCleanup stops the pod and collects it at the end of the test
// (before startPod's cleanup kills its rkt run), so that a failing test
// leaves no netns, veth or chain behind.
func stopOnCleanup(t *testing.T, e *harness.Env, uuid string, cmd *exec.Cmd) {
	t.Cleanup(func() {
		if st := e.Rkt("status", uuid); st.Code == 0 && strings.Contains(st.Stdout, "state=running") {
			e.Rkt("stop", uuid)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
			}
		}
		e.Rkt("gc", "--grace-period=0s")
	})
}

// forgetIPAMState removes, at the end of the test, the state directory
// that host-local keeps for a network the test defines (its last
// reserved address and a lock, in /var/lib/cni/networks/NAME), when the
// test made it and no address is reserved in it any more: a reservation
// left is a leak, which the leak check reports. Register it before the
// pods of the network start, so that it runs after their clean-up.
func forgetIPAMState(t *testing.T, name string) {
	t.Helper()
	dir := filepath.Join("/var/lib/cni/networks", name)
	if _, err := os.Lstat(dir); err == nil {
		return // not made by this test
	}
	t.Cleanup(func() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
				return
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing host-local's state of network %s: %v", name, err)
		}
	})
}

// leaseOwner returns the container id (pod uuid) holding host-local's
// lease of ip in dir, or "" when ip is free. Checking the owner and not
// just the file keeps the checks right when other pods (of concurrent
// runs) take a released address again.
func leaseOwner(dir, ip string) string {
	b, err := os.ReadFile(filepath.Join(dir, ip))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
}

// checkGCReleased runs gc and checks that the leases of ips, the pods'
// masquerading rules and their veths are gone.
func checkGCReleased(t *testing.T, e *harness.Env, uuids []string, ips map[string]bool) {
	t.Helper()
	e.Rkt("gc", "--grace-period=0s").OK(t)
	ours := map[string]bool{}
	for _, u := range uuids {
		ours[u] = true
	}
	for ip := range ips {
		if o := leaseOwner(cniLeaseDir, ip); ours[o] {
			t.Errorf("lease of %s kept for pod %s after gc", ip, o)
		}
	}
	if out, _ := exec.Command("iptables-save").Output(); len(out) > 0 {
		for _, u := range uuids {
			if strings.Contains(string(out), u) {
				t.Errorf("iptables rules of pod %s left after gc", u)
			}
		}
	}
	checkLinksGone(t, ips)
	for _, u := range uuids {
		if r := e.Rkt("status", u); r.Code == 0 {
			t.Errorf("pod %s still there after gc: %s", u, r.Stdout)
		}
	}
}

// TestNetManySequentialPods: 50 pods on the default network, one after
// the other, get 50 distinct addresses, and gc releases every lease.
func TestNetManySequentialPods(t *testing.T) {
	e, _ := runEnv(t)
	const n = 50
	ips := map[string]bool{}
	var uuids []string
	for i := 0; i < n; i++ {
		f := filepath.Join(e.Root, "seq-uuid-"+strconv.Itoa(i))
		nativeRun(t, e, "--net=default", "--uuid-file-save="+f, "example.com/busybox", "--exec=/bin/true").OK(t)
		uuid := readFile(t, f)
		ip := podIP(t, e, uuid, "default")
		if !strings.HasPrefix(ip, "172.16.28.") {
			t.Errorf("pod %d: address %s outside 172.16.28.0/24", i, ip)
		}
		if ips[ip] {
			t.Errorf("pod %d: address %s given twice", i, ip)
		}
		ips[ip] = true
		uuids = append(uuids, uuid)
	}
	if len(ips) != n {
		t.Errorf("%d distinct addresses for %d pods", len(ips), n)
	}
	checkGCReleased(t, e, uuids, ips)
}

// TestNetConcurrentPods: 20 pods started at once on the default network
// all run and get distinct addresses (no IPAM race).
func TestNetConcurrentPods(t *testing.T) {
	e, _ := runEnv(t)
	const n = 20
	var wg sync.WaitGroup
	results := make([]*harness.Result, n)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.Rkt(append(append([]string{"run"}, nativeFlags(t)...), "--net=default",
				"--uuid-file-save="+filepath.Join(e.Root, "conc-uuid-"+strconv.Itoa(i)), "example.com/busybox", "--exec=/bin/true")...)
		}(i)
	}
	wg.Wait()
	ips := map[string]bool{}
	var uuids []string
	for i, r := range results {
		if r.Code != 0 {
			t.Errorf("pod %d: %s", i, r)
			continue
		}
		uuid := readFile(t, filepath.Join(e.Root, "conc-uuid-"+strconv.Itoa(i)))
		ip := podIP(t, e, uuid, "default")
		if ips[ip] {
			t.Errorf("pod %d: address %s given twice", i, ip)
		}
		ips[ip] = true
		uuids = append(uuids, uuid)
	}
	if len(ips) != n {
		t.Errorf("%d distinct addresses for %d pods", len(ips), n)
	}
	checkGCReleased(t, e, uuids, ips)
}

// TestNetBridgeNetwork: a user network of net.d using the CNI bridge
// plugin: the pod gets an address of its subnet and the host reaches it.
func TestNetBridgeNetwork(t *testing.T) {
	e, _ := runEnv(t)
	nativeFlags(t)
	// A subnet and a bridge nobody else uses (other runs may be going on).
	var subnet, prefix string
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	for i := 0; i < 50 && subnet == ""; i++ {
		p := fmt.Sprintf("10.213.%d.", rnd.Intn(256))
		if !strings.Contains(string(routes), p) {
			prefix, subnet = p, p+"0/24"
		}
	}
	if subnet == "" {
		t.Skip("no unused 10.213.x.0/24 subnet")
	}
	br := fmt.Sprintf("rktbr%06x", rnd.Intn(1<<24))
	name := "br" + br[5:]
	forgetIPAMState(t, name)
	t.Cleanup(func() {
		if _, err := os.Stat("/sys/class/net/" + br); err == nil {
			if out, err := exec.Command("ip", "link", "del", br).CombinedOutput(); err != nil {
				t.Errorf("ip link del %s: %v: %s", br, err, out)
			}
		}
	})
	conf := fmt.Sprintf(`{"cniVersion":"0.4.0","name":%q,"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,
  "ipam":{"type":"host-local","subnet":%q,"routes":[{"dst":"0.0.0.0/0"}]}}`, name, br, subnet)
	netd := filepath.Join(e.LocalConfig, "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(netd, "10-br.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	r := netRun(t, e, name, "ip -4 -o addr show eth0; ip route").OK(t)
	if !strings.Contains(r.Stdout, "inet "+prefix) || !strings.Contains(r.Stdout, "default via "+prefix+"1 dev eth0") {
		t.Errorf("--net=%s: eth0 not on %s: %s", name, subnet, r)
	}

	script := `mkdir -p /tmp/www; echo "hello from $(hostname)" > /tmp/www/index.html; httpd -f -p 8080 -h /tmp/www`
	cmd, uuid := startPod(t, e, append(nativeFlags(t), "--net="+name, "example.com/busybox", "--exec=/bin/sh", "--", "-c", script)...)
	stopOnCleanup(t, e, uuid, cmd)
	ip := podIP(t, e, uuid, name)
	if !strings.HasPrefix(ip, prefix) {
		t.Errorf("pod address %s outside %s", ip, subnet)
	}
	if got := httpGet(t, "http://"+ip+":8080/index.html"); got != "hello from rkt-"+uuid+"\n" {
		t.Errorf("pod at %s answered %q", ip, got)
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "master", br).Output(); err != nil || !strings.Contains(string(out), "veth") {
		t.Errorf("no veth on bridge %s: %v %s", br, err, out)
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", br, "bridge")); err != nil {
		t.Errorf("bridge %s: %v", br, err)
	}
	e.Rkt("stop", uuid).OK(t)
	waitCmd(t, cmd)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	// The pod's veth goes with its netns, which the kernel frees in the
	// background (see checkLinksGone).
	var left string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, _ := exec.Command("ip", "-o", "link", "show", "master", br).Output()
		if left = strings.TrimSpace(string(out)); left == "" || time.Now().After(deadline) {
			break
		}
	}
	if left != "" {
		t.Errorf("veths left on bridge %s after gc: %s", br, left)
	}
	for _, d := range []string{"/var/lib/cni/rkt-networks/" + name, "/var/lib/cni/networks/" + name} {
		if o := leaseOwner(d, ip); o == uuid {
			t.Errorf("lease %s/%s kept after gc", d, ip)
		}
	}
	// The bridge plugin leaves the bridge itself behind on DEL.
	if out, err := exec.Command("ip", "link", "del", br).CombinedOutput(); err != nil {
		t.Errorf("ip link del %s: %v: %s", br, err, out)
	}
}

// TestNetPodToPod: a pod reaches another pod of the default network on
// its address, and through the other pod's forwarded host port.
func TestNetPodToPod(t *testing.T) {
	e, id := runEnv(t)
	cmdB, uuidB, ipB := startNetPod(t, e, "default")
	stopOnCleanup(t, e, uuidB, cmdB)
	if hostRoutes(t, ipB) == "" {
		t.Errorf("no host route to the running pod at %s", ipB)
	}
	if o := leaseOwner(cniLeaseDir, ipB); o != uuidB {
		t.Errorf("lease of %s held by %q, want %s", ipB, o, uuidB)
	}
	httpGet(t, "http://"+ipB+":8080/index.html") // B listens
	want := "hello from rkt-" + uuidB
	r := netRun(t, e, "default", "timeout 10 wget -q -O - http://"+ipB+":8080/index.html").OK(t)
	if strings.TrimSpace(r.Stdout) != want {
		t.Errorf("pod to %s: %s", ipB, r)
	}

	// B's port forwarded on the host, reached from another pod through
	// the host side of its link and the host's own address.
	aci := httpACI(t, e, id)
	port := freePort(t)
	script := `mkdir -p /tmp/www; echo "hello from $(hostname)" > /tmp/www/index.html; httpd -f -p 8080 -h /tmp/www`
	cmdC, uuidC := startPod(t, e, append(nativeFlags(t), "--port=http:"+strconv.Itoa(port), aci, "--exec=/bin/sh", "--", "-c", script)...)
	stopOnCleanup(t, e, uuidC, cmdC)
	ipC := podIP(t, e, uuidC, "default")
	wantC := "hello from rkt-" + uuidC
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port)); strings.TrimSpace(got) != wantC {
		t.Errorf("127.0.0.1:%d answered %q", port, got)
	}
	targets := []string{"172.16.28.1"}
	if a := hostAddr(); a != "" {
		targets = append(targets, a)
	}
	for _, h := range targets {
		r := netRun(t, e, "default", fmt.Sprintf("timeout 10 wget -q -O - http://%s:%d/index.html", h, port)).OK(t)
		if strings.TrimSpace(r.Stdout) != wantC {
			t.Errorf("pod to forwarded %s:%d: %s", h, port, r)
		}
	}
	// Hairpin: a pod reaches its own forwarded port.
	port2 := freePort(t)
	r = nativeRun(t, e, "--port=http:"+strconv.Itoa(port2), aci, "--exec=/bin/sh", "--", "-c",
		fmt.Sprintf(`mkdir -p /tmp/www; echo "self $(hostname)" > /tmp/www/index.html; httpd -p 8080 -h /tmp/www; sleep 0.2; timeout 10 wget -q -O - http://172.16.28.1:%d/index.html`, port2)).OK(t)
	if !strings.HasPrefix(strings.TrimSpace(r.Stdout), "self rkt-") {
		t.Errorf("pod to its own forwarded port %d: %s", port2, r)
	}
	for _, p := range []struct {
		cmd  *exec.Cmd
		uuid string
	}{{cmdB, uuidB}, {cmdC, uuidC}} {
		e.Rkt("stop", p.uuid).OK(t)
		waitCmd(t, p.cmd)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
	checkLinksGone(t, map[string]bool{ipB: true, ipC: true})
	if leaseOwner(cniLeaseDir, ipB) == uuidB || leaseOwner(cniLeaseDir, ipC) == uuidC {
		t.Errorf("leases of %s, %s kept after gc", ipB, ipC)
	}
	if out, _ := exec.Command("iptables-save").Output(); strings.Contains(string(out), uuidB) || strings.Contains(string(out), uuidC) {
		t.Errorf("iptables rules left after gc:\n%s", out)
	}
}

// Two pods cannot have the same requested address: the second fails
// clearly and leaves nothing behind.
func TestNetIPConflict(t *testing.T) {
	e, _ := runEnv(t)
	ip := "172.16.28.242"
	cmd, uuid := startPod(t, e, "--net=default:IP="+ip, "example.com/busybox", "--exec=/bin/sleep", "--", "1000")
	if st := e.Rkt("status", uuid).OK(t).Stdout; !strings.Contains(st, "networks=default:ip4="+ip) {
		t.Fatalf("first pod did not get %s: %s", ip, st)
	}
	r := e.Rkt("run", "--net=default:IP="+ip, "example.com/busybox", "--exec=/bin/true")
	r.Fails(t, 254, ip)
	e.Rkt("stop", "--force", uuid).OK(t)
	cmd.Wait()
	e.Rkt("gc", "--grace-period=0s").OK(t)
}

// A third-party plugin from net.d gets the CNI environment and its
// configuration on stdin (reference TEST-45); networks get eth0, eth1...
// in the order of their configuration file names, as in rkt (the
// built-in default network sorts as 99-default.conf: last).
func TestNetThirdPartyPlugin(t *testing.T) {
	e, _ := runEnv(t)
	netd := filepath.Join(e.LocalConfig, "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(e.Root, "plugin-calls")
	plugin := "#!/bin/sh\n" +
		"{ echo \"CMD=$CNI_COMMAND IF=$CNI_IFNAME ID=$CNI_CONTAINERID ARGS=$CNI_ARGS NETNS=$CNI_NETNS\"; cat; echo; } >> " + record + "\n" +
		"[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"0.4.0\"}'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(netd, "rkttestplugin"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := `{"cniVersion":"0.4.0","name":"custom","type":"rkttestplugin"}`
	if err := os.WriteFile(filepath.Join(netd, "20-custom.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	uuidFile := filepath.Join(e.Root, "uuid")
	r := e.Rkt("run", "--uuid-file-save="+uuidFile, "--net=default,custom:K1=V1;K2=V2", "example.com/busybox", "--exec=/bin/sh", "--", "-c", "ls /sys/class/net")
	r.OK(t)
	uuid := readFile(t, uuidFile)
	calls := readFile(t, record)
	for _, want := range []string{"CMD=ADD IF=eth0 ID=" + uuid, "K1=V1", "K2=V2", "NETNS=/", `"name":"custom"`, "CMD=DEL IF=eth0"} {
		if !strings.Contains(calls, want) {
			t.Errorf("plugin calls lack %q:\n%s", want, calls)
		}
	}
	if !strings.Contains(r.Stdout, "eth1") {
		t.Errorf("the default network is not eth1: %s", r.Stdout)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
}

// default-restricted: 172.31.0.0/16, no route out; a user file named
// "default" replaces the built-in default network; macvlan from net.d.
func TestNetRestrictedOverrideMacvlan(t *testing.T) {
	e, _ := runEnv(t)
	r := netRun(t, e, "default-restricted", "ip -4 -o addr show eth0; ip route").OK(t)
	if !strings.Contains(r.Stdout, "inet 172.31.") || strings.Contains(r.Stdout, "default via") {
		t.Errorf("default-restricted: %s", r.Stdout)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)

	netd := filepath.Join(e.LocalConfig, "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		t.Fatal(err)
	}
	subnet := fmt.Sprintf("10.214.%d", 1+rand.Intn(250))
	override := `{"cniVersion":"0.4.0","name":"default","type":"ptp","ipMasq":false,"ipam":{"type":"host-local","subnet":"` + subnet + `.0/24","routes":[{"dst":"0.0.0.0/0"}]}}`
	forgetIPAMState(t, "default")
	if err := os.WriteFile(filepath.Join(netd, "50-default.conf"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	r = netRun(t, e, "default", "ip -4 -o addr show eth0").OK(t)
	if !strings.Contains(r.Stdout, "inet "+subnet+".") {
		t.Errorf("the user's default network was not used: %s", r)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
	os.Remove(filepath.Join(netd, "50-default.conf"))

	// The master: one end of a veth pair of the test's own (this kernel
	// may have no dummy interfaces).
	master := fmt.Sprintf("rktmv%d", rand.Intn(100000))
	if out, err := exec.Command("ip", "link", "add", master, "type", "veth", "peer", "name", master+"p").CombinedOutput(); err != nil {
		t.Fatalf("creating a macvlan master: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", master).Run() })
	exec.Command("ip", "link", "set", master, "up").Run()
	mv := fmt.Sprintf("10.215.%d", 1+rand.Intn(250))
	conf := `{"cniVersion":"0.4.0","name":"mv","type":"macvlan","master":"` + master + `","ipam":{"type":"host-local","subnet":"` + mv + `.0/24"}}`
	forgetIPAMState(t, "mv")
	if err := os.WriteFile(filepath.Join(netd, "30-mv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r = netRun(t, e, "mv", "ip -4 -o addr show eth0").OK(t)
	if !strings.Contains(r.Stdout, "inet "+mv+".") {
		t.Errorf("macvlan network: %s", r)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
}

// DNS from the CNI result goes into resolv.conf unless --dns says
// otherwise (reference TEST-45).
func TestNetDNSFromCNI(t *testing.T) {
	e, _ := runEnv(t)
	netd := filepath.Join(e.LocalConfig, "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		t.Fatal(err)
	}
	subnet := fmt.Sprintf("10.216.%d", 1+rand.Intn(250))
	conf := `{"cniVersion":"0.4.0","name":"withdns","type":"ptp","ipMasq":false,"dns":{"nameservers":["10.9.8.7"],"search":["cni.example"]},"ipam":{"type":"host-local","subnet":"` + subnet + `.0/24"}}`
	forgetIPAMState(t, "withdns")
	if err := os.WriteFile(filepath.Join(netd, "40-withdns.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r := netRun(t, e, "withdns", "cat /etc/resolv.conf").OK(t)
	if !strings.Contains(r.Stdout, "nameserver 10.9.8.7") || !strings.Contains(r.Stdout, "cni.example") {
		t.Errorf("DNS from CNI: %q", r.Stdout)
	}
	r = netRun(t, e, "withdns", "cat /etc/resolv.conf", "--dns=10.1.2.3").OK(t)
	if !strings.Contains(r.Stdout, "nameserver 10.1.2.3") || strings.Contains(r.Stdout, "10.9.8.7") {
		t.Errorf("--dns must beat CNI: %q", r.Stdout)
	}
	e.Rkt("gc", "--grace-period=0s").OK(t)
}
