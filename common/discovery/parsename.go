package discovery

import "github.com/rkt/rkt/common/imagename"

// ParseName splits an image argument into name and labels; see
// imagename.Parse.
func ParseName(arg string) (name string, labels map[string]string, err error) {
	return imagename.Parse(arg)
}
