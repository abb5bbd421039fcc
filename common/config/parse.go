package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// Configuration kinds and the only version defined for each of them.
const (
	kindAuth       = "auth"
	kindDockerAuth = "dockerAuth"
	kindPaths      = "paths"
	kindStage1     = "stage1"
	version1       = "v1"
)

// stage1Schemes are the URL schemes a stage1 location may use; anything
// else could not be fetched by rkt.
var stage1Schemes = map[string]bool{"file": true, "docker": true, "http": true, "https": true}

// dirState accumulates one directory's settings and remembers which file
// set each of them, so a second setting in the same directory can be
// reported together with the first one.
type dirState struct {
	cfg Config

	authFrom   map[string]string
	dockerFrom map[string]string
	dataFrom   string
	imagesFrom string
	nameFrom   string
	locFrom    string
}

func newDirState() *dirState {
	return &dirState{
		cfg:        *newConfig(),
		authFrom:   make(map[string]string),
		dockerFrom: make(map[string]string),
	}
}

type header struct {
	RktKind    string `json:"rktKind"`
	RktVersion string `json:"rktVersion"`
}

// credentialsV1 is the union of every credentials shape; which fields are
// required depends on the auth type, and extra ones are ignored like any
// other unknown field.
type credentialsV1 struct {
	User            string `json:"user"`
	Password        string `json:"password"`
	Token           string `json:"token"`
	AccessKeyID     string `json:"accessKeyID"`
	SecretAccessKey string `json:"secretAccessKey"`
	AWSRegion       string `json:"awsRegion"`
}

type authV1 struct {
	Domains     []string       `json:"domains"`
	Type        string         `json:"type"`
	Credentials *credentialsV1 `json:"credentials"`
}

type dockerAuthV1 struct {
	Registries  []string       `json:"registries"`
	Credentials *credentialsV1 `json:"credentials"`
}

type pathsV1 struct {
	Data         string `json:"data"`
	Stage1Images string `json:"stage1-images"`
}

type stage1V1 struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
}

// parseFile validates one file's bytes and records its settings in st.
// path is used only to remember the origin of settings; the caller adds
// the file name to the returned error. Nothing is recorded when the file
// is rejected.
func (st *dirState) parseFile(path string, raw []byte, kinds []string) error {
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if h.RktKind == "" {
		return errors.New("no rktKind specified")
	}
	if h.RktVersion == "" {
		return errors.New("no rktVersion specified")
	}
	if !slices.Contains(kinds, h.RktKind) {
		return fmt.Errorf("rktKind %q not allowed in %s, expected %s",
			h.RktKind, filepath.Base(filepath.Dir(path)), quoteList(kinds))
	}
	if h.RktVersion != version1 {
		return fmt.Errorf("unsupported rktVersion %q for rktKind %q, expected %q",
			h.RktVersion, h.RktKind, version1)
	}
	switch h.RktKind {
	case kindAuth:
		return st.parseAuth(path, raw)
	case kindDockerAuth:
		return st.parseDockerAuth(path, raw)
	case kindPaths:
		return st.parsePaths(path, raw)
	case kindStage1:
		return st.parseStage1(path, raw)
	}
	// Unreachable while every kind in subdirs has a case above; kept so a
	// forgotten case fails loudly instead of silently ignoring files.
	return fmt.Errorf("unknown rktKind %q", h.RktKind)
}

func (st *dirState) parseAuth(path string, raw []byte) error {
	var a authV1
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("invalid auth configuration: %w", err)
	}
	if err := checkKeys("domains", "domain", a.Domains, path, st.authFrom); err != nil {
		return err
	}
	if a.Type == "" {
		return errors.New("no auth type specified")
	}
	c := a.Credentials
	if c == nil {
		c = &credentialsV1{}
	}
	auth := Auth{Type: a.Type}
	switch a.Type {
	case AuthBasic:
		if err := checkBasic(c); err != nil {
			return err
		}
		auth.User, auth.Password = c.User, c.Password
	case AuthOAuth:
		if c.Token == "" {
			return errors.New("oauth credentials: no token specified")
		}
		auth.Token = c.Token
	case AuthAWS:
		if c.AccessKeyID == "" {
			return errors.New("aws credentials: no accessKeyID specified")
		}
		if c.SecretAccessKey == "" {
			return errors.New("aws credentials: no secretAccessKey specified")
		}
		auth.AccessKeyID, auth.SecretAccessKey, auth.AWSRegion = c.AccessKeyID, c.SecretAccessKey, c.AWSRegion
	default:
		return fmt.Errorf("unknown auth type %q, expected %s", a.Type, quoteList([]string{AuthBasic, AuthOAuth, AuthAWS}))
	}
	for _, d := range a.Domains {
		st.cfg.AuthPerHost[d] = auth
		st.authFrom[d] = path
	}
	return nil
}

