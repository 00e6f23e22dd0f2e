package state_test

import (
	"path/filepath"
	"testing"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/engine/state/statetest"
)

// TestSQLiteConformance runs the backend conformance suite on SQLite.
func TestSQLiteConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store {
		s, err := state.OpenSQLite(filepath.Join(t.TempDir(), ".cordon", "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
