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
	{2, "the daemon: inbox, rejections, cursors, plans, incident events; rules of actions", schemaV2},
	{3, "holders' boot id and process start time; lock events", schemaV3},
	{4, "the custody log, with the evidence recorded before it chained", schemaV4},
}

// sqliteMigrationSteps are what a migration does besides its SQL, in its
// transaction, by version: what SQL alone cannot compute.
var sqliteMigrationSteps = map[int]func(context.Context, *sql.Tx) error{
	4: sqliteChainEvidence,
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

// schemaV2 adds what `cordon serve` keeps: the inbox of deliveries, the
// rejections, the pollers' cursors, the plans it made (pending approval or
// approved to apply), and the timeline events that are not actions. Actions
// learn the rules that planned them, which max_actions_per_hour counts, and
// incidents the update time and count of the finding they were last planned
// from. Rejections and events are append-only like evidence.
const schemaV2 = `
ALTER TABLE actions ADD COLUMN rules TEXT;
CREATE INDEX actions_recent ON actions (started_at) WHERE kind = 'apply';
CREATE INDEX actions_target ON actions (target_account, target_region, target_type, target_id, started_at);

ALTER TABLE incidents ADD COLUMN finding_updated_at TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN finding_count INTEGER NOT NULL DEFAULT 0;

CREATE TABLE deliveries (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_key       TEXT NOT NULL UNIQUE,
    source             TEXT NOT NULL,
    incident_id        TEXT NOT NULL,
    finding_id         TEXT NOT NULL,
    finding_source     TEXT NOT NULL,
    finding_type       TEXT NOT NULL,
    finding_updated_at TEXT NOT NULL,
    record             TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('queued', 'done')),
    outcome            TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'planned', 'pending', 'dry_run',
                           'no_actions', 'unmatched', 'stale', 'failed')),
    plan_id            TEXT,
    error              TEXT NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    duplicates         INTEGER NOT NULL DEFAULT 0,
    received_at        TEXT NOT NULL,
    finished_at        TEXT,
    CHECK ((status = 'done') = (finished_at IS NOT NULL)),
    CHECK ((status = 'done') = (outcome <> ''))
) STRICT;
CREATE INDEX deliveries_queued ON deliveries (id) WHERE status = 'queued';
CREATE INDEX deliveries_incident ON deliveries (incident_id, id);

CREATE TRIGGER deliveries_done_are_final BEFORE UPDATE OF status, outcome, plan_id, error, finished_at ON deliveries
WHEN OLD.status = 'done'
BEGIN
    SELECT RAISE(ABORT, 'a processed delivery cannot be changed');
END;
CREATE TRIGGER deliveries_no_delete BEFORE DELETE ON deliveries
BEGIN
    SELECT RAISE(ABORT, 'deliveries are append-only');
END;

CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    excerpt     BLOB,
    size        INTEGER NOT NULL CHECK (size >= 0),
    received_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER rejections_no_update BEFORE UPDATE ON rejections
BEGIN
    SELECT RAISE(ABORT, 'rejections are append-only');
END;
CREATE TRIGGER rejections_no_delete BEFORE DELETE ON rejections
BEGIN
    SELECT RAISE(ABORT, 'rejections are append-only');
END;

CREATE TABLE cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE plans (
    id            TEXT PRIMARY KEY,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    delivery_id   INTEGER REFERENCES deliveries (id),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired',
                      'applied', 'failed', 'dry_run', 'stale')),
    reason        TEXT NOT NULL DEFAULT '',
    config_digest TEXT NOT NULL,
    actions       INTEGER NOT NULL CHECK (actions >= 0),
    file          BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    decided_at    TEXT,
    decided_by    TEXT NOT NULL DEFAULT '',
    note          TEXT NOT NULL DEFAULT '',
    apply_id      INTEGER REFERENCES applies (id),
    finished_at   TEXT
) STRICT;
CREATE INDEX plans_status ON plans (status, created_at);
CREATE INDEX plans_incident ON plans (incident_id, created_at);

-- A plan's status only moves forward: pending -> approved | rejected |
-- expired | stale, approved -> applied | failed | stale. Nothing else.
CREATE TRIGGER plans_status_moves_forward BEFORE UPDATE OF status ON plans
WHEN NOT (
    (OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected', 'expired', 'stale')) OR
    (OLD.status = 'approved' AND NEW.status IN ('applied', 'failed', 'stale'))
)
BEGIN
    SELECT RAISE(ABORT, 'a plan''s status cannot move back');
END;
CREATE TRIGGER plans_file_is_final BEFORE UPDATE OF file, incident_id, config_digest ON plans
BEGIN
    SELECT RAISE(ABORT, 'a stored plan cannot be changed');
END;

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    detail      TEXT,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);
CREATE TRIGGER incident_events_no_update BEFORE UPDATE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'incident events are append-only');
END;
CREATE TRIGGER incident_events_no_delete BEFORE DELETE ON incident_events
BEGIN
    SELECT RAISE(ABORT, 'incident events are append-only');
END;
`

// schemaV3 identifies a lock's holder and a running apply's process by
// the host's boot id and the process's start time besides its pid and host
// name, so that a pid reused after a crash (cordon as pid 1 of a restarted
// container) does not keep a dead holder's locks held (see
// process_identity.go). Rows from before keep both empty, and the pid-only
// rule. lock_events records the locks removed from their holders: forced
// by a person or taken over from a dead holder; it is append-only like
// evidence.
const schemaV3 = `
ALTER TABLE locks ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE locks ADD COLUMN proc_start TEXT NOT NULL DEFAULT '';
ALTER TABLE applies ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE applies ADD COLUMN proc_start TEXT NOT NULL DEFAULT '';

CREATE TABLE lock_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('forced', 'taken_over')),
    lock_id     TEXT NOT NULL,
    lock_key    TEXT NOT NULL,
    owner       TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    proc_start  TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    liveness    TEXT NOT NULL CHECK (liveness IN ('alive', 'dead', 'unknown')),
    by_owner    TEXT NOT NULL,
    by_pid      INTEGER NOT NULL,
    by_host     TEXT NOT NULL,
    at          TEXT NOT NULL
) STRICT;
CREATE TRIGGER lock_events_no_update BEFORE UPDATE ON lock_events
BEGIN
    SELECT RAISE(ABORT, 'lock events are append-only');
END;
CREATE TRIGGER lock_events_no_delete BEFORE DELETE ON lock_events
BEGIN
    SELECT RAISE(ABORT, 'lock events are append-only');
END;
`

// schemaV4 adds the custody log. Entries keep the hashed time as the
// hashed text, so a chain can be recomputed from the table with sqlite3
// and a script (docs/custody.md). evidence_id links an entry to the
// evidence record it records; it is checked by VerifyCustody rather than
// by a foreign key, like the rest of the chain. Evidence recorded before
// this version is chained when the migration runs (sqliteChainEvidence).
const schemaV4 = `
CREATE TABLE custody (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    in_state    INTEGER NOT NULL CHECK (in_state IN (0, 1)),
    meta        TEXT,
    at          TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    evidence_id INTEGER UNIQUE,
    PRIMARY KEY (incident_id, seq),
    CHECK ((seq = 1) = (prev_hash = ''))
) STRICT;

CREATE TRIGGER custody_no_update BEFORE UPDATE ON custody
BEGIN
    SELECT RAISE(ABORT, 'the custody log is append-only');
END;
CREATE TRIGGER custody_no_delete BEFORE DELETE ON custody
BEGIN
    SELECT RAISE(ABORT, 'the custody log is append-only');
END;
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
	if step := sqliteMigrationSteps[m.Version]; step != nil {
		if err := step(ctx, tx); err != nil {
			return fmt.Errorf("migrating schema to version %d (%s): %w", m.Version, m.Name, err)
		}
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