func (st *dirState) parseDockerAuth(path string, raw []byte) error {
	var a dockerAuthV1
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("invalid dockerAuth configuration: %w", err)
	}
	if err := checkKeys("registries", "registry", a.Registries, path, st.dockerFrom); err != nil {
		return err
	}
	c := a.Credentials
	if c == nil {
		c = &credentialsV1{}
	}
	if err := checkBasic(c); err != nil {
		return err
	}
	for _, r := range a.Registries {
		st.cfg.DockerAuthPerReg[r] = DockerAuth{User: c.User, Password: c.Password}
		st.dockerFrom[r] = path
	}
	return nil
}

func (st *dirState) parsePaths(path string, raw []byte) error {
	var p pathsV1
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("invalid paths configuration: %w", err)
	}
	// Validate both fields before recording either, so a rejected file
	// leaves no trace.
	if err := checkPath("data", p.Data, st.dataFrom); err != nil {
		return err
	}
	if err := checkPath("stage1-images", p.Stage1Images, st.imagesFrom); err != nil {
		return err
	}
	if p.Data != "" {
		st.cfg.Paths.Data, st.dataFrom = p.Data, path
	}
	if p.Stage1Images != "" {
		st.cfg.Paths.Stage1Images, st.imagesFrom = p.Stage1Images, path
	}
	return nil
}

func (st *dirState) parseStage1(path string, raw []byte) error {
	var s stage1V1
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("invalid stage1 configuration: %w", err)
	}
	switch {
	case s.Name != "" && s.Version == "":
		return fmt.Errorf("stage1 name %q specified without a version", s.Name)
	case s.Name == "" && s.Version != "":
		return fmt.Errorf("stage1 version %q specified without a name", s.Version)
	}
	if s.Name != "" && st.nameFrom != "" {
		return fmt.Errorf("stage1 name and version already specified in %q", st.nameFrom)
	}
	if s.Location != "" {
		if st.locFrom != "" {
			return fmt.Errorf("stage1 location already specified in %q", st.locFrom)
		}
		if err := checkLocation(s.Location); err != nil {
			return err
		}
	}
	if s.Name != "" {
		st.cfg.Stage1.Name, st.cfg.Stage1.Version, st.nameFrom = s.Name, s.Version, path
	}
	if s.Location != "" {
		st.cfg.Stage1.Location, st.locFrom = s.Location, path
	}
	return nil
}

// checkKeys validates the domains or registries of one file against those
// already seen in the same directory (from maps key to defining file).
func checkKeys(field, what string, keys []string, path string, from map[string]string) error {
	if len(keys) == 0 {
		return fmt.Errorf("no %s specified", field)
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k == "" {
			return fmt.Errorf("empty %s in %s", what, field)
		}
		if seen[k] {
			return fmt.Errorf("%s %q listed more than once", what, k)
		}
		seen[k] = true
		if prev, ok := from[k]; ok {
			return fmt.Errorf("%s %q already specified in %q", what, k, prev)
		}
	}
	return nil
}

func checkBasic(c *credentialsV1) error {
	if c.User == "" {
		return errors.New("basic credentials: no user specified")
	}
	if c.Password == "" {
		return errors.New("basic credentials: no password specified")
	}
	return nil
}

// checkPath validates one optional paths v1 field; prev is the file that
// already set it in this directory, if any.
func checkPath(field, value, prev string) error {
	if value == "" {
		return nil
	}
	if prev != "" {
		return fmt.Errorf("%s already specified in %q", field, prev)
	}
	if !filepath.IsAbs(value) {
		return fmt.Errorf("%s %q is not an absolute path", field, value)
	}
	return nil
}

// checkLocation accepts an absolute path or a URL rkt knows how to fetch;
// a relative path is rejected because it would depend on the caller's cwd.
func checkLocation(loc string) error {
	if filepath.IsAbs(loc) {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("stage1 location %q is not a valid URL: %w", loc, err)
	}
	if u.Scheme == "" {
		return fmt.Errorf("stage1 location %q is neither an absolute path nor a URL with a scheme", loc)
	}
	if !stage1Schemes[u.Scheme] {
		return fmt.Errorf("stage1 location %q has unsupported scheme %q, expected %s",
			loc, u.Scheme, quoteList([]string{"docker", "file", "http", "https"}))
	}
	return nil
}

// quoteList renders `"a"`, `"a" or "b"` or `"a", "b" or "c"` for messages.
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, v := range list {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
