package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

// The privilege fence (docs/design.md, "Privilege separation"): binaries
// that run unprivileged must not link code that mounts, unshares, enters
// namespaces or changes credentials; privileged binaries must not link
// network image-fetching code.
var (
	unprivilegedBinaries = []string{"rkt", "rkt-fetch", "rkt-list", "rkt-status", "rkt-cat-manifest", "rkt-config", "rkt-api", "rkt-image"}
	privilegedBinaries   = []string{"rkt-prepare", "rkt-run-prepared", "rkt-gc", "rkt-enter", "rkt-stop", "rkt-rm", "rkt-mds", "rkt-export"}

	// privilegedCall finds system calls that only privileged code makes.
	privilegedCall = regexp.MustCompile(`\b(unix|syscall)\.(Mount|Unmount|Unshare|Setns|PivotRoot|Chroot|Setuid|Setgid|Setreuid|Setregid|Setresuid|Setresgid|Setgroups|Capset|CLONE_NEW[A-Z]+|MoveMount|Fsmount|OpenTree)\b|Cloneflags|UidMappings`)
	// fetchCall finds HTTP client code: requests and clients, not servers.
	fetchCall = regexp.MustCompile(`\bhttp\.(Get|Head|Post|PostForm|NewRequest|NewRequestWithContext|Client|DefaultClient|Transport|DefaultTransport)\b`)

	// Third-party packages on each side of the fence, by import path prefix.
	privilegedThirdParty = []string{
		"github.com/opencontainers/cgroups", "github.com/containerd/cgroups",
		"github.com/moby/sys/mount", "github.com/moby/sys/capability",
		"github.com/containernetworking/plugins/pkg/ns", "github.com/opencontainers/selinux",
		"github.com/seccomp/libseccomp-golang", "github.com/opencontainers/runc",
	}
	fetchingThirdParty = []string{
		"github.com/google/go-containerregistry/pkg/v1/remote", "github.com/appc/spec/discovery",
	}
)

// listPackages runs `go list` once over the module.
func listPackages(t *testing.T, format string, patterns ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", format}, patterns...)...)
	cmd.Dir = harness.Top()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// classify scans the module's own non-test sources and returns the
// packages that make privileged calls and those that make HTTP requests.
func classify(t *testing.T) (privileged, fetching map[string]string) {
	privileged, fetching = map[string]string{}, map[string]string{}
	for _, line := range listPackages(t, `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles " "}}`, "./...") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 || parts[2] == "" {
			continue
		}
		for _, f := range strings.Fields(parts[2]) {
			p := filepath.Join(parts[1], f)
			if m := grep(t, p, privilegedCall); m != "" {
				privileged[parts[0]] = f + ": " + m
			}
			if m := grep(t, p, fetchCall); m != "" {
				fetching[parts[0]] = f + ": " + m
			}
		}
	}
	return privileged, fetching
}

func grep(t *testing.T, path string, re *regexp.Regexp) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "//") {
			continue
		}
		if m := re.FindString(line); m != "" {
			return m
		}
	}
	return ""
}

// fenceViolations is the rule itself, kept apart from `go list` so that a
// unit test can show it fails on a forbidden dependency.
func fenceViolations(bins map[string][]string, privileged, fetching map[string]string) []string {
	var out []string
	match := func(dep string, own map[string]string, third []string) (string, bool) {
		if why, ok := own[dep]; ok {
			return why, true
		}
		for _, p := range third {
			if dep == p || strings.HasPrefix(dep, p+"/") {
				return "third-party " + p, true
			}
		}
		return "", false
	}
	for _, b := range unprivilegedBinaries {
		for _, dep := range bins[b] {
			if why, bad := match(dep, privileged, privilegedThirdParty); bad {
				out = append(out, b+" (unprivileged) links privileged package "+dep+" ("+why+")")
			}
		}
	}
	for b, deps := range bins {
		if !isPrivileged(b) {
			continue
		}
		for _, dep := range deps {
			if why, bad := match(dep, fetching, fetchingThirdParty); bad {
				out = append(out, b+" (privileged) links network fetching package "+dep+" ("+why+")")
			}
		}
	}
	sort.Strings(out)
	return out
}

func isPrivileged(bin string) bool {
	if strings.HasPrefix(bin, "stage1/") {
		return true
	}
	for _, b := range privilegedBinaries {
		if b == bin {
			return true
		}
	}
	return false
}

