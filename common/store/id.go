package store

import (
	"errors"
	"fmt"
	"strings"
)

// Image ID forms (reference §3.3): the full appc ID is "sha512-" and 128
// hex digits; the store keys images by the first 64 (as rkt did), and
// shows 12 (lists) or 32 (fetch) of them.
const (
	idPrefix   = "sha512-"
	keyHexLen  = 64
	fullHexLen = 128
	// ListHexLen is the number of hex digits `list` and `image list` show.
	ListHexLen = 12
	// FetchHexLen is the number of hex digits `fetch` prints without --full.
	FetchHexLen = 32
	minHexLen   = 2
)

// Sentinel errors of ID and name resolution.
var (
	ErrNotFound  = errors.New("image not found in the store")
	ErrAmbiguous = errors.New("ambiguous image ID")
	ErrBadID     = errors.New("not a valid image ID")
)

// IsID reports whether s looks like an image ID or a prefix of one, as
// opposed to an image name or path.
func IsID(s string) bool {
	if !strings.HasPrefix(s, idPrefix) {
		return false
	}
	hex := s[len(idPrefix):]
	if len(hex) < minHexLen || len(hex) > fullHexLen {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// KeyOf returns the store key of a full ID, or of a prefix (truncated to
// the key length, lower-cased).
func KeyOf(id string) (string, error) {
	if !IsID(id) {
		return "", fmt.Errorf("%q: %w", id, ErrBadID)
	}
	id = strings.ToLower(id)
	if len(id) > len(idPrefix)+keyHexLen {
		id = id[:len(idPrefix)+keyHexLen]
	}
	return id, nil
}

// ShortID shortens an ID or key to n hex digits.
func ShortID(id string, n int) string {
	if len(id) > len(idPrefix)+n {
		return id[:len(idPrefix)+n]
	}
	return id
}
