package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/dispatch"
	"github.com/rkt/rkt/tests/harness"
)

// Tests of what dist/ ships: man pages, completion, systemd units,
// tmpfiles.d and sysusers.d.

var (
	// helpFlag finds an option in `rkt help` output: "  -h, --help ...".
	helpFlag = regexp.MustCompile(`^\s+(?:-[a-zA-Z], )?--([a-z0-9-]+)`)
	// manFlag finds an option's tag line in a man page source.
	manFlag = regexp.MustCompile(`^\\fB(?:\\-[a-zA-Z], )?\\-\\-((?:[a-z0-9]|\\-)+)`)
)

// helpOptions returns the long options `rkt help` lists, by section.
func helpOptions(out string) (own, global []string) {
	section := ""
	for _, l := range strings.Split(out, "\n") {
		switch strings.TrimSpace(l) {
		case "OPTIONS:", "GLOBAL OPTIONS:":
			section = strings.TrimSpace(l)
			continue
		}
		if m := helpFlag.FindStringSubmatch(l); m != nil {
			if section == "OPTIONS:" {
				own = append(own, m[1])
			} else if section == "GLOBAL OPTIONS:" {
				global = append(global, m[1])
			}
		}
	}
	sort.Strings(own)
	sort.Strings(global)
	return own, global
}

// manOptions returns the long options a man page lists, by section.
func manOptions(t *testing.T, path string) (own, global []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	section := ""
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, ".SH ") {
			section = strings.TrimPrefix(l, ".SH ")
			continue
		}
		if m := manFlag.FindStringSubmatch(l); m != nil {
			name := strings.ReplaceAll(m[1], `\-`, "-")
			if section == "OPTIONS" {
				own = append(own, name)
			} else if section == "GLOBAL OPTIONS" {
				global = append(global, name)
			}
		}
	}
	sort.Strings(own)
	sort.Strings(global)
	return own, global
}

// `rkt help SUB` (and `rkt image SUB --help`) and the man page list the
// same options, for every command.
func TestHelpMatchesManPages(t *testing.T) {
	man := filepath.Join(harness.Top(), "dist", "man")
	type page struct {
		name string
		args []string
	}
	var pages []page
	for _, s := range dispatch.Table {
		pages = append(pages, page{"rkt-" + s.Name, []string{"help", s.Name}})
	}
	// The image sub-commands, from the group's own help.
	out := harness.Run(t, harness.Bin("rkt"), "help", "image").OK(t).Stdout
	_, cmds, ok := strings.Cut(out, "COMMANDS:")
	if !ok {
		t.Fatalf("rkt help image lists no commands:\n%s", out)
	}
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	for _, l := range strings.Split(strings.TrimSpace(cmds), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			pages = append(pages, page{"rkt-image-" + f[0], []string{"image", f[0], "--help"}})
		}
	}
	if len(pages) < len(dispatch.Table)+5 {
		t.Fatalf("found only %d pages to compare", len(pages))
	}
	for _, p := range pages {
		r := harness.Run(t, harness.Bin("rkt"), p.args...).OK(t)
		hOwn, hGlobal := helpOptions(r.Stdout)
		mOwn, mGlobal := manOptions(t, filepath.Join(man, p.name+".1"))
		if len(hOwn) == 0 || len(hGlobal) == 0 {
			t.Errorf("rkt %s: no options found in the help output:\n%s", strings.Join(p.args, " "), r.Stdout)
		}
		if strings.Join(hOwn, " ") != strings.Join(mOwn, " ") {
			t.Errorf("%s(1) options differ from rkt %s (run scripts/gen-docs):\n  help: %v\n  man:  %v", p.name, strings.Join(p.args, " "), hOwn, mOwn)
		}
		if strings.Join(hGlobal, " ") != strings.Join(mGlobal, " ") {
			t.Errorf("%s(1) global options differ from rkt %s:\n  help: %v\n  man:  %v", p.name, strings.Join(p.args, " "), hGlobal, mGlobal)
		}
	}

	// And man(1) reads the page: `man rkt-run` shows the options.
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed (scripts/deps installs man-db)")
	}
	dir := t.TempDir()
	if err := os.Symlink(man, filepath.Join(dir, "man1")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "-M", dir, "rkt-run")
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=200")
	rendered, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("man rkt-run: %v\n%s", err, rendered)
	}
	own, _ := helpOptions(harness.Run(t, harness.Bin("rkt"), "help", "run").OK(t).Stdout)
	for _, o := range own {
		if !strings.Contains(string(rendered), "--"+o) {
			t.Errorf("man rkt-run does not show --%s", o)
		}
	}
}

