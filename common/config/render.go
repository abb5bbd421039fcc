package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// The entry types below fix the key order of `rkt config` output; the
// field order of each struct is the order users (and tests) see.

type renderedConfig struct {
	Stage0 []any `json:"stage0"`
}

type authEntry struct {
	RktVersion  string   `json:"rktVersion"`
	RktKind     string   `json:"rktKind"`
	Domains     []string `json:"domains"`
	Type        string   `json:"type"`
	Credentials any      `json:"credentials"`
}

type basicCredentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type oauthCredentials struct {
	Token string `json:"token"`
}

type awsCredentials struct {
	AccessKeyID     string `json:"accessKeyID"`
	SecretAccessKey string `json:"secretAccessKey"`
	AWSRegion       string `json:"awsRegion"`
}

type dockerAuthEntry struct {
	RktVersion  string           `json:"rktVersion"`
	RktKind     string           `json:"rktKind"`
	Registries  []string         `json:"registries"`
	Credentials basicCredentials `json:"credentials"`
}

type pathsEntry struct {
	RktVersion   string `json:"rktVersion"`
	RktKind      string `json:"rktKind"`
	Data         string `json:"data"`
	Stage1Images string `json:"stage1-images"`
}

type stage1Entry struct {
	RktVersion string `json:"rktVersion"`
	RktKind    string `json:"rktKind"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	Location   string `json:"location"`
}

// Render returns the `rkt config` JSON (with trailing newline).
// Every entry is itself a valid configuration file, so output can be split
// back into auth.d, paths.d and stage1.d. Auth and dockerAuth get one entry
// per domain or registry, sorted, because merging across directories may
// have split the original files. The paths and stage1 entries are always
// present, with empty strings for unset values. pretty selects tab
// indentation. A nil Config renders as an empty one.
func (c *Config) Render(pretty bool) ([]byte, error) {
	if c == nil {
		c = &Config{}
	}
	out := renderedConfig{Stage0: []any{}}
	for _, d := range slices.Sorted(maps.Keys(c.AuthPerHost)) {
		a := c.AuthPerHost[d]
		e := authEntry{RktVersion: version1, RktKind: kindAuth, Domains: []string{d}, Type: a.Type}
		switch a.Type {
		case AuthBasic:
			e.Credentials = basicCredentials{User: a.User, Password: a.Password}
		case AuthOAuth:
			e.Credentials = oauthCredentials{Token: a.Token}
		case AuthAWS:
			e.Credentials = awsCredentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, AWSRegion: a.AWSRegion}
		default:
			// Load never produces this; only a hand-built Config can.
			return nil, fmt.Errorf("rendering auth for domain %q: unknown auth type %q", d, a.Type)
		}
		out.Stage0 = append(out.Stage0, e)
	}
	for _, r := range slices.Sorted(maps.Keys(c.DockerAuthPerReg)) {
		a := c.DockerAuthPerReg[r]
		out.Stage0 = append(out.Stage0, dockerAuthEntry{
			RktVersion:  version1,
			RktKind:     kindDockerAuth,
			Registries:  []string{r},
			Credentials: basicCredentials(a),
		})
	}
	out.Stage0 = append(out.Stage0,
		pathsEntry{RktVersion: version1, RktKind: kindPaths, Data: c.Paths.Data, Stage1Images: c.Paths.Stage1Images},
		stage1Entry{RktVersion: version1, RktKind: kindStage1, Name: c.Stage1.Name, Version: c.Stage1.Version, Location: c.Stage1.Location},
	)
	var (
		b   []byte
		err error
	)
	if pretty {
		b, err = json.MarshalIndent(out, "", "\t")
	} else {
		b, err = json.Marshal(out)
	}
	if err != nil {
		return nil, fmt.Errorf("rendering configuration: %w", err)
	}
	return append(b, '\n'), nil
}
