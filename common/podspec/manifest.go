package podspec

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/ociimage"
	"github.com/rkt/rkt/common/stage1abi"
)

// Pod holds the pod-wide options of prepare/run.
type Pod struct {
	Volumes    []string // --volume
	Ports      []string // --port
	Mounts     []string // --mount before the first image: every app
	InheritEnv bool
	SetEnv     []string
	SetEnvFile string
	// ParentEnv is the caller's environment, for --inherit-env.
	ParentEnv []string
}

// Image is an app's image as resolved in the store.
type Image struct {
	ID       types.Hash
	Manifest *schema.ImageManifest
}

// defaultEnv is added to every app unless already set (CLI-RUN-23).
var defaultEnv = [][2]string{
	{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	{"SHELL", "/bin/sh"},
	{"USER", "root"},
	{"LOGNAME", "root"},
	{"HOME", "/root"},
}

// Build makes the pod manifest. images[i] is the image of apps[i].
func Build(p *Pod, apps []*App, images []Image) (*schema.PodManifest, error) {
	pm := schema.BlankPodManifest()
	pm.ACVersion = schema.AppContainerVersion
	pm.Annotations.Set(stage1abi.AnnotationMutable, "false")
	vols, err := parseVolumes(p.Volumes)
	if err != nil {
		return nil, err
	}
	pm.Volumes = vols
	for _, s := range p.Ports {
		port, err := parsePort(s)
		if err != nil {
			return nil, err
		}
		pm.Ports = append(pm.Ports, *port)
	}
	fileEnv, err := readEnvFile(p.SetEnvFile)
	if err != nil {
		return nil, err
	}
	setEnv, err := parseKVs("--set-env", p.SetEnv)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i, a := range apps {
		ra, err := buildApp(p, a, images[i], fileEnv, setEnv)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", a.Image, err)
		}
		if names[string(ra.Name)] {
			return nil, fmt.Errorf("%w: app name %q used twice (use --name)", ErrArgs, ra.Name)
		}
		names[string(ra.Name)] = true
		pm.Apps = append(pm.Apps, *ra)
	}
	return pm, nil
}

// AppName is the default app name: the last element of the image name,
// made a valid AC name (CLI-APP-01).
func AppName(imageName string) (types.ACName, error) {
	base := path.Base(imageName)
	n, err := types.SanitizeACName(base)
	if err != nil {
		return "", fmt.Errorf("cannot make an app name from %q: %w", imageName, err)
	}
	return types.ACName(n), nil
}

func buildApp(p *Pod, a *App, img Image, fileEnv, setEnv [][2]string) (*schema.RuntimeApp, error) {
	name := a.Name
	if name == "" {
		n, err := AppName(img.Manifest.Name.String())
		if err != nil {
			return nil, err
		}
		name = string(n)
	}
	acName, err := types.NewACName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid app name %q: %v", ErrArgs, name, err)
	}
	var app types.App
	if img.Manifest.App != nil {
		app = *img.Manifest.App
		app.Exec = append(types.Exec{}, app.Exec...)
		app.Isolators = append(types.Isolators{}, app.Isolators...)
		app.Environment = append(types.Environment{}, app.Environment...)
		// The image manifest may serve several apps (prepare resolves
		// an image once): what userKVs adds to goes into copies.
		app.UserAnnotations = maps.Clone(app.UserAnnotations)
		app.UserLabels = maps.Clone(app.UserLabels)
	} else {
		if a.Exec == "" {
			return nil, fmt.Errorf("%w: the image has no app section: give --exec", ErrArgs)
		}
		app.User, app.Group = strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	}
	if exec, docker := ociimage.Exec(img.Manifest, a.Exec, a.Args, a.HasArgs); docker {
		// Docker's rule: --exec replaces ENTRYPOINT (and drops CMD),
		// arguments after -- replace CMD.
		app.Exec = exec
	} else {
		if a.Exec != "" {
			app.Exec = types.Exec{a.Exec}
		}
		app.Exec = append(app.Exec, a.Args...)
	}
	if a.User != "" {
		app.User = a.User
	}
	if a.Group != "" {
		app.Group = a.Group
	}
	if len(a.SupplementaryGIDs) > 0 {
		app.SupplementaryGIDs = a.SupplementaryGIDs
	}
	if a.WorkingDir != "" {
		app.WorkingDirectory = a.WorkingDir
	}
	env, err := mergeEnv(p, app.Environment, fileEnv, setEnv, a.Environment, name)
	if err != nil {
		return nil, err
	}
	app.Environment = env
	if app.Isolators, err = isolators(app.Isolators, a); err != nil {
		return nil, err
	}
	if err := userKVs(&app, a); err != nil {
		return nil, err
	}
	ra := &schema.RuntimeApp{
		Name:           *acName,
		Image:          schema.RuntimeImage{Name: &img.Manifest.Name, ID: img.ID, Labels: img.Manifest.Labels},
		App:            &app,
		ReadOnlyRootFS: a.ReadOnlyRootfs,
	}
	if ra.Mounts, err = mounts(p.Mounts, a.Mounts); err != nil {
		return nil, err
	}
	if _, docker := img.Manifest.Annotations.Get(ociimage.AnnotationFormat); docker {
		ra.Annotations.Set(stage1abi.AnnotationVolumeCopyUp, "true")
	}
	for _, kv := range a.Annotations {
		k, v, err := splitKV("--annotation", kv)
		if err != nil {
			return nil, err
		}
		n, err := types.NewACIdentifier(k)
		if err != nil {
			return nil, fmt.Errorf("%w: --annotation %q: %v", ErrArgs, kv, err)
		}
		ra.Annotations.Set(*n, v)
	}
	return ra, nil
}

