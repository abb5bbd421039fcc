package podctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/common/aci"

	"github.com/appc/spec/schema"
)

// idShift undoes a --private-users pod's uid/gid shift
// (private-users-prepared, "SHIFT:COUNT"), so an exported image holds the
// ids the app saw.
type idShift struct{ shift, count uint32 }

func parseIDShift(s string) (idShift, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	shift, err1 := strconv.ParseUint(a, 10, 32)
	count, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return idShift{}, fmt.Errorf("invalid private users range %q", s)
	}
	return idShift{uint32(shift), uint32(count)}, nil
}

func (s idShift) unshift(id uint32) int {
	if s.count > 0 && id >= s.shift && id-s.shift < s.count {
		return int(id - s.shift)
	}
	return int(id)
}

// exportManifest turns an app's image manifest into the manifest of the
// exported image. The rootfs written next to it is flattened (the
// image's dependencies are in it, and whatever the app created too), so
// the dependencies and the path whitelist go: applying them again when
// the image is rendered would undo the app's deletions or drop its new
// files.
func exportManifest(data []byte) ([]byte, error) {
	var m schema.ImageManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("app image manifest: %w", err)
	}
	m.Dependencies = nil
	m.PathWhitelist = nil
	return json.Marshal(&m)
}

// writeACI writes manifest and the tree at rootfs to w as an ACI, with
// the owners the app saw.
func writeACI(w io.Writer, manifest []byte, rootfs string, ids idShift) error {
	return aci.WriteTree(w, manifest, rootfs, ids.unshift, time.Now().Truncate(time.Second))
}

// errTargetExists is export's answer for an existing output file.
var errTargetExists = errors.New("target file exists (try --overwrite)")
