// Package config reads rkt's configuration directories (system, local and
// user) and merges them into one Config, following the rules of the
// reference's CFG-* contracts: kind-specific subdirectories holding
// versioned JSON files, per-key overrides across directories and hard
// errors for ambiguous settings within one directory.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrInvalid is wrapped by every error that Load attributes to a
// configuration file or directory, so callers can tell a broken
// configuration apart from other failures with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Config is the merged configuration.
type Config struct {
	// AuthPerHost holds HTTP credentials keyed by domain (host[:port]).
	AuthPerHost map[string]Auth
	// DockerAuthPerReg holds Docker registry credentials keyed by registry.
	DockerAuthPerReg map[string]DockerAuth
	// Paths holds the configured directories; empty fields are unset.
	Paths Paths
	// Stage1 holds the default stage1 image; empty fields are unset.
	Stage1 Stage1
}

// Auth is the credential set for one domain. Type selects which of the
// other fields are meaningful.
type Auth struct {
	// Type is AuthBasic, AuthOAuth or AuthAWS.
	Type string
	// User and Password are used by AuthBasic.
	User, Password string
	// Token is used by AuthOAuth.
	Token string
	// AccessKeyID, SecretAccessKey and the optional AWSRegion are used by
	// AuthAWS.
	AccessKeyID, SecretAccessKey, AWSRegion string
}

// Auth types accepted in an auth v1 file.
const (
	// AuthBasic sends "Authorization: Basic" with User and Password.
	AuthBasic = "basic"
	// AuthOAuth sends "Authorization: Bearer" with Token.
	AuthOAuth = "oauth"
	// AuthAWS signs requests with AWS Signature Version 4.
	AuthAWS = "aws"
)

// DockerAuth is the basic-auth credential set for one Docker registry.
type DockerAuth struct {
	User, Password string
}

// Paths holds directories configured in paths.d; both are absolute when set.
type Paths struct {
	// Data is the default data directory (overridden by --dir).
	Data string
	// Stage1Images is the directory searched by --stage1-from-dir.
	Stage1Images string
}

// Stage1 describes the default stage1 image configured in stage1.d.
// Name and Version are either both set or both empty.
type Stage1 struct {
	Name, Version string
	// Location is an absolute path or a file/docker/http/https URL.
	Location string
}

// FileError reports a problem with one configuration file or directory.
// It unwraps to both ErrInvalid and the underlying cause.
type FileError struct {
	// Path is the offending file or directory.
	Path string
	// IsDir tells whether Path is a directory rather than a file, which
	// only changes the wording of the message.
	IsDir bool
	// Err is the underlying cause.
	Err error
}

// Error names the path so the user knows which file to fix.
func (e *FileError) Error() string {
	what := "config file"
	if e.IsDir {
		what = "config directory"
	}
	return fmt.Sprintf("%s %q: %v", what, e.Path, e.Err)
}

// Unwrap exposes both the sentinel and the cause, so errors.Is works for
// ErrInvalid as well as for e.g. fs.ErrPermission.
func (e *FileError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

func fileErr(path string, err error) error { return &FileError{Path: path, Err: err} }

func dirErr(path string, err error) error { return &FileError{Path: path, IsDir: true, Err: err} }

// subdir is a kind-specific configuration subdirectory.
type subdir struct {
	name  string
	kinds []string
}

// subdirs is walked in a fixed order so the first reported error does not
// depend on map iteration.
var subdirs = []subdir{
	{name: "auth.d", kinds: []string{kindAuth, kindDockerAuth}},
	{name: "paths.d", kinds: []string{kindPaths}},
	{name: "stage1.d", kinds: []string{kindStage1}},
}

// newConfig returns an empty Config whose maps are safe to write.
func newConfig() *Config {
	return &Config{
		AuthPerHost:      make(map[string]Auth),
		DockerAuthPerReg: make(map[string]DockerAuth),
	}
}

// Load reads and merges the config dirs in increasing precedence; "" entries are skipped.
// A directory that does not exist contributes nothing; a path that exists
// but is not a directory is an error.
func Load(dirs ...string) (*Config, error) {
	cfg := newConfig()
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		st, err := loadDir(dir)
		if err != nil {
			return nil, err
		}
		cfg.merge(&st.cfg)
	}
	return cfg, nil
}

// isDir reports whether path is an existing directory; a missing path is
// not an error because every config directory is optional.
func isDir(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, dirErr(path, err)
	case !fi.IsDir():
		return false, dirErr(path, errors.New("not a directory"))
	}
	return true, nil
}

// loadDir reads one configuration directory into a fresh dirState, so
// that duplicates are detected per directory only.
func loadDir(dir string) (*dirState, error) {
	st := newDirState()
	ok, err := isDir(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return st, nil
	}
	for _, sd := range subdirs {
		path := filepath.Join(dir, sd.name)
		ok, err := isDir(path)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		// os.ReadDir sorts by name, which gives the documented file order.
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, dirErr(path, err)
		}
		for _, e := range entries {
			// Only plain *.json files count: other files may be docs, and
			// symlinks and subdirectories are deliberately not followed.
			if !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".json" {
				continue
			}
			file := filepath.Join(path, e.Name())
			raw, err := os.ReadFile(file)
			if err != nil {
				return nil, fileErr(file, err)
			}
			if err := st.parseFile(file, raw, sd.kinds); err != nil {
				return nil, fileErr(file, err)
			}
		}
	}
	return st, nil
}

// merge lays a higher-precedence directory's settings over c. Auth and
// Docker credentials override per key; paths per field; the stage1 name
// and version only together, because one without the other is meaningless.
func (c *Config) merge(o *Config) {
	for k, v := range o.AuthPerHost {
		c.AuthPerHost[k] = v
	}
	for k, v := range o.DockerAuthPerReg {
		c.DockerAuthPerReg[k] = v
	}
	if o.Paths.Data != "" {
		c.Paths.Data = o.Paths.Data
	}
	if o.Paths.Stage1Images != "" {
		c.Paths.Stage1Images = o.Paths.Stage1Images
	}
	if o.Stage1.Name != "" {
		c.Stage1.Name = o.Stage1.Name
		c.Stage1.Version = o.Stage1.Version
	}
	if o.Stage1.Location != "" {
		c.Stage1.Location = o.Stage1.Location
	}
}