// mergeEnv applies the environment in increasing precedence: parent
// (--inherit-env, never overriding) < image < --set-env-file < --set-env
// < --environment (reference DISC-09, decided in §14), then the defaults.
func mergeEnv(p *Pod, image types.Environment, fileEnv, setEnv [][2]string, appEnv []string, appName string) (types.Environment, error) {
	var env types.Environment
	for _, v := range image {
		env.Set(v.Name, v.Value)
	}
	for _, layer := range [][][2]string{fileEnv, setEnv} {
		for _, kv := range layer {
			env.Set(kv[0], kv[1])
		}
	}
	per, err := parseKVs("--environment", appEnv)
	if err != nil {
		return nil, err
	}
	for _, kv := range per {
		env.Set(kv[0], kv[1])
	}
	if p.InheritEnv {
		for _, kv := range p.ParentEnv {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				continue
			}
			if _, set := env.Get(k); !set {
				env.Set(k, v)
			}
		}
	}
	for _, d := range defaultEnv {
		if _, set := env.Get(d[0]); !set {
			env.Set(d[0], d[1])
		}
	}
	env.Set("AC_APP_NAME", appName)
	return env, nil
}

func splitKV(flag, kv string) (string, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%w: %s %q: want NAME=VALUE", ErrArgs, flag, kv)
	}
	return k, v, nil
}

func parseKVs(flag string, kvs []string) ([][2]string, error) {
	var out [][2]string
	for _, kv := range kvs {
		k, v, err := splitKV(flag, kv)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// readEnvFile reads --set-env-file: NAME=VALUE lines, `#` and `;`
// comments and blank lines skipped, a name twice is an error.
func readEnvFile(path string) ([][2]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--set-env-file: %w", err)
	}
	defer f.Close()
	var out [][2]string
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: --set-env-file %s line %d: want NAME=VALUE", ErrArgs, path, n)
		}
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("%w: --set-env-file %s line %d: %s already set on line %d", ErrArgs, path, n, k, first)
		}
		seen[k] = n
		out = append(out, [2]string{k, v})
	}
	return out, sc.Err()
}

func parseVolumes(specs []string) ([]types.Volume, error) {
	var out []types.Volume
	seen := map[types.ACName]bool{}
	for _, s := range specs {
		v, err := types.VolumeFromString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: --volume %q: %v", ErrArgs, s, err)
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("%w: --volume %q: volume %s defined twice", ErrArgs, s, v.Name)
		}
		seen[v.Name] = true
		if v.Kind == "host" {
			if !filepath.IsAbs(v.Source) {
				return nil, fmt.Errorf("%w: --volume %q: source must be an absolute path", ErrArgs, s)
			}
			if _, err := os.Stat(v.Source); err != nil {
				return nil, fmt.Errorf("--volume %q: %w", s, err)
			}
		}
		out = append(out, *v)
	}
	return out, nil
}

// mounts parses `volume=NAME,target=PATH`; per-app mounts win over the
// pod-wide ones on the same (cleaned) path.
func mounts(global, perApp []string) ([]schema.Mount, error) {
	var out []schema.Mount
	idx := map[string]int{}
	for _, group := range [][]string{global, perApp} {
		for _, s := range group {
			m, err := parseMount(s)
			if err != nil {
				return nil, err
			}
			key := path.Clean("/" + m.Path)
			if i, ok := idx[key]; ok {
				out[i] = *m
				continue
			}
			idx[key] = len(out)
			out = append(out, *m)
		}
	}
	return out, nil
}

func parseMount(s string) (*schema.Mount, error) {
	var m schema.Mount
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --mount %q: want volume=NAME,target=PATH", ErrArgs, s)
		}
		switch k {
		case "volume":
			n, err := types.NewACName(v)
			if err != nil {
				return nil, fmt.Errorf("%w: --mount %q: %v", ErrArgs, s, err)
			}
			m.Volume = *n
		case "target":
			m.Path = v
		default:
			return nil, fmt.Errorf("%w: --mount %q: unknown key %q", ErrArgs, s, k)
		}
	}
	if m.Volume == "" || m.Path == "" {
		return nil, fmt.Errorf("%w: --mount %q: want volume=NAME,target=PATH", ErrArgs, s)
	}
	return &m, nil
}

// parsePort reads --port=NAME:[HOSTIP:]HOSTPORT.
func parsePort(s string) (*types.ExposedPort, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("%w: --port %q: want NAME:[HOSTIP:]HOSTPORT", ErrArgs, s)
	}
	n, err := types.NewACName(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: --port %q: %v", ErrArgs, s, err)
	}
	hp, err := strconv.ParseUint(parts[len(parts)-1], 10, 16)
	if err != nil || hp == 0 {
		return nil, fmt.Errorf("%w: --port %q: bad host port", ErrArgs, s)
	}
	p := &types.ExposedPort{Name: *n, HostPort: uint(hp)}
	if len(parts) == 3 {
		if p.HostIP = net.ParseIP(parts[1]); p.HostIP == nil {
			return nil, fmt.Errorf("%w: --port %q: bad host IP", ErrArgs, s)
		}
	}
	return p, nil
}
