// Package ociimage describes Docker and OCI images in the terms the rest
// of rkt works in: an appc image manifest made from the image config by
// docker2aci's conventions (reference IMG-D2A-01/02), with the original
// ENTRYPOINT and CMD kept apart in annotations so that run can apply
// Docker's exec semantics. It holds no network or store code: fetch
// produces what it converts, the store keeps the result.
package ociimage

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Annotations on a converted image manifest (docker2aci's names).
const (
	AnnotationOriginalName = "appc.io/docker/originalname"
	AnnotationRegistryURL  = "appc.io/docker/registryurl"
	AnnotationRepository   = "appc.io/docker/repository"
	AnnotationTag          = "appc.io/docker/tag"
	AnnotationImageID      = "appc.io/docker/imageid"
	AnnotationEntrypoint   = "appc.io/docker/entrypoint"
	AnnotationCmd          = "appc.io/docker/cmd"
	AnnotationManifestHash = "appc.io/docker/manifesthash"
	AnnotationAuthors      = "authors"
	AnnotationCreated      = "created"
	AnnotationComment      = "docker-comment"
	// AnnotationFormat marks a manifest made by Convert: the image is
	// stored as layers, not as an ACI, and runs with Docker's exec rule.
	AnnotationFormat = "appc.io/docker/format"
)

// Origin says where an image came from: what the name, labels and
// annotations of its manifest are made of.
type Origin struct {
	// Original is the reference as the user gave it.
	Original string
	// Registry is the registry host[:port] ("" for a local source such
	// as an OCI layout or an archive).
	Registry string
	// Repository is the repository path, e.g. library/busybox.
	Repository string
	// Tag is the tag asked for ("" when pulled by digest).
	Tag string
	// ManifestDigest is the digest of the image manifest (for a manifest
	// list, of the platform's manifest).
	ManifestDigest string
	// ConfigDigest is the digest of the config blob (Docker's image ID).
	ConfigDigest string
}

// Name returns the appc image name: registry/repository, sanitized into
// an appc identifier (a port's colon becomes "_").
func (o Origin) Name() (types.ACIdentifier, error) {
	n := o.Repository
	if o.Registry != "" {
		n = o.Registry + "/" + o.Repository
	}
	s, err := types.SanitizeACIdentifier(n)
	if err != nil {
		return "", fmt.Errorf("image name from %q: %w", n, err)
	}
	return types.ACIdentifier(s), nil
}

// ErrConfig marks an image config that cannot be run.
var ErrConfig = errors.New("invalid image config")

// Convert makes the appc image manifest of an image from its config.
func Convert(o Origin, cfg *v1.ConfigFile) (*schema.ImageManifest, error) {
	name, err := o.Name()
	if err != nil {
		return nil, err
	}
	m := schema.BlankImageManifest()
	m.Name = name
	version := o.Tag
	if version == "" {
		version = o.ManifestDigest
	}
	labels := map[types.ACIdentifier]string{"version": version}
	osName, arch := cfg.OS, cfg.Architecture
	if osName == "" {
		osName = "linux"
	}
	if aos, aarch, err := types.ToAppcOSArch(osName, arch, cfg.Variant); err == nil {
		osName, arch = aos, aarch
	}
	labels["os"] = osName
	if arch != "" {
		labels["arch"] = arch
	}
	if m.Labels, err = types.LabelsFromMap(labels); err != nil {
		return nil, fmt.Errorf("%w: labels: %w", ErrConfig, err)
	}
	app, err := convertApp(&cfg.Config)
	if err != nil {
		return nil, err
	}
	m.App = app

	ann := map[string]string{
		AnnotationOriginalName: o.Original,
		AnnotationRegistryURL:  o.Registry,
		AnnotationRepository:   o.Repository,
		AnnotationTag:          o.Tag,
		AnnotationImageID:      o.ConfigDigest,
		AnnotationManifestHash: o.ManifestDigest,
		AnnotationAuthors:      cfg.Author,
	}
	if len(cfg.History) > 0 {
		// Docker's image comment is the last history entry's.
		ann[AnnotationComment] = cfg.History[len(cfg.History)-1].Comment
	}
	if !cfg.Created.IsZero() {
		ann[AnnotationCreated] = cfg.Created.UTC().Format(time.RFC3339)
	}
	// null and [] differ for Docker: a null entrypoint is none at all.
	if cfg.Config.Entrypoint != nil {
		ann[AnnotationEntrypoint] = mustJSON(cfg.Config.Entrypoint)
	}
	if cfg.Config.Cmd != nil {
		ann[AnnotationCmd] = mustJSON(cfg.Config.Cmd)
	}
	// Docker labels travel as annotations where their names are valid
	// appc identifiers (annotation names must be).
	for k, v := range cfg.Config.Labels {
		if _, taken := ann[k]; !taken {
			if _, err := types.NewACIdentifier(k); err == nil {
				ann[k] = v
			}
		}
	}
	keys := make([]string, 0, len(ann))
	for k, v := range ann {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.Annotations.Set(types.ACIdentifier(k), ann[k])
	}
	m.Annotations.Set(AnnotationFormat, "oci")
	return m, nil
}

func mustJSON(v []string) string {
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// convertApp maps the runnable part of the config (IMG-D2A-01/02).
func convertApp(c *v1.Config) (*types.App, error) {
	app := &types.App{
		Exec:             append(append(types.Exec{}, c.Entrypoint...), c.Cmd...),
		User:             "0",
		Group:            "0",
		WorkingDirectory: c.WorkingDir,
	}
	if c.User != "" {
		user, group, hasGroup := strings.Cut(c.User, ":")
		app.User, app.Group = user, user
		if hasGroup {
			app.Group = group
		}
	}
	for _, kv := range c.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// Docker passes such entries on unset; docker2aci panicked
			// on them (rkt#3701). They set nothing.
			continue
		}
		app.Environment.Set(k, v)
	}
	ports, err := convertPorts(c.ExposedPorts)
	if err != nil {
		return nil, err
	}
	app.Ports = ports
	app.MountPoints, err = convertVolumes(c.Volumes)
	if err != nil {
		return nil, err
	}
	return app, nil
}

