// Package imagename parses image arguments of the form
// name[:version][,label=value...], without any network code, so that
// privileged commands can look names up in the store.
package imagename

import (
	"errors"
	"fmt"
	"strings"

	"github.com/appc/spec/schema/types"
)

// ErrInvalid is wrapped by every error for a malformed image name.
var ErrInvalid = errors.New("invalid image name")

// Parse splits an image argument "name[:version][,label=value...]" into
// the name and its labels; a ":version" becomes the "version" label. The
// returned map is never nil.
//
// It follows appc's NewAppFromString syntax but is written out here: that
// function runs label names through URL query decoding, so "%61" or "&" in
// a label name change its meaning instead of being rejected. Here names must
// be AC identifiers, values must not be empty, "name" is not a label, a
// label may not repeat, and only the part before the first comma may hold a
// colon (so label values may contain colons, which appc refuses anywhere).
func Parse(arg string) (name string, labels map[string]string, err error) {
	bad := func(format string, a ...any) (string, map[string]string, error) {
		return "", nil, fmt.Errorf("%w %q: %s", ErrInvalid, arg, fmt.Sprintf(format, a...))
	}
	head, rest, hasLabels := strings.Cut(arg, ",")
	name, version, hasVersion := strings.Cut(head, ":")
	if name == "" {
		return bad("empty name")
	}
	if _, err := types.NewACIdentifier(name); err != nil {
		return bad("%v", err)
	}
	labels = make(map[string]string)
	if hasVersion {
		if version == "" {
			return bad("empty version after the colon")
		}
		if strings.Contains(version, ":") {
			return bad("colon may appear at most once before the labels")
		}
		labels["version"] = version
	}
	if !hasLabels {
		return name, labels, nil
	}
	for _, item := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(item, "=")
		switch {
		case !ok:
			return bad("label %q has no value", item)
		case v == "":
			return bad("label %q has an empty value", k)
		case k == "name":
			return bad(`"name" is not a label`)
		}
		if _, err := types.NewACIdentifier(k); err != nil {
			return bad("label name %q: %v", k, err)
		}
		if _, dup := labels[k]; dup {
			return bad("label %q given twice", k)
		}
		labels[k] = v
	}
	return name, labels, nil
}
