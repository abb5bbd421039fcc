package pod

import "errors"

// checkACName is appc's check of an ACName (types.NewACName), which app
// names pass and which keeps them safe as paths in the pod directory,
// with the schema's messages: lower case letters, digits and "-", not
// at either end.
func checkACName(s string) error {
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