// bashComplete runs the bash completion for words (the last one is being
// completed) in a bash subprocess, the way bash calls it: the function
// `complete -p rkt` names, with COMP_WORDS and COMP_CWORD set.
func bashComplete(t *testing.T, words ...string) []string {
	t.Helper()
	script := filepath.Join(harness.Top(), "dist", "completion", "rkt.bash")
	prog := `source "$1"; shift
spec=$(complete -p rkt) || exit 3
fn=${spec#*-F }; fn=${fn%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" rkt "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
	r := harness.Run(t, "bash", append([]string{"-c", prog, "bash", script}, words...)...).OK(t)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// Bash, zsh and fish complete commands, options, pod UUIDs, images and networks.
func TestCompletion(t *testing.T) {
	e, id := runEnv(t)
	uuid := strings.TrimSpace(e.Rkt("prepare", "--quiet", "example.com/busybox", "--exec=/bin/true").OK(t).Stdout)
	if len(uuid) != 36 {
		t.Fatalf("prepare printed %q", uuid)
	}
	if err := os.MkdirAll(filepath.Join(e.LocalConfig, "net.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := `{"cniVersion": "0.4.0", "name": "backend", "type": "bridge", "ipam": {"type": "host-local", "subnet": "10.99.0.0/24"}}`
	if err := os.WriteFile(filepath.Join(e.LocalConfig, "net.d", "10-backend.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	rkt := harness.Bin("rkt")
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{rkt, "st"}, "status stop"},
		{[]string{rkt, "--debug", "st"}, "status stop"},
		{[]string{rkt, "image", "l"}, "list"},
		{[]string{rkt, "gc", "--grace"}, "--grace-period="},
		{[]string{rkt, "help", "run"}, "run run-prepared"},
		{[]string{rkt, "--insecure-options", "=", "image,se"}, "image,seccomp"},
		// A pod UUID prefix completes to the whole UUID, from the data
		// directory named on the command line, in either form.
		{[]string{rkt, "--dir", "=", e.DataDir, "status", uuid[:6]}, uuid},
		{[]string{rkt, "status", "--dir", e.DataDir, uuid[:6]}, uuid},
		{[]string{rkt, "rm", "--dir", e.DataDir, "ffffffff"}, ""},
		// Image IDs and names from the store.
		{[]string{rkt, "image", "rm", "--dir", e.DataDir, id[:14]}, id},
		{[]string{rkt, "run", "--dir", e.DataDir, "example.com/busy"}, "example.com/busybox"},
		// Networks: the built-in ones and those of net.d.
		{[]string{rkt, "run", "--local-config", e.LocalConfig, "--net", "=", "ba"}, "backend"},
		{[]string{rkt, "run", "--net", "=", "default-r"}, "default-restricted"},
	} {
		got := strings.Join(bashComplete(t, tc.words...), " ")
		if tc.want == "example.com/busybox" {
			// The name may carry its version label.
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("%q completes to %q, want %s...", tc.words[1:], got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%q completes to %q, want %q", tc.words[1:], got, tc.want)
		}
	}

	// The same in zsh, typed into an interactive shell: what appears on
	// the screen after TAB (a unique match only adds the missing part).
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Fatalf("zsh is not installed (scripts/deps installs it): %v", err)
	}
	cases := []string{
		"rkt st", "status",
		"rkt st", "stop",
		"rkt image ", "verify",
		"rkt gc --gr", "grace-period",
		"rkt --dir=" + e.DataDir + " status " + uuid[:6], uuid[6:],
		"rkt image rm --dir=" + e.DataDir + " " + id[:14], id[14:],
		"rkt run --local-config=" + e.LocalConfig + " --net=ba", "ckend",
		"rkt run --local-config " + e.LocalConfig + " --debug --net=ba", "ckend",
		"rkt --debug st", "status",
	}
	args := append([]string{"-f", "-c", zshScript, "zsh", filepath.Join(harness.Top(), "dist", "completion"), harness.BinDir()}, cases...)
	r := harness.Run(t, "zsh", args...).OK(t)
	for i := 0; i < len(cases)/2; i++ {
		if !strings.Contains(r.Stdout, fmt.Sprintf("ok %d\n", i+1)) {
			t.Errorf("zsh: %q does not complete to %q: %s", cases[2*i], cases[2*i+1], r.Stdout)
		}
	}

	// And fish, whose `complete -C` lists the candidates for a line.
	if _, err := exec.LookPath("fish"); err != nil {
		t.Fatalf("fish is not installed (scripts/deps installs it): %v", err)
	}
	fishScript := filepath.Join(harness.Top(), "dist", "completion", "rkt.fish")
	for _, tc := range []struct{ line, want string }{
		{"rkt st", "status stop"},
		{"rkt image l", "list"},
		{"rkt --dir " + e.DataDir + " status " + uuid[:6], uuid},
		{"rkt image rm --dir=" + e.DataDir + " " + id[:14], id},
		{"rkt run --local-config " + e.LocalConfig + " --net=default,ba", "--net=default,backend"},
		{"rkt --insecure-options=image,se", "--insecure-options=image,seccomp"},
	} {
		r := harness.Run(t, "fish", "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, fishScript, tc.line).OK(t)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if c, _, _ := strings.Cut(l, "\t"); c != "" {
				got = append(got, c)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("fish: %q completes to %q, want %q", tc.line, got, tc.want)
		}
	}
}

// zshScript drives an interactive zsh through zpty: for each line it
// types the line and a TAB, waits until the screen shows the expected text
// (or 10s pass), and prints "ok N" or "FAIL N: screen".
const zshScript = `zmodload zsh/zpty || exit 3
dir=$1 bin=$2; shift 2
zpty z 'zsh -f -i'
zpty -w z "PROMPT='> '; fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D; path=($bin \$path); zstyle ':completion:*' list-separator '|'"
drain() { local l; while zpty -r -t z l 2>/dev/null; do out+=$l; done }
out=""; sleep 0.5; drain
n=0
while (( $# >= 2 )); do
	line=$1 want=$2; shift 2
	(( n++ ))
	out=""
	zpty -w -n z "$line"$'\t'
	for i in {1..100}; do
		sleep 0.1; drain
		[[ $out == *$want* ]] && break
	done
	if [[ $out == *$want* ]]; then print "ok $n"; else print -r -- "FAIL $n: ${(q)out}"; fi
	zpty -w -n z $'\C-u'; sleep 0.2; out=""; drain
done
zpty -d z`

// The zsh completion is a valid completion function that compinit
// registers for rkt.
func TestZshCompletionLoads(t *testing.T) {
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("zsh is not installed (scripts/deps installs it)")
	}
	dir := filepath.Join(harness.Top(), "dist", "completion")
	harness.Run(t, "zsh", "-n", filepath.Join(dir, "_rkt")).OK(t)
	r := harness.Run(t, "zsh", "-f", "-c", `fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -D; print -r -- $_comps[rkt]`, "zsh", dir).OK(t)
	if strings.TrimSpace(r.Stdout) != "_rkt" {
		t.Errorf("compinit does not register _rkt for rkt: %s", r)
	}
}

// Every unit in dist/systemd passes `systemd-analyze verify` (with the
// host's systemd; ExecStart pointed at the built rkt, as scripts/install
// does for another prefix). The package test verifies the installed units
// again inside a Debian chroot.
func TestSystemdUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	units, _ := filepath.Glob(filepath.Join(harness.Top(), "dist", "systemd", "*.*"))
	examples, _ := filepath.Glob(filepath.Join(harness.Top(), "dist", "systemd", "examples", "*.service"))
	units = append(units, examples...)
	if len(units) < 6 {
		t.Fatalf("expected at least 6 units, found %v", units)
	}
	dir := t.TempDir()
	var paths []string
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/usr/bin/rkt ", harness.Bin("rkt")+" ")
		p := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	r := harness.Run(t, "systemd-analyze", append([]string{"verify", "--man=no"}, paths...)...)
	if r.Code != 0 || strings.TrimSpace(r.Stderr) != "" {
		t.Errorf("systemd-analyze verify: %s", r)
	}
}

// dist/tmpfiles.d and dist/sysusers.d create what scripts/setup-data-dir
// creates: the same directories with the same modes and group names, and
// the groups.
func TestTmpfilesMatchSetupDataDir(t *testing.T) {
	harness.RequireRoot(t)
	for _, tool := range []string{"systemd-tmpfiles", "systemd-sysusers"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	// The systemd way, in a root of its own with an empty group database.
	sd := t.TempDir()
	for _, d := range []string{"etc", "usr/lib/tmpfiles.d", "usr/lib/sysusers.d"} {
		if err := os.MkdirAll(filepath.Join(sd, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	distWriteFile(t, filepath.Join(sd, "etc/group"), "root:x:0:\n")
	distWriteFile(t, filepath.Join(sd, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
	copyFile(t, filepath.Join(harness.Top(), "dist/tmpfiles.d/rkt.conf"), filepath.Join(sd, "usr/lib/tmpfiles.d/rkt.conf"))
	copyFile(t, filepath.Join(harness.Top(), "dist/sysusers.d/rkt.conf"), filepath.Join(sd, "usr/lib/sysusers.d/rkt.conf"))
	harness.Run(t, "systemd-sysusers", "--root="+sd).OK(t)
	harness.Run(t, "systemd-tmpfiles", "--create", "--root="+sd).OK(t)
	sdGroups := distGroups(t, filepath.Join(sd, "etc/group"))

	// The script's way, on the host.
	sc := t.TempDir()
	harness.Run(t, filepath.Join(harness.Top(), "scripts", "setup-data-dir"), filepath.Join(sc, "var/lib/rkt"), filepath.Join(sc, "etc/rkt")).OK(t)
	scGroups := distGroups(t, "/etc/group")

	for _, g := range []string{"rkt", "rkt-admin"} {
		found := false
		for _, name := range sdGroups {
			found = found || name == g
		}
		if !found {
			t.Errorf("sysusers.d does not create group %s", g)
		}
	}
	want := distTree(t, sc, scGroups)
	got := distTree(t, sd, sdGroups)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tmpfiles.d differs from setup-data-dir:\n tmpfiles.d:\n  %s\n setup-data-dir:\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// And both are the data directory layout rkt expects.
	if len(want) != len(dirs.Layout)+1 {
		t.Errorf("setup-data-dir made %d directories, common/dirs.Layout has %d (+ /etc/rkt)", len(want), len(dirs.Layout))
	}
}

// distTree lists the directories under root/var/lib/rkt and root/etc/rkt as
// "path mode group".
func distTree(t *testing.T, root string, groups map[uint32]string) []string {
	t.Helper()
	var out []string
	for _, top := range []string{"var/lib/rkt", "etc/rkt"} {
		err := filepath.Walk(filepath.Join(root, top), func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			gid := fi.Sys().(*syscall.Stat_t).Gid
			out = append(out, rel+" "+(fi.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeDir)).String()+" "+groups[gid])
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

func distGroups(t *testing.T, path string) map[uint32]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[uint32]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) < 3 {
			continue
		}
		var id uint32
		for _, c := range parts[2] {
			id = id*10 + uint32(c-'0')
		}
		out[id] = parts[0]
	}
	return out
}

func distWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scripts/build bakes the install paths packagers choose into the
// binaries: rkt version shows them and --system-config defaults to it.
func TestBuildInstallPaths(t *testing.T) {
	out := t.TempDir()
	harness.Run(t, filepath.Join(harness.Top(), "scripts", "build"), "--prefix", "/opt/rkt",
		"--libexecdir", "/opt/rkt/libexec/rkt", "--stage1-images-dir", "/opt/rkt/share/stage1",
		"--system-config-dir", "/opt/rkt/share/config", "--out", out).OK(t)
	v := harness.Run(t, filepath.Join(out, "bin", "rkt"), "version").OK(t).Stdout
	for _, want := range []string{"Exec directory: /opt/rkt/libexec/rkt\n", "Stage1 images directory: /opt/rkt/share/stage1\n",
		"System configuration directory: /opt/rkt/share/config\n", "Commit: "} {
		if !strings.Contains(v, want) {
			t.Errorf("rkt version lacks %q:\n%s", want, v)
		}
	}
	h := harness.Run(t, filepath.Join(out, "bin", "rkt-list"), "--help").OK(t).Stdout
	if !strings.Contains(h, `system configuration directory (default "/opt/rkt/share/config")`) {
		t.Errorf("--system-config default not baked in:\n%s", h)
	}
	harness.Run(t, filepath.Join(harness.Top(), "scripts", "build"), "--prefix", "relative/path", "--out", out).Fails(t, 1, "must be absolute")
}

// scripts/install with another prefix installs the generated files and
// points the units at that prefix's rkt.
func TestInstallDistFiles(t *testing.T) {
	dest := t.TempDir()
	cmd := exec.Command(filepath.Join(harness.Top(), "scripts", "install"))
	cmd.Env = append(os.Environ(), "DESTDIR="+dest, "PREFIX=/opt/rkt")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/install: %v\n%s", err, out)
	}
	for _, p := range []string{
		"opt/rkt/share/man/man1/rkt.1.gz", "opt/rkt/share/man/man1/rkt-image-list.1.gz",
		"opt/rkt/share/bash-completion/completions/rkt", "opt/rkt/share/zsh/vendor-completions/_rkt",
		"opt/rkt/share/fish/vendor_completions.d/rkt.fish", "opt/rkt/lib/tmpfiles.d/rkt.conf",
		"opt/rkt/lib/sysusers.d/rkt.conf", "opt/rkt/lib/rkt/setup-data-dir",
		"opt/rkt/share/doc/rkt/examples/rkt-busybox.service", "opt/rkt/share/doc/rkt/packaging.md",
	} {
		if _, err := os.Stat(filepath.Join(dest, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	units, _ := filepath.Glob(filepath.Join(dest, "opt/rkt/lib/systemd/system/rkt-*"))
	if len(units) != 5 {
		t.Fatalf("installed units: %v", units)
	}
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "/usr/bin/rkt") {
			t.Errorf("%s still runs /usr/bin/rkt:\n%s", u, data)
		}
		if strings.Contains(u, ".service") && !strings.Contains(string(data), "ExecStart=/opt/rkt/bin/rkt ") {
			t.Errorf("%s does not run /opt/rkt/bin/rkt:\n%s", u, data)
		}
	}
	// The man pages are gzipped without a name or time stamp.
	data, err := os.ReadFile(filepath.Join(dest, "opt/rkt/share/man/man1/rkt.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 10 || data[3]&0x08 != 0 || data[4]|data[5]|data[6]|data[7] != 0 {
		t.Errorf("rkt.1.gz carries a file name or an mtime: header % x", data[:10])
	}
}
