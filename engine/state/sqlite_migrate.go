package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// A migration moves the schema from Version-1 to Version. Migrations are
// numbered from 1 without gaps and never edited once released: a change is
// a new migration.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// sqliteMigrations is the SQLite schema's history.
var sqliteMigrations = []migration{
	{1, "incidents, applies, actions, evidence, locks", schemaV1},
}

// schemaV1 is the first schema. Tables are STRICT, so a value of the wrong
// type is an error rather than silently stored. JSON is TEXT; times are
// RFC 3339 text in UTC (see timeLayout). Triggers make the audit trail
// append-only where it must be: a finished action record and an evidence
// record cannot be changed.
const schemaV1 = `
PRAGMA application_id = 1668248164;

CREATE TABLE incidents (
    id             TEXT PRIMARY KEY,
    finding_id     TEXT NOT NULL,
    finding_source TEXT NOT NULL,
    finding_type   TEXT NOT NULL,
    severity       TEXT NOT NULL,
    account        TEXT NOT NULL,
    region         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    finding        TEXT,
    matches        TEXT NOT NULL,
    verdicts       TEXT NOT NULL,
    facts          TEXT,
    facts_sha256   TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
CREATE INDEX incidents_created_at ON incidents (created_at);
CREATE INDEX incidents_finding ON incidents (finding_source, finding_id);

CREATE TABLE applies (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id        TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('apply', 'revert')),
    config_digest  TEXT NOT NULL,
    cordon_version TEXT NOT NULL,
    owner          TEXT NOT NULL,
    pid            INTEGER NOT NULL,
    host           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('running', 'applied', 'failed', 'partial')),
    summary        TEXT,
    started_at     TEXT NOT NULL,
    resumed_at     TEXT,
    finished_at    TEXT,
    CHECK ((status = 'running') = (finished_at IS NULL))
) STRICT;
CREATE INDEX applies_running ON applies (id) WHERE status = 'running';

CREATE TABLE actions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    apply_id       INTEGER NOT NULL REFERENCES applies (id),
    incident_id    TEXT NOT NULL REFERENCES incidents (id),
    kind           TEXT NOT NULL CHECK (kind IN ('apply', 'revert')),
    address        TEXT NOT NULL,
    action_name    TEXT NOT NULL,
    action_type    TEXT NOT NULL,
    phase          TEXT NOT NULL,
    target_type    TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    target_account TEXT NOT NULL,
    target_region  TEXT NOT NULL,
    reversible     INTEGER NOT NULL CHECK (reversible IN (0, 1)),
    revert_of      INTEGER REFERENCES actions (id),
    before_state   TEXT,
    after_state    TEXT,
    config         TEXT,
    planned        TEXT,
    result         TEXT NOT NULL CHECK (result IN ('started', 'applied', 'no_change', 'drifted',
                       'failed', 'skipped', 'interrupted', 'recovered')),
    error          TEXT NOT NULL DEFAULT '',
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    CHECK ((result = 'started') = (finished_at IS NULL)),
    CHECK ((kind = 'revert') = (revert_of IS NOT NULL))
) STRICT;
CREATE INDEX actions_incident ON actions (incident_id, id);
CREATE INDEX actions_apply ON actions (apply_id, id);
CREATE INDEX actions_revert_of ON actions (revert_of) WHERE revert_of IS NOT NULL;
CREATE INDEX actions_started ON actions (id) WHERE result = 'started';

CREATE TRIGGER actions_finished_are_final BEFORE UPDATE ON actions
WHEN OLD.result <> 'started'
BEGIN
    SELECT RAISE(ABORT, 'a finished action record cannot be changed');
END;

CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    data        BLOB,
    meta        TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (incident_id, kind, name, sha256)
) STRICT;

CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only');
END;
CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only');
END;

CREATE TABLE locks (
    lock_key    TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    acquired_at TEXT NOT NULL
) STRICT;
CREATE INDEX locks_token ON locks (token);
`

// migrate brings the schema of db up to the last of ms, each migration in
// its own transaction with its schema_migrations row, so a failure leaves
// the database at the previous version. Transactions begin IMMEDIATE (the
// writer's _txlock), and the version is read again inside each, so two
// processes opening a new database at once migrate it once.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("internal error: migration %q is numbered %d, want %d", m.Name, m.Version, i+1)
		}
	}
	latest := len(ms)

	var appID int64
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return err
	}
	if appID != 0 && appID != applicationID {
		return fmt.Errorf("%w: it is a SQLite database of another application (application_id %#x)", ErrNotStateDatabase, appID)
	}
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current > latest {
		return tooNew(current, latest)
	}
	for _, m := range ms[current:] {
		if err := applyMigration(ctx, db, m, latest); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration, latest int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	switch {
	case current > latest:
		return tooNew(current, latest)
	case current >= m.Version:
		return nil // another process migrated it meanwhile
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at TEXT NOT NULL
    ) STRICT`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migrating schema to version %d (%s): %w", m.Version, m.Name, err)
	}
	// A migration that rebuilds a table can leave dangling references,
	// which foreign key enforcement does not check retroactively.
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	bad := rows.Next()
	rows.Close()
	if bad {
		return fmt.Errorf("migrating schema to version %d (%s): it leaves foreign keys violated", m.Version, m.Name)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, formatTime(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion returns the highest migration applied: 0 for a new, empty
// database. A database with tables but no schema_migrations is not
// cordon's.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var migrationsTable, others int
	err := q.QueryRowContext(ctx, `SELECT
        count(*) FILTER (WHERE name = 'schema_migrations'),
        count(*) FILTER (WHERE name <> 'schema_migrations')
        FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&migrationsTable, &others)
	if err != nil {
		return 0, err
	}
	if migrationsTable == 0 {
		if others > 0 {
			return 0, fmt.Errorf("%w: it has tables but no schema_migrations", ErrNotStateDatabase)
		}
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

func tooNew(current, latest int) error {
	return fmt.Errorf("%w (the database is at version %d, this cordon at %d): upgrade cordon to use it",
		ErrSchemaTooNew, current, latest)
}
