package state_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/engine/state/statetest"
)

// TestSQLiteConformance runs the backend conformance suite on SQLite.
func TestSQLiteConformance(t *testing.T) {
	statetest.Run(t, statetest.Backend{
		New: func(t *testing.T) statetest.State {
			return sqliteState(filepath.Join(t.TempDir(), ".cordon", "state.db"))
		},
		CrashHelper: "TestSQLiteCrashHelper",
	})
}

// sqliteState is a state database file under test.
type sqliteState string

// sqliteCrashEnv names the database TestSQLiteCrashHelper writes to.
const sqliteCrashEnv = "CORDON_STATE_CRASH_DB"

func (p sqliteState) Open(t testing.TB) state.Store {
	t.Helper()
	s, err := state.OpenSQLite(string(p))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func (p sqliteState) Env() []string { return []string{sqliteCrashEnv + "=" + string(p)} }

// SetApplyProcess writes the apply's row through a connection of its own,
// as another process would.
func (p sqliteState) SetApplyProcess(t testing.TB, applyID int64, pid int, host string) {
	t.Helper()
	db, err := sql.Open("sqlite", string(p))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `UPDATE applies SET pid = ?, host = ?, boot_id = '', proc_start = '' WHERE id = ?`,
		pid, host, applyID); err != nil {
		t.Fatal(err)
	}
}

// Exec runs a statement through a connection of its own, as another
// tool would.
func (p sqliteState) Exec(t testing.TB, query string, args ...any) error {
	t.Helper()
	db, err := sql.Open("sqlite", string(p))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(context.Background(), query, args...)
	return err
}

// DropAppendOnly drops table's <table>_no_update and <table>_no_delete
// triggers.
func (p sqliteState) DropAppendOnly(t testing.TB, table string) {
	t.Helper()
	for _, trigger := range []string{table + "_no_update", table + "_no_delete"} {
		if err := p.Exec(t, `DROP TRIGGER `+trigger); err != nil {
			t.Fatalf("dropping %s: %v", trigger, err)
		}
	}
}

// TestSQLiteCrashHelper is the child of the suite's CrashMidApply: it
// opens the database the parent names and dies in the middle of an apply.
func TestSQLiteCrashHelper(t *testing.T) {
	path := os.Getenv(sqliteCrashEnv)
	if path == "" {
		t.Skip("run by TestSQLiteConformance/CrashMidApply")
	}
	s, err := state.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	statetest.CrashChild(t, s)
}