// convertPorts turns "80/tcp" into a port named "80-tcp", sorted by name.
func convertPorts(exposed map[string]struct{}) ([]types.Port, error) {
	var out []types.Port
	for p := range exposed {
		num, proto, ok := strings.Cut(p, "/")
		if !ok {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%w: exposed port %q", ErrConfig, p)
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("%w: exposed port %q: unknown protocol", ErrConfig, p)
		}
		out = append(out, types.Port{
			Name:     types.ACName(fmt.Sprintf("%d-%s", n, proto)),
			Protocol: proto,
			Port:     uint(n),
			Count:    1,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// convertVolumes turns "/data" into a mount point named "volume-data"
// (sanitized; repeated names get -2, -3, ...).
func convertVolumes(vols map[string]struct{}) ([]types.MountPoint, error) {
	paths := make([]string, 0, len(vols))
	for p := range vols {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []types.MountPoint
	used := map[types.ACName]bool{}
	for _, p := range paths {
		clean := path.Clean("/" + p)
		if clean == "/" {
			return nil, fmt.Errorf("%w: volume at /", ErrConfig)
		}
		s, err := types.SanitizeACName("volume-" + strings.Trim(clean, "/"))
		if err != nil {
			return nil, fmt.Errorf("%w: volume %q: %w", ErrConfig, p, err)
		}
		name := types.ACName(s)
		for i := 2; used[name]; i++ {
			name = types.ACName(fmt.Sprintf("%s-%d", s, i))
		}
		used[name] = true
		out = append(out, types.MountPoint{Name: name, Path: clean})
	}
	return out, nil
}

// Exec is Docker's rule for the command of a container: an entrypoint
// given at run time replaces the image's and drops its CMD (as `docker
// run --entrypoint` does); arguments given at run time replace CMD.
// It applies only to images whose manifest carries the entrypoint/cmd
// annotations; ok is false for others.
func Exec(m *schema.ImageManifest, execOverride string, args []string, hasArgs bool) (exec types.Exec, ok bool) {
	if _, docker := m.Annotations.Get(AnnotationFormat); !docker {
		return nil, false
	}
	epJSON, hasEP := m.Annotations.Get(AnnotationEntrypoint)
	cmdJSON, hasCmd := m.Annotations.Get(AnnotationCmd)
	var ep, cmd []string
	if hasEP {
		_ = json.Unmarshal([]byte(epJSON), &ep)
	}
	if hasCmd {
		_ = json.Unmarshal([]byte(cmdJSON), &cmd)
	}
	if execOverride != "" {
		ep, cmd = []string{execOverride}, nil
	}
	if hasArgs {
		cmd = args
	}
	return append(append(types.Exec{}, ep...), cmd...), true
}
