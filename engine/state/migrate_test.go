package state

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// next is a migration as a later cordon would add one after today's: a
// column with a default, and a table.
var next = migration{len(sqliteMigrations) + 1, "incident notes", `
ALTER TABLE incidents ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE TABLE approvals_next (plan_id TEXT PRIMARY KEY, approved_by TEXT NOT NULL) STRICT;
`}

// withNext is today's migrations and next.
func withNext() []migration { return append(slices.Clone(sqliteMigrations), next) }

// versions returns 1..n.
func versions(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func openWith(t *testing.T, path string, ms ...migration) (*SQLiteStore, error) {
	t.Helper()
	return openSQLite(path, sqliteOptions{migrations: ms})
}

// rawAt creates a database at path migrated with ms only, without the
// store (whose statements need today's schema): a database an older cordon
// left.
func rawAt(t *testing.T, path string, ms []migration) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, url.Values{"_foreign_keys": {"1"}, "_journal_mode": {"WAL"}, "_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrate(context.Background(), db, ms); err != nil {
		t.Fatal(err)
	}
	return db
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

// A database of the first release upgrades to today's schema with its
// records intact.
func TestMigrateUpgradesFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawAt(t, path, sqliteMigrations[:1])
	for _, q := range []string{
		`INSERT INTO incidents (id, finding_id, finding_source, finding_type, severity, account, region,
            resource_type, resource_id, matches, verdicts, facts_sha256, created_at, updated_at)
            VALUES ('inc-1', 'f-1', 'guardduty', 'Backdoor:EC2/X', 'high', '123456789012', 'us-west-2',
            'aws_instance', 'i-1', '[]', '[]', '', '2025-03-01T12:00:00.000000000Z', '2025-03-01T12:00:00.000000000Z')`,
		`INSERT INTO applies (plan_id, kind, config_digest, cordon_version, owner, pid, host, status, started_at, finished_at)
            VALUES ('plan-1', 'apply', 'sha256:abc', 'v1', 'tester', 1, 'h', 'applied', '2025-03-01T12:00:00.000000000Z', '2025-03-01T12:00:01.000000000Z')`,
		`INSERT INTO actions (apply_id, incident_id, kind, address, action_name, action_type, phase, target_type,
            target_id, target_account, target_region, reversible, result, started_at, finished_at)
            VALUES (1, 'inc-1', 'apply', 'action.isolate["i-1"]', 'isolate', 'aws_ec2_isolate', 'contain',
            'aws_instance', 'i-1', '123456789012', 'us-west-2', 1, 'applied',
            '2025-03-01T12:00:00.000000000Z', '2025-03-01T12:00:01.000000000Z')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	defer s.Close()
	if got := appliedVersions(t, s); !slices.Equal(got, versions(len(sqliteMigrations))) {
		t.Errorf("versions applied = %v, want %v", got, versions(len(sqliteMigrations)))
	}
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Actions) != 1 || d.Actions[0].Result != ResultApplied || d.Actions[0].Rules != nil || d.Status != StatusResponded {
		t.Errorf("after upgrade: %d actions, status %s", len(d.Actions), d.Status)
	}
	if _, _, ok, err := s.FindingVersion(ctx, "inc-1"); !ok || err != nil {
		t.Errorf("finding version after upgrade: %v, %v", ok, err)
	}
}

// A later cordon's migration applies on top of today's schema.
func TestMigrateUpgradesToNext(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	putIncident(t, s, testIncident("inc-1", "i-1"))
	ap := beginApply(t, s, "plan-1", KindApply)
	record(t, s, testAction(ap, "inc-1", "isolate", "i-1"), ResultApplied)
	s.Close()

	s, err = openWith(t, path, withNext()...)
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	defer s.Close()
	if got := appliedVersions(t, s); !slices.Equal(got, versions(next.Version)) {
		t.Errorf("versions applied = %v", got)
	}
	var note string
	if err := s.w.QueryRow(`SELECT note FROM incidents WHERE id = 'inc-1'`).Scan(&note); err != nil {
		t.Fatalf("new column: %v", err)
	}
	if err := s.execRaw(t, `INSERT INTO approvals_next VALUES ('plan-1', 'alice')`); err != nil {
		t.Fatalf("new table: %v", err)
	}
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
		s, err := openWith(t, path, withNext()...)
		if err != nil {
			t.Fatal(err)
		}
		if got := appliedVersions(t, s); !slices.Equal(got, versions(next.Version)) {
			t.Errorf("versions applied = %v", got)
		}
		s.Close()
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := openWith(t, path, withNext()...)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenSQLite(path)
	wantErr(t, err, ErrSchemaTooNew)
	wantErr(t, err, fmt.Sprintf("at version %d, this cordon at %d", next.Version, len(sqliteMigrations)))
}

// A migration that fails part-way leaves the database at the version
// before it, with nothing of it applied.
func TestMigrateFailureRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	bad := migration{next.Version, "broken", `
CREATE TABLE half_done (id INTEGER PRIMARY KEY) STRICT;
ALTER TABLE no_such_table ADD COLUMN x TEXT;
`}
	_, err := openWith(t, path, append(slices.Clone(sqliteMigrations), bad)...)
	wantErr(t, err, fmt.Sprintf("migrating schema to version %d (broken)", next.Version))

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("reopening at today's version: %v", err)
	}
	defer s.Close()
	if got := appliedVersions(t, s); !slices.Equal(got, versions(len(sqliteMigrations))) {
		t.Errorf("versions applied = %v", got)
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
	bad := migration{next.Version, "dangling", `
PRAGMA defer_foreign_keys = ON;
INSERT INTO evidence (incident_id, kind, name, sha256, size, created_at) VALUES ('no-such-incident', 'facts', 'x', '', 0, '2025-01-01T00:00:00.000000000Z');
`}
	_, err := openWith(t, path, append(slices.Clone(sqliteMigrations), bad)...)
	wantErr(t, err, "leaves foreign keys violated")
}

func TestMigrationsAreNumbered(t *testing.T) {
	for i, m := range sqliteMigrations {
		if m.Version != i+1 {
			t.Errorf("migration %d (%s) is numbered %d", i, m.Name, m.Version)
		}
	}
	_, err := openWith(t, filepath.Join(t.TempDir(), "state.db"), append(slices.Clone(sqliteMigrations), migration{next.Version + 1, "gap", ""})...)
	wantErr(t, err, fmt.Sprintf("numbered %d, want %d", next.Version+1, next.Version))
}

// Two processes opening a new database at once migrate it once.
func TestMigrateConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	stores := make([]*SQLiteStore, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = openWith(t, path, withNext()...) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	if got := appliedVersions(t, stores[0]); !slices.Equal(got, versions(next.Version)) {
		t.Errorf("versions applied = %v", got)
	}
	for _, s := range stores {
		s.Close()
	}
}
