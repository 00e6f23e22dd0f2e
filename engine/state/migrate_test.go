package state

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// v2 is a second migration as a later cordon would add one: a column with
// a default, and a table.
var v2 = migration{2, "incident notes", `
ALTER TABLE incidents ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE TABLE approvals (plan_id TEXT PRIMARY KEY, approved_by TEXT NOT NULL) STRICT;
`}

func openWith(t *testing.T, path string, ms ...migration) (*SQLiteStore, error) {
	t.Helper()
	return openSQLite(path, sqliteOptions{migrations: ms})
}

func appliedVersions(t *testing.T, s *SQLiteStore) []int {
	t.Helper()
	rows, err := s.w.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestMigrateUpgradesFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	v1 := sqliteMigrations[0]

	s, err := openWith(t, path, v1)
	if err != nil {
		t.Fatal(err)
	}
	putIncident(t, s, testIncident("inc-1", "i-1"))
	ap := beginApply(t, s, "plan-1", KindApply)
	record(t, s, testAction(ap, "inc-1", "isolate", "i-1"), ResultApplied)
	s.Close()

	s, err = openWith(t, path, v1, v2)
	if err != nil {
		t.Fatalf("upgrading to version 2: %v", err)
	}
	defer s.Close()
	if got := appliedVersions(t, s); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("versions applied = %v, want [1 2]", got)
	}
	var note string
	if err := s.w.QueryRow(`SELECT note FROM incidents WHERE id = 'inc-1'`).Scan(&note); err != nil {
		t.Fatalf("new column: %v", err)
	}
	if err := s.execRaw(t, `INSERT INTO approvals VALUES ('plan-1', 'alice')`); err != nil {
		t.Fatalf("new table: %v", err)
	}
	// The version 1 data reads back through the API.
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Actions) != 1 || d.Actions[0].Result != ResultApplied || d.Status != StatusResponded {
		t.Errorf("after upgrade: %d actions, status %s", len(d.Actions), d.Status)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	for range 2 {
		s, err := openWith(t, path, sqliteMigrations[0], v2)
		if err != nil {
			t.Fatal(err)
		}
		if got := appliedVersions(t, s); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("versions applied = %v, want [1 2]", got)
		}
		s.Close()
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := openWith(t, path, sqliteMigrations[0], v2)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = openWith(t, path, sqliteMigrations[0])
	wantErr(t, err, ErrSchemaTooNew)
	wantErr(t, err, "at version 2, this cordon at 1")
}

// A migration that fails part-way leaves the database at the version
// before it, with nothing of it applied.
func TestMigrateFailureRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	bad := migration{2, "broken", `
CREATE TABLE half_done (id INTEGER PRIMARY KEY) STRICT;
ALTER TABLE no_such_table ADD COLUMN x TEXT;
`}
	_, err := openWith(t, path, sqliteMigrations[0], bad)
	wantErr(t, err, "migrating schema to version 2 (broken)")

	s, err := openWith(t, path, sqliteMigrations[0])
	if err != nil {
		t.Fatalf("reopening at version 1: %v", err)
	}
	defer s.Close()
	if got := appliedVersions(t, s); !slices.Equal(got, []int{1}) {
		t.Errorf("versions applied = %v, want [1]", got)
	}
	var n int
	if err := s.w.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the failed migration's first statement was kept")
	}
}

func TestMigrateRefusesDanglingForeignKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	// A migration that rebuilds a table defers foreign key enforcement;
	// the check after it catches what the rebuild broke.
	bad := migration{2, "dangling", `
PRAGMA defer_foreign_keys = ON;
INSERT INTO evidence (incident_id, kind, name, sha256, size, created_at) VALUES ('no-such-incident', 'facts', 'x', '', 0, '2025-01-01T00:00:00.000000000Z');
`}
	_, err := openWith(t, path, sqliteMigrations[0], bad)
	wantErr(t, err, "leaves foreign keys violated")
}

func TestMigrationsAreNumbered(t *testing.T) {
	for i, m := range sqliteMigrations {
		if m.Version != i+1 {
			t.Errorf("migration %d (%s) is numbered %d", i, m.Name, m.Version)
		}
	}
	_, err := openWith(t, filepath.Join(t.TempDir(), "state.db"), sqliteMigrations[0], migration{3, "gap", ""})
	wantErr(t, err, "numbered 3, want 2")
}

// Two processes opening a new database at once migrate it once.
func TestMigrateConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	stores := make([]*SQLiteStore, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = openWith(t, path, sqliteMigrations[0], v2) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	if got := appliedVersions(t, stores[0]); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("versions applied = %v, want [1 2]", got)
	}
	for _, s := range stores {
		s.Close()
	}
}
