package apiservice

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/stage1abi"
)

// manifestCache keeps the pod manifests already decoded (reference
// API-07 has rkt keep LRU caches). Decoding a manifest is most of the
// cost of listing pods; an entry is used only while the file's inode,
// size and mtime are those it was read with, which one stat checks (a
// rename to another place keeps all three). ListPods drops the entries
// of pods that are gone, so the cache is never bigger than the pod set.
type manifestCache struct {
	mu      sync.Mutex
	entries map[string]*cachedManifest
}

type cachedManifest struct {
	ino   uint64
	size  int64
	mtime time.Time
	m     *schema.PodManifest
	data  []byte
}

// maxCached bounds the cache for InspectPod-only use.
const maxCached = 8192

func (c *manifestCache) get(p *pod.Pod) (*schema.PodManifest, []byte, error) {
	path := p.Path(stage1abi.PodManifestFile)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: reading manifest: %w", p.UUID, err)
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	c.mu.Lock()
	e := c.entries[p.UUID]
	c.mu.Unlock()
	if e != nil && e.ino == ino && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
		return e.m, e.data, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: reading manifest: %w", p.UUID, err)
	}
	var m schema.PodManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("pod %s: invalid manifest: %w", p.UUID, err)
	}
	if int64(len(data)) == fi.Size() {
		c.mu.Lock()
		if c.entries == nil || len(c.entries) >= maxCached {
			c.entries = map[string]*cachedManifest{}
		}
		c.entries[p.UUID] = &cachedManifest{ino: ino, size: fi.Size(), mtime: fi.ModTime(), m: &m, data: data}
		c.mu.Unlock()
	}
	return &m, data, nil
}

// keep drops the entries of pods not in live.
func (c *manifestCache) keep(live map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.entries {
		if !live[id] {
			delete(c.entries, id)
		}
	}
}