func TestPrivilegeFence(t *testing.T) {
	privileged, fetching := classify(t)
	bins := map[string][]string{}
	const mod = "github.com/rkt/rkt/"
	for _, line := range listPackages(t, `{{if eq .Name "main"}}{{.ImportPath}} {{.ImportPath}} {{join .Deps " "}}{{end}}`, "./...") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimPrefix(f[0], mod)
		bins[name] = f[1:]
	}
	for _, b := range append(append([]string{}, unprivilegedBinaries...), privilegedBinaries...) {
		if _, ok := bins[b]; !ok {
			t.Errorf("binary %s not found by go list", b)
		}
	}
	for _, v := range fenceViolations(bins, privileged, fetching) {
		t.Error(v)
	}
	t.Logf("privileged packages: %v; fetching packages: %v", keys(privileged), keys(fetching))
}

// The rule must catch a forbidden dependency, direct or transitive.
func TestPrivilegeFenceRule(t *testing.T) {
	privileged := map[string]string{"m/common/mount": "mount.go: unix.Mount"}
	fetching := map[string]string{"m/common/fetch": "fetch.go: http.Client"}
	for _, tc := range []struct {
		bins map[string][]string
		want int
	}{
		{map[string][]string{"rkt-list": {"fmt", "m/common/pod"}, "rkt-gc": {"m/common/mount"}}, 0},
		{map[string][]string{"rkt-list": {"m/common/mount"}}, 1},
		{map[string][]string{"rkt-fetch": {"github.com/opencontainers/cgroups/fs2"}}, 1},
		{map[string][]string{"rkt-gc": {"m/common/fetch"}}, 1},
		{map[string][]string{"stage1/native/run": {"github.com/google/go-containerregistry/pkg/v1/remote"}}, 1},
		{map[string][]string{"rkt-fetch": {"m/common/fetch"}, "rkt-mds": {"net/http"}}, 0},
	} {
		if got := fenceViolations(tc.bins, privileged, fetching); len(got) != tc.want {
			t.Errorf("%v: violations %v, want %d", tc.bins, got, tc.want)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The binaries every `rkt run` starts pay the start-up of each package
// they link: net/http alone costs ~0.4 ms (docs/design.md, mdsclient),
// the BPF assembler's tables 0.14 ms (stage1/native/seccomp.go),
// go-seccomp-bpf's syscall tables ~0.16 ms (seccomp/syscalls), the
// appc schema ~0.19 ms in rkt-run-prepared (stage1abi.Stage1Manifest), the
// image decompressors ~0.3 ms (common/aci/compression), libcni and the
// CNI plugins' libraries ~0.35 ms (stage1/native/netspec). These stay
// out of the binaries that do not need them: the native stage1's
// entrypoints leave CNI to the network helper, rkt-prepare has rkt-fetch
// render a missing tree, and every pod-start binary uses the cgroupfs
// driver without the systemd one.
func TestPodStartBinariesLinkLess(t *testing.T) {
	decoders := []string{"github.com/rkt/rkt/common/aci/compression/codecs", "github.com/klauspost/compress/zstd", "github.com/ulikunitz/xz", "compress/bzip2"}
	forbidden := map[string][]string{
		"./rkt":                          {"net/http"},
		"./rkt-prepare":                  append([]string{"net/http"}, decoders...),
		"./rkt-run-prepared":             append([]string{"net/http", "github.com/appc/spec/schema"}, decoders...),
		"./stage1/native/cmd":            {"net/http", "github.com/containernetworking/cni/libcni", "github.com/opencontainers/cgroups/systemd", "github.com/elastic/go-seccomp-bpf/arch"},
		"./stage1/native/supervisor/cmd": {"net/http", "github.com/elastic/go-seccomp-bpf", "github.com/opencontainers/cgroups/systemd"},
	}
	var pkgs []string
	for p := range forbidden {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, line := range listPackages(t, `{{.ImportPath}} {{join .Deps " "}}`, pkgs...) {
		f := strings.Fields(line)
		name := "./" + strings.TrimPrefix(f[0], "github.com/rkt/rkt/")
		for _, dep := range f[1:] {
			for _, bad := range forbidden[name] {
				if dep == bad {
					t.Errorf("%s links %s", f[0], dep)
				}
			}
		}
	}
}

// The binaries that read image blobs (import, render, extract) link the
// decoders: without them a compressed image is refused at run time
// ("this program has no gzip decoder").
func TestDecodingBinariesLinkCodecs(t *testing.T) {
	const codecs = "github.com/rkt/rkt/common/aci/compression/codecs"
	for _, line := range listPackages(t, `{{.ImportPath}} {{join .Deps " "}}`, "./rkt-fetch", "./rkt-image") {
		f := strings.Fields(line)
		if !slices.Contains(f[1:], codecs) {
			t.Errorf("%s does not link %s", f[0], codecs)
		}
	}
}
