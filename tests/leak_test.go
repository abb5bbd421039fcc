package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/tests/harness"
)

// TestLeak200Lifecycles runs 200 pods with the native stage1, each to its
// end and through gc: mixed --net=none and default network, a quarter
// with --private-users, some stopped by `rkt stop --force` instead of
// exiting. Afterwards nothing of them may be left on the host: mounts,
// cgroups, network namespaces, veths, iptables chains and rules, IPAM
// leases, pod directories, id ranges.
func TestLeak200Lifecycles(t *testing.T) {
	if testing.Short() {
		t.Skip("200 pods: not with -short")
	}
	e, _ := runEnv(t)
	flags := nativeFlags(t)
	// One pod first so that the images are rendered and the default
	// network's bridge and masquerade rule exist before the snapshot:
	// they are the network's, not a pod's, and stay.
	e.Rkt(append(append([]string{"run"}, flags...), "--net=default", "example.com/busybox", "--exec=/bin/true")...).OK(t)
	e.Rkt("gc", "--grace-period=0s").OK(t)
	before := harness.Snapshot(e.DataDir)

	const n = 200
	start := time.Now()
	var counts [4]int
	for i := range n {
		args := append([]string{"run"}, flags...)
		kind := i % 4
		switch kind {
		case 0:
			args = append(args, "--net=none")
		case 1:
			args = append(args, "--net=default")
		case 2:
			args = append(args, "--net=none", "--private-users")
		case 3:
			args = append(args, "--net=default", "--private-users")
		}
		counts[kind]++
		if i%25 == 24 {
			// A pod that does not exit by itself: killed by stop --force.
			cmd, uuid := startPod(t, e, append(args[1:], "example.com/busybox", "--exec=/bin/sleep", "--", "1000")...)
			e.Rkt("stop", "--force", uuid).OK(t)
			waitCmd(t, cmd)
		} else {
			e.Rkt(append(args, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "echo x > /tmp/x")...).OK(t)
		}
		e.Rkt("gc", "--grace-period=0s").OK(t)
		if t.Failed() {
			t.Fatalf("pod %d failed", i)
		}
	}
	took := time.Since(start)
	t.Logf("%d pod lifecycles (none/default/none+userns/default+userns: %v) in %s, %s each",
		n, counts, took.Round(time.Millisecond), (took / n).Round(time.Millisecond))

	after := harness.SnapshotAfter(before, e.DataDir)
	if leaked := before.Leaked(after); len(leaked) > 0 {
		t.Errorf("left behind by %d pods:\n  %s", n, strings.Join(leaked, "\n  "))
	}
	for _, dir := range []string{"pods/*/*", "userns/*"} {
		if m, _ := filepath.Glob(filepath.Join(e.DataDir, dir)); len(m) > 0 {
			t.Errorf("%d %s left: %v", len(m), dir, m)
		}
	}
	if data, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(data), e.DataDir) {
		t.Errorf("mounts left under %s", e.DataDir)
	}
	if before.Len() == 0 {
		t.Error("empty snapshot: the leak check sees nothing")
	}
}
