package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkt/rkt/common/flock"
)

// GCTrees removes every tree not in keep and reports each removal, and
// the trees replaced because they were damaged (see retireTree) once no
// pod in keep refers to their ID. The caller holds the exclusive prepare
// lock, so no pod is being prepared from a tree while it goes.
func (s *Store) GCTrees(keep map[string]bool, removed func(id string)) error {
	ids, err := s.TreeIDs()
	if err != nil {
		return err
	}
	var errs []error
	if ents, err := os.ReadDir(s.root.CASTmp()); err == nil {
		for _, e := range ents {
			rest, ok := strings.CutPrefix(e.Name(), retiredPrefix)
			if !ok || !e.IsDir() {
				continue
			}
			if id, _, _ := strings.Cut(rest, "."); keep[id] {
				continue
			}
			if err := os.RemoveAll(filepath.Join(s.root.CASTmp(), e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, id := range ids {
		if keep[id] {
			continue
		}
		if err := s.RemoveTree(id); err != nil {
			errs = append(errs, err)
			continue
		}
		removed(id)
	}
	return errors.Join(errs...)
}

// ExpiredImages returns the keys of images last used before cutoff,
// except those in keep (images of running pods).
func (s *Store) ExpiredImages(cutoff time.Time, keep map[string]bool) ([]string, error) {
	infos, err := s.Infos()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, info := range infos {
		if !keep[info.Key] && info.LastUsed.Before(cutoff) {
			out = append(out, info.Key)
		}
	}
	return out, nil
}

// CleanTmp removes what crashed fetches and imports left in cas/tmp:
// work directories nobody holds a lock on, and partial downloads older
// than maxAge (younger ones are kept so a retried fetch can resume).
func (s *Store) CleanTmp(maxAge time.Duration) error {
	dir := s.root.CASTmp()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	now := time.Now()
	var errs []error
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if !(strings.HasPrefix(e.Name(), "import-") || strings.HasPrefix(e.Name(), "render-") || strings.HasPrefix(e.Name(), newWorkPrefix) ||
				strings.HasPrefix(e.Name(), "rm-") || strings.HasPrefix(e.Name(), "rmtree-")) {
				continue
			}
			if held, err := flock.Probe(p); err != nil || held {
				continue
			}
			// Imports hold a lock on their directory from before it is
			// called import-* (see lockedWorkDir). Renders and removals
			// take no directory lock; their age tells.
			if fi, err := e.Info(); err == nil && !strings.HasPrefix(e.Name(), "import-") && !strings.HasPrefix(e.Name(), newWorkPrefix) && now.Sub(fi.ModTime()) < maxAge {
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < maxAge {
			continue
		}
		if held, err := flock.Probe(p); err != nil || held {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
