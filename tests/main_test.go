// Package tests holds the functional tests: they run the real rkt
// binaries, as root where the feature needs it, in throw-away data dirs.
package tests

import (
	"testing"

	"github.com/rkt/rkt/tests/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
