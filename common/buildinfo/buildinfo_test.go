package buildinfo

import (
	"testing"

	"github.com/appc/spec/schema"
)

func TestAppcVersion(t *testing.T) {
	if AppcVersion != schema.AppContainerVersion.String() {
		t.Errorf("AppcVersion %s, appc library %s", AppcVersion, schema.AppContainerVersion)
	}
}
