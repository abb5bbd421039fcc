package imagename

import (
	"fmt"
	"strings"
)

// Transport is where a Docker or OCI image argument says the image is.
type Transport string

// The Docker and OCI image sources (docs/images.md). The local ones use
// skopeo's and podman's transport syntax.
const (
	// Docker is a registry: docker://[REGISTRY/]REPO[:TAG|@DIGEST]
	// (also docker:REF).
	Docker Transport = "docker"
	// OCILayout is an OCI image layout directory: oci-layout:PATH[:REF].
	OCILayout Transport = "oci-layout"
	// OCIArchive is a tar of an OCI image layout: oci-archive:PATH[:REF].
	OCIArchive Transport = "oci-archive"
	// DockerArchive is `docker save` output: docker-archive:PATH[:REF].
	DockerArchive Transport = "docker-archive"
)

// Source is a parsed Docker or OCI image argument.
type Source struct {
	Transport Transport
	// Ref is the registry reference (Docker), or the image in a layout or
	// archive: a ref name of the OCI index (org.opencontainers.image.ref.name)
	// or a repo:tag of a docker-archive. Empty picks the only image.
	Ref string
	// Path is the layout directory or archive file (local transports).
	Path string
}

// String returns the argument that parses back to s.
func (s Source) String() string {
	switch s.Transport {
	case Docker:
		return "docker://" + s.Ref
	}
	if s.Ref == "" {
		return string(s.Transport) + ":" + s.Path
	}
	return string(s.Transport) + ":" + s.Path + ":" + s.Ref
}

// ParseSource recognises a Docker or OCI image argument. ok is false for
// anything else (an ACI path or URL, an appc name, an ID), which the
// caller handles. A local transport's PATH may not contain ':' (the first
// colon ends it, as in skopeo); REF may.
func ParseSource(arg string) (src Source, ok bool, err error) {
	bad := func(format string, a ...any) (Source, bool, error) {
		return Source{}, true, fmt.Errorf("%w %q: %s", ErrInvalid, arg, fmt.Sprintf(format, a...))
	}
	if rest, found := strings.CutPrefix(arg, "docker:"); found {
		rest = strings.TrimPrefix(rest, "//")
		if rest == "" {
			return bad("no image reference after docker://")
		}
		if strings.ContainsAny(rest, " \t\n\x00") {
			return bad("white space in the reference")
		}
		if strings.HasPrefix(rest, "/") || strings.Contains(rest, "//") {
			return bad("empty registry or path component")
		}
		return Source{Transport: Docker, Ref: rest}, true, nil
	}
	for _, t := range []Transport{OCILayout, OCIArchive, DockerArchive} {
		rest, found := strings.CutPrefix(arg, string(t)+":")
		if !found {
			continue
		}
		p, ref, _ := strings.Cut(rest, ":")
		if p == "" {
			return bad("no path after %s:", t)
		}
		if strings.IndexByte(rest, 0) >= 0 {
			return bad("NUL in the argument")
		}
		return Source{Transport: t, Path: p, Ref: ref}, true, nil
	}
	return Source{}, false, nil
}
