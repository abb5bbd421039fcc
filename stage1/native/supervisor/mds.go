package supervisor

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/rkt/rkt/common/stage1abi"
)

// MetadataURLEnv is the variable that gives the apps the metadata
// service's address, with the pod's token as its path.
const MetadataURLEnv = "AC_METADATA_URL"

// metadataURL is the AC_METADATA_URL the pod's apps get, "" when the pod
// is not registered.
func metadataURL(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, stage1abi.MDSRegisteredFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
