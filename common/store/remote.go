package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rkt/rkt/common/atomicfile"
)

// Remote records what a URL gave the last time it was downloaded, so that
// `fetch` can skip the network (pull policy new, Cache-Control) or ask
// the server only whether it changed (ETag).
type Remote struct {
	URL          string        `json:"url"`
	SigURL       string        `json:"sigURL,omitempty"`
	ETag         string        `json:"etag,omitempty"`
	LastModified string        `json:"lastModified,omitempty"`
	Key          string        `json:"key"`
	MaxAge       time.Duration `json:"maxAge,omitempty"`
	DownloadTime time.Time     `json:"downloadTime"`
}

// Fresh reports whether Cache-Control max-age says the image need not be
// checked again yet.
func (r *Remote) Fresh(now time.Time) bool {
	return r.MaxAge > 0 && now.Before(r.DownloadTime.Add(r.MaxAge))
}

// URLHash names per-URL files: records, partial downloads, their locks.
func URLHash(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:])
}

func (s *Store) remotePath(url string) string {
	return filepath.Join(s.root.Remotes(), URLHash(url))
}

// GetRemote returns the record of url, or nil if there is none or the
// image it names is gone.
func (s *Store) GetRemote(url string) (*Remote, error) {
	data, err := os.ReadFile(s.remotePath(url))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading download record of %s: %w", url, err)
	}
	var r Remote
	if err := json.Unmarshal(data, &r); err != nil || r.URL != url {
		// A damaged record only costs a download: ignore it.
		return nil, nil
	}
	if _, err := os.Stat(s.imageDir(r.Key)); err != nil {
		return nil, nil
	}
	return &r, nil
}

// PutRemote records a download.
func (s *Store) PutRemote(r *Remote) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.remotePath(r.URL), data, 0o660); err != nil {
		return fmt.Errorf("recording download of %s: %w", r.URL, err)
	}
	return nil
}

// removeRemotesOf drops the records that point at a removed image.
func (s *Store) removeRemotesOf(key string) {
	ents, err := os.ReadDir(s.root.Remotes())
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(s.root.Remotes(), e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r Remote
		if json.Unmarshal(data, &r) == nil && r.Key == key {
			os.Remove(p)
		}
	}
}
