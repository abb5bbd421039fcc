// Package trust is rkt's trust store: the OpenPGP public keys an
// administrator trusts to sign images, scoped to image name prefixes, and
// the verification of an image's detached signature against them
// (reference TRUST-01..04).
//
// The store lives in two configuration directories, read in this order:
//
//	SYSTEM/trustedkeys/root.d/<fpr>                  keys trusted for every image
//	LOCAL/trustedkeys/root.d/<fpr>
//	SYSTEM/trustedkeys/prefix.d/<prefix path>/<fpr>  keys trusted for names under the prefix
//	LOCAL/trustedkeys/prefix.d/<prefix path>/<fpr>
//
// A key file holds one ASCII-armored public key and is named by the
// lowercase hex fingerprint of its primary key. An empty file masks a key
// of that fingerprint read before it, so that an administrator can distrust
// a vendor key in SYSTEM without editing the vendor's files.
//
// This package reads and writes local files only: fetching keys over the
// network belongs to `rkt trust` (common/trustcmd), so the privileged
// binaries that verify images do not link HTTP client code.
package trust

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/common/atomicfile"
)

// Modes of what AddKey creates. Keys are public and every rkt binary,
// including `rkt fetch` run by a member of group rkt, must read them.
const (
	DirMode  os.FileMode = 0o755
	FileMode os.FileMode = 0o644
)

var (
	// ErrInvalidName is returned for an image name or prefix that is not
	// a valid AC identifier; it would otherwise be a path in the store.
	ErrInvalidName = errors.New("not a valid AC identifier")
	// ErrBadKeyFile is returned for a key file that is not one armored
	// public key, or whose name is not its fingerprint.
	ErrBadKeyFile = errors.New("bad key file")
	// ErrNoLocalDir is returned by AddKey when the store has no local
	// directory to write to.
	ErrNoLocalDir = errors.New("trust store has no local directory")
)

// Store is the trust store in the system and local config dirs:
// DIR/trustedkeys/root.d/<fpr> and DIR/trustedkeys/prefix.d/<prefix
// path>/<fpr>. rkt trust writes only to the local dir.
type Store struct{ SystemDir, LocalDir string }

func rootDir(dir string) string   { return filepath.Join(dir, "trustedkeys", "root.d") }
func prefixDir(dir string) string { return filepath.Join(dir, "trustedkeys", "prefix.d") }

// validName checks name as an AC identifier, and as a relative path that
// stays inside prefix.d: appc's own check (NewACIdentifier) tests only the
// characters and the first and last one, so it accepts
// "example.com/../../etc", which rkt then joined onto the store path.
func validName(name string) error {
	if _, err := types.NewACIdentifier(name); err != nil {
		return fmt.Errorf("%q: %w: %v", name, ErrInvalidName, err)
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("%q: %w: empty, \".\" or \"..\" path component", name, ErrInvalidName)
		}
	}
	return nil
}

// keyDirs returns the directories whose keys apply to name, in the order
// they are read (which decides what masks what).
func (s *Store) keyDirs(name string) []string {
	var out []string
	for _, d := range []string{s.SystemDir, s.LocalDir} {
		if d != "" {
			out = append(out, rootDir(d))
		}
	}
	parts := strings.Split(name, "/")
	for _, d := range []string{s.SystemDir, s.LocalDir} {
		if d == "" {
			continue
		}
		// Every directory whose path is a whole-component prefix of
		// name: a key for example.com/busy does not apply to
		// example.com/busybox.
		for i := 1; i <= len(parts); i++ {
			out = append(out, filepath.Join(append([]string{prefixDir(d)}, parts[:i]...)...))
		}
	}
	return out
}

// Keyring returns the keys trusted for image name: root.d keys (system then
// local) + prefix keys from every prefix.d directory that is a path prefix
// of name (system then local); an EMPTY file named <fpr> in the local dir
// masks the system key of that fingerprint. More exactly, an empty file
// masks a key of that fingerprint read from any earlier directory in that
// order, as rkt did. Dot files (e.g. an interrupted atomic write) are
// skipped; any other file that is not a key named by its fingerprint is an
// error, since silently ignoring it could hide a key the admin meant to
// trust.
func (s *Store) Keyring(name string) (openpgp.EntityList, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	var (
		order []string // fingerprints in first-seen order, for a stable result
		keys  = map[string]*openpgp.Entity{}
	)
	for _, dir := range s.keyDirs(name) {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			// No keys there. A store the caller cannot read stays an
			// error: an empty keyring would hide the real cause.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading trusted keys: %w", err)
		}
		for _, de := range ents {
			if strings.HasPrefix(de.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, de.Name())
			fi, err := os.Stat(p) // follows symlinks: an admin may link keys in
			if err != nil {
				return nil, fmt.Errorf("reading trusted keys: %w", err)
			}
			if fi.IsDir() {
				continue // a longer prefix; read in its own turn if it applies
			}
			if fi.Size() == 0 {
				delete(keys, de.Name())
				continue
			}
			e, err := readKeyFile(p)
			if err != nil {
				return nil, err
			}
			fpr := de.Name()
			if _, seen := keys[fpr]; !seen {
				order = append(order, fpr)
			}
			keys[fpr] = e
		}
	}
	var out openpgp.EntityList
	for _, fpr := range order {
		if e, ok := keys[fpr]; ok {
			out = append(out, e)
			delete(keys, fpr) // a fingerprint masked and re-added appears once
		}
	}
	return out, nil
}

