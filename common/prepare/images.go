package prepare

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/dispatch"
	"github.com/rkt/rkt/common/imagename"
	"github.com/rkt/rkt/common/store"
)

// resolver finds images in the store, and runs rkt-fetch for those it
// must get from elsewhere: prepare links no network code.
type resolver struct {
	st      *store.Store
	globals *cli.Globals
	policy  string
	stderr  io.Writer
}

// resolve returns the store key of an image argument (reference
// CLI-RUN-21). IDs are looked up in the store; names, with pull policy
// never or new, too; everything else is rkt-fetch's job.
func (r *resolver) resolve(arg, signature string, insecureImage bool) (string, error) {
	if store.IsID(arg) {
		return r.st.ResolveID(arg)
	}
	if r.policy != "update" && isName(arg) {
		if name, labels, err := imagename.Parse(arg); err == nil {
			found, err := r.st.FindByName(name, withoutLatest(labels))
			if err != nil {
				return "", err
			}
			if len(found) > 0 {
				return found[0].Key, nil
			}
			if r.policy == "never" {
				return "", fmt.Errorf("image %s not found in the store (pull policy never)", arg)
			}
		}
	}
	return r.fetch(arg, signature, insecureImage)
}

func withoutLatest(labels map[string]string) map[string]string {
	if labels["version"] == "latest" {
		delete(labels, "version")
	}
	return labels
}

// isName tells an appc name from a path or URL, as rkt-fetch does.
func isName(arg string) bool {
	if strings.Contains(arg, "://") || strings.HasPrefix(arg, "docker:") || filepath.IsAbs(arg) || strings.Contains(arg, "./") {
		return false
	}
	if _, docker, _ := imagename.ParseSource(arg); docker {
		// oci-layout:, oci-archive:, docker-archive: are read by rkt-fetch.
		return false
	}
	fi, err := os.Stat(arg)
	return err != nil || !fi.Mode().IsRegular()
}

// fetch runs rkt-fetch as a child with the same global options and
// returns the key it prints.
func (r *resolver) fetch(arg, signature string, insecureImage bool) (string, error) {
	bin, err := dispatch.Binary(dispatch.ExecDir(r.globals.ExecPath), "rkt-fetch")
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", arg, err)
	}
	args := r.globalArgs(insecureImage)
	args = append(args, "--full", "--pull-policy="+r.policy)
	if signature != "" {
		args = append(args, "--signature="+signature)
	}
	args = append(args, arg)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, r.stderr
	if insecureImage && !r.globals.Insecure.Has(cli.InsecureImage) {
		// A stage1 from the stage1 images directory is trusted because the
		// installer put it there, not because the user switched checks off:
		// rkt-fetch's warning about that would only confuse.
		cmd.Stderr = &dropLines{w: r.stderr, drop: "signature verification has been disabled"}
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("fetching image %s failed", arg)
		}
		return "", fmt.Errorf("fetching image %s: %w", arg, err)
	}
	id := strings.TrimSpace(out.String())
	key, err := r.st.ResolveID(id)
	if err != nil {
		return "", fmt.Errorf("rkt-fetch printed %q for %s: %w", id, arg, err)
	}
	return key, nil
}

// render has rkt-fetch render the tree of the stored image key (or
// check it and replace it when damaged): rkt-fetch links the
// decompressors that rkt-prepare leaves out, and its render is rkt's only
// one. A prepare renders only when a tree is missing: the first pod of
// an image fetched by an unprivileged user, or of one whose tree `image
// gc` removed.
func (r *resolver) render(key string) error {
	never := *r
	never.policy = "never"
	got, err := never.fetch(key, "", false)
	if err != nil {
		return err
	}
	if got != key {
		return fmt.Errorf("rendering image %s: rkt-fetch resolved it to %s", key, got)
	}
	return nil
}

func (r *resolver) globalArgs(insecureImage bool) []string {
	g := r.globals
	args := []string{"--dir=" + r.st.Root().Path(), "--system-config=" + g.SystemConfig, "--local-config=" + g.LocalConfig}
	if g.UserConfig != "" {
		args = append(args, "--user-config="+g.UserConfig)
	}
	if g.ExecPath != "" {
		args = append(args, "--exec-path="+g.ExecPath)
	}
	if g.Debug {
		args = append(args, "--debug")
	}
	if g.TrustKeysFromHTTPS {
		args = append(args, "--trust-keys-from-https")
	}
	ins := g.Insecure
	if insecureImage {
		ins |= cli.InsecureImage
	}
	return append(args, "--insecure-options="+ins.String())
}

// dropLines passes output on, except lines containing drop.
type dropLines struct {
	w    io.Writer
	drop string
	buf  []byte
}

func (d *dropLines) Write(p []byte) (int, error) {
	d.buf = append(d.buf, p...)
	for {
		i := bytes.IndexByte(d.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := d.buf[:i+1]
		if !bytes.Contains(line, []byte(d.drop)) {
			if _, err := d.w.Write(line); err != nil {
				return 0, err
			}
		}
		d.buf = d.buf[i+1:]
	}
}
