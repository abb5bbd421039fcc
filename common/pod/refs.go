package pod

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files in a pod directory that name what the pod uses from the store
// (reference PODF-05, PODF-06).
const (
	Stage1TreeStoreIDFile = "stage1TreeStoreID"
	AppsInfoDir           = "appsinfo"
	TreeStoreIDFile       = "treeStoreID"
	ManifestFile          = "pod"
)

// placesUsingTrees are the places whose pods still need their trees.
var placesUsingTrees = []Place{Prepare, Prepared, Run, ExitedGarbage}

// TreeStoreIDs returns every tree a pod under podsDir refers to: image gc
// must keep them.
func TreeStoreIDs(podsDir string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, pl := range placesUsingTrees {
		ents, err := os.ReadDir(filepath.Join(podsDir, pl.Dir()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			dir := filepath.Join(podsDir, pl.Dir(), e.Name())
			addID(out, filepath.Join(dir, Stage1TreeStoreIDFile))
			apps, _ := os.ReadDir(filepath.Join(dir, AppsInfoDir))
			for _, a := range apps {
				addID(out, filepath.Join(dir, AppsInfoDir, a.Name(), TreeStoreIDFile))
			}
		}
	}
	return out, nil
}

func addID(set map[string]bool, path string) {
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			set[id] = true
		}
	}
}

// RunningImageIDs returns the image IDs (as written in the pod manifests)
// of pods that are running now.
func RunningImageIDs(podsDir string) (map[string]bool, error) {
	out := map[string]bool{}
	dir := filepath.Join(podsDir, Run.Dir())
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		_, st, err := Find(podsDir, e.Name())
		if err != nil || st != StateRunning {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), ManifestFile))
		if err != nil {
			continue
		}
		var m struct {
			Apps []struct {
				Image struct {
					ID string `json:"id"`
				} `json:"image"`
			} `json:"apps"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		for _, a := range m.Apps {
			out[a.Image.ID] = true
		}
	}
	return out, nil
}
