package harness

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// state is what the leak check compares before and after the tests.
type state map[string]bool

// snapshot lists the host resources a test could leak. Only what is new
// after the run counts, so resources the machine already had are ignored.
func snapshot() state {
	s := state{}
	for _, m := range mountsUnder(tmpRoot) {
		s["mount "+m] = true
	}
	if ents, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range ents {
			s["netns "+e.Name()] = true
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				s["veth "+strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")] = true
			}
		}
	}
	for _, c := range rktCgroups() {
		s["cgroup "+c] = true
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		if out, err := exec.Command(tool).Output(); err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				switch {
				case strings.HasPrefix(l, ":"):
					s[tool+" chain "+strings.Fields(l)[0][1:]] = true
				case strings.HasPrefix(l, "-A "):
					s[tool+" rule "+l] = true
				}
			}
		}
	}
	// Addresses reserved by host-local IPAM (rkt's networks and any
	// other CNI directory): a file per address.
	for _, pat := range []string{"/var/lib/cni/rkt-networks/*/*", "/var/lib/cni/networks/*/*"} {
		m, _ := filepath.Glob(pat)
		for _, f := range m {
			if b := filepath.Base(f); b != "lock" && !strings.HasPrefix(b, "last_reserved_ip") {
				s["ipam lease "+f] = true
			}
		}
	}
	// host-local's state directory of each network in the default CNI
	// place: those of the networks tests define go with their tests
	// (rkt's own networks keep theirs, in rkt-networks, like a host).
	m, _ := filepath.Glob("/var/lib/cni/networks/*")
	for _, d := range m {
		s["ipam state "+d] = true
	}
	return s
}

// Resources is a snapshot of what pods can leave behind on the host:
// mounts below the tests' directories, network namespaces, veths,
// cgroups, iptables chains and rules, IPAM leases and, for the rkt data
// directories it was taken for, pod directories and --private-users id
// ranges. Tests that must prove a sequence of pods leaves nothing (the
// whole run's check cannot see a data directory removed with its test)
// compare two of them.
type Resources struct{ s state }

// Snapshot takes a Resources, looking into the given data directories.
func Snapshot(dataDirs ...string) Resources {
	s := snapshot()
	for _, d := range dataDirs {
		for _, pat := range []string{"pods/*/*", "userns/*"} {
			m, _ := filepath.Glob(filepath.Join(d, pat))
			for _, f := range m {
				kind := "pod dir "
				if strings.HasPrefix(pat, "userns") {
					kind = "userns id range "
				}
				s[kind+f] = true
			}
		}
	}
	return Resources{s}
}

// Leaked lists what after holds that r did not, sorted.
func (r Resources) Leaked(after Resources) []string {
	return r.s.leaked(after.s)
}

// vethGrace is how long a pod's veth may outlive it: rkt lets the
// kernel free an exited pod's netns, and with it the veth, in the
// background.
const vethGrace = 10 * time.Second

// settle takes snapshots until the only difference from before is no
// longer a veth, or vethGrace passed, and returns the last.
func settle(before state, take func() state) state {
	deadline := time.Now().Add(vethGrace)
	for {
		after := take()
		onlyVeths := false
		for _, k := range before.leaked(after) {
			if onlyVeths = strings.HasPrefix(k, "veth "); !onlyVeths {
				break
			}
		}
		if !onlyVeths || time.Now().After(deadline) {
			return after
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SnapshotAfter is Snapshot taken once the veths of pods that exited
// since before are gone (within a few seconds; see settle).
func SnapshotAfter(before Resources, dataDirs ...string) Resources {
	return Resources{settle(before.s, func() state { return Snapshot(dataDirs...).s })}
}

// Len is the number of resources in the snapshot.
func (r Resources) Len() int { return len(r.s) }

func (before state) leaked(after state) []string {
	var out []string
	for k := range after {
		if !before[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if dir != "" && (mp == dir || strings.HasPrefix(mp, dir+"/")) {
			out = append(out, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// unmountUnder detaches every mount below dir so a failed test cannot
// keep its directory (or the next test) hostage.
func unmountUnder(dir string) {
	for _, mp := range mountsUnder(dir) {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
	}
}

// rktCgroups finds cgroups named after rkt pods on v1 and v2 hierarchies.
func rktCgroups() []string {
	var out []string
	for _, pat := range []string{
		"/sys/fs/cgroup/*/machine.slice/machine-rkt*",
		"/sys/fs/cgroup/machine.slice/machine-rkt*",
		"/sys/fs/cgroup/unified/machine.slice/machine-rkt*",
		"/sys/fs/cgroup/*/rkt-*",
		"/sys/fs/cgroup/rkt-*",
	} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	return out
}