// readKeyFile reads one stored key and checks that the file's name is the
// fingerprint of its primary key.
func readKeyFile(path string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading trusted key: %w", err)
	}
	e, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("trusted key %s: %w", path, err)
	}
	if fpr := Fingerprint(e); fpr != filepath.Base(path) {
		return nil, fmt.Errorf("trusted key %s: %w: fingerprint is %s", path, ErrBadKeyFile, fpr)
	}
	return e, nil
}

// CheckName reports whether name can be an image name or a key prefix in
// the store; the error wraps ErrInvalidName. `rkt trust` checks a prefix
// with it before fetching a key and asking the user about it.
func CheckName(name string) error { return validName(name) }

// ParseKey parses a key as AddKey will store it: one armored public key.
// It returns the key so that it can be shown for review before AddKey.
func ParseKey(armoredKey []byte) (*openpgp.Entity, error) { return parseKey(armoredKey) }

// parseKey reads an armored keyring that must hold exactly one public key:
// the file is named after one fingerprint, and a second key in it would be
// trusted without its name saying so.
func parseKey(armored []byte) (*openpgp.Entity, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	switch {
	case len(el) == 0:
		return nil, fmt.Errorf("%w: no key in it", ErrBadKeyFile)
	case len(el) > 1:
		return nil, fmt.Errorf("%w: %d keys in one file, expected one (split it: one file per key)", ErrBadKeyFile, len(el))
	case el[0].PrivateKey != nil:
		// Key files are world-readable.
		return nil, fmt.Errorf("%w: it holds a private key; give the public key only", ErrBadKeyFile)
	}
	return el[0], nil
}

// Fingerprint returns the store's name for e: the lowercase hex
// fingerprint of its primary key.
func Fingerprint(e *openpgp.Entity) string {
	return hex.EncodeToString(e.PrimaryKey.Fingerprint)
}

// AddKey stores an armored public key (a keyring of one primary key) for
// prefix (a valid appc AC identifier) or as a root key when prefix == "":
// file name = lowercase hex fingerprint of the primary key (40 chars for
// OpenPGP v4 keys); dirs 0755, file 0644, atomic write. It returns the
// path. Storing a key that is already there replaces it, so re-trusting a
// key refreshes its self-signatures.
func (s *Store) AddKey(prefix string, armoredKey []byte) (string, error) {
	if s.LocalDir == "" {
		return "", ErrNoLocalDir
	}
	dir := rootDir(s.LocalDir)
	if prefix != "" {
		if err := validName(prefix); err != nil {
			return "", fmt.Errorf("invalid prefix: %w", err)
		}
		dir = filepath.Join(prefixDir(s.LocalDir), filepath.FromSlash(prefix))
	}
	e, err := parseKey(armoredKey)
	if err != nil {
		return "", err
	}
	if err := mkdirAll(dir); err != nil {
		return "", fmt.Errorf("adding key: %w", err)
	}
	path := filepath.Join(dir, Fingerprint(e))
	if err := atomicfile.WriteFile(path, armoredKey, FileMode); err != nil {
		return "", fmt.Errorf("adding key: %w", err)
	}
	return path, nil
}

// mkdirAll is os.MkdirAll with DirMode set exactly on the directories it
// creates: a root umask of 077 must not leave the store unreadable to
// `rkt fetch` run by group rkt.
func mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, DirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made by a concurrent rkt trust
		}
		return err
	}
	return os.Chmod(dir, DirMode)
}

// FormatFingerprint formats a fingerprint like `gpg`: uppercase groups of
// 4 hex digits separated by spaces, with a double space in the middle.
func FormatFingerprint(fp []byte) string {
	h := strings.ToUpper(hex.EncodeToString(fp))
	var groups []string
	for len(h) > 4 {
		groups = append(groups, h[:4])
		h = h[4:]
	}
	if h != "" {
		groups = append(groups, h)
	}
	half := len(groups) / 2
	if half == 0 {
		return strings.Join(groups, " ")
	}
	return strings.Join(groups[:half], " ") + "  " + strings.Join(groups[half:], " ")
}
