//go:build !unix

package statetest

import (
	"testing"

	"github.com/cordonhq/cordon/engine/state"
)

func testCrashMidApply(t *testing.T, b Backend) { t.Skip("needs a unix platform") }

// CrashChild needs a unix platform (SIGKILL).
func CrashChild(t *testing.T, s state.Store) { t.Skip("needs a unix platform") }
