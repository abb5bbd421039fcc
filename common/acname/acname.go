// Package acname checks appc ACNames (app, volume and mount point
// names) as the appc schema does (types.NewACName), for the readers of
// manifests that do not link the schema: those names become paths in a
// pod directory, and this check keeps them safe there.
package acname

import "errors"

// Check returns the schema's error for a string that is not an ACName:
// lower case letters, digits and "-", not at either end.
func Check(s string) error {
	if s == "" {
		return errors.New("ACName cannot be empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return errors.New(`ACName must contain only lower case alphanumeric characters plus "-"`)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return errors.New("ACName must start and end with only lower case alphanumeric characters")
	}
	return nil
}
