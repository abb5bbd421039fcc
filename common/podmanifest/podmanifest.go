// Package podmanifest reads a pod's manifest through the appc schema,
// for the commands that show or act on all of it (cat-manifest, list and
// status --format, the API's logs, export). Package pod stays free of
// the schema, whose initialisation every binary that links it pays at
// start: rkt-run-prepared needs only pod.ManifestOutline.
package podmanifest

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// Read returns the pod manifest of p, decoded and checked, and its bytes.
func Read(p *pod.Pod) (*schema.PodManifest, []byte, error) {
	data, err := os.ReadFile(p.Path(stage1abi.PodManifestFile))
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: reading manifest: %w", p.UUID, err)
	}
	var m schema.PodManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("pod %s: invalid manifest: %w", p.UUID, err)
	}
	return &m, data, nil
}
