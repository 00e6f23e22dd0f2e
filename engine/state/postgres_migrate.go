package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresMigrations is the PostgreSQL schema's history, numbered like
// sqliteMigrations (from 1, without gaps, never edited once released) but
// on its own: PostgreSQL's first schema is SQLite's third, whole.
var postgresMigrations = []migration{
	{1, "incidents, applies, actions, evidence, locks, lock events; the daemon's inbox, rejections, cursors, plans, incident events; the plan key", pgSchemaV1},
	{2, "the custody log, with the evidence recorded before it chained", pgSchemaV2},
}

// postgresMigrationSteps are what a migration does besides its SQL, in its
// transaction, by version: what SQL alone does not compute.
var postgresMigrationSteps = map[int]func(context.Context, pgx.Tx) error{
	2: pgChainEvidence,
}

// pgMigrationsComment marks a schema_migrations table as cordon's, as
// SQLite's application_id marks its file: other tools keep tables of
// that name too.
const pgMigrationsComment = "cordon state schema"

// pgSchemaV1 is the schema of SQLite's version 3 in PostgreSQL's types:
// timestamptz for times (microseconds; see pgSince), bigint identities for
// ids, boolean for flags, bytea for artefacts, and the same CHECK
// constraints.
//
// JSON documents cordon queries into, or only reads back as values
// (rules, matches, verdicts), are jsonb. Documents whose bytes are part of
// the record are json, which PostgreSQL validates and keeps as written:
// jsonb would reorder keys and respace them, so facts would no longer
// match their recorded digest and a record read back would differ from
// the one written.
//
// Identifiers and keys that are compared or sorted are COLLATE "C": they
// order byte by byte, as in SQLite and Go, whatever the database's
// collation.
//
// The triggers mirror SQLite's: what is append-only cannot be changed or
// deleted (nor truncated, which row triggers would not see), a finished
// action record and a processed delivery are final, and a plan's status
// only moves forward.
const pgSchemaV1 = `
CREATE FUNCTION cordon_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = TG_ARGV[0],
        DETAIL = format('%s on %I', TG_OP, TG_TABLE_NAME);
END
$$;

CREATE TABLE incidents (
    id                 text COLLATE "C" PRIMARY KEY,
    finding_id         text NOT NULL,
    finding_source     text NOT NULL,
    finding_type       text NOT NULL,
    severity           text NOT NULL,
    account            text NOT NULL,
    region             text NOT NULL,
    resource_type      text NOT NULL,
    resource_id        text NOT NULL,
    finding            json,
    matches            jsonb NOT NULL,
    verdicts           jsonb NOT NULL,
    facts              json,
    facts_sha256       text NOT NULL,
    finding_updated_at text COLLATE "C" NOT NULL DEFAULT '',
    finding_count      integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX incidents_created_at ON incidents (created_at);
CREATE INDEX incidents_finding ON incidents (finding_source, finding_id);

CREATE TABLE applies (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id        text COLLATE "C" NOT NULL UNIQUE,
    kind           text NOT NULL CHECK (kind IN ('apply', 'revert')),
    config_digest  text NOT NULL,
    cordon_version text NOT NULL,
    owner          text NOT NULL,
    pid            integer NOT NULL,
    host           text NOT NULL,
    boot_id        text NOT NULL DEFAULT '',
    proc_start     text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('running', 'applied', 'failed', 'partial')),
    summary        json,
    started_at     timestamptz NOT NULL,
    resumed_at     timestamptz,
    finished_at    timestamptz,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX applies_running ON applies (id) WHERE status = 'running';

CREATE TABLE actions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    apply_id       bigint NOT NULL REFERENCES applies (id),
    incident_id    text COLLATE "C" NOT NULL REFERENCES incidents (id),
    kind           text NOT NULL CHECK (kind IN ('apply', 'revert')),
    address        text NOT NULL,
    action_name    text NOT NULL,
    action_type    text NOT NULL,
    phase          text NOT NULL,
    target_type    text NOT NULL,
    target_id      text NOT NULL,
    target_account text NOT NULL,
    target_region  text NOT NULL,
    reversible     boolean NOT NULL,
    revert_of      bigint REFERENCES actions (id),
    before_state   json,
    after_state    json,
    config         json,
    planned        json,
    rules          jsonb CHECK (rules IS NULL OR jsonb_typeof(rules) = 'array'),
    result         text NOT NULL CHECK (result IN ('started', 'applied', 'no_change', 'drifted',
                       'failed', 'skipped', 'interrupted', 'recovered')),
    error          text NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    CHECK ((result = 'started') = (finished_at IS NULL)),
    CHECK ((kind = 'revert') = (revert_of IS NOT NULL))
);
CREATE INDEX actions_incident ON actions (incident_id, id);
CREATE INDEX actions_apply ON actions (apply_id, id);
CREATE INDEX actions_revert_of ON actions (revert_of) WHERE revert_of IS NOT NULL;
CREATE INDEX actions_started ON actions (id) WHERE result = 'started';
CREATE INDEX actions_recent ON actions (started_at) WHERE kind = 'apply';
CREATE INDEX actions_target ON actions (target_account, target_region, target_type, target_id, started_at);

CREATE TRIGGER actions_finished_are_final BEFORE UPDATE OR DELETE ON actions
FOR EACH ROW WHEN (OLD.result <> 'started')
EXECUTE FUNCTION cordon_refuse('a finished action record cannot be changed');
CREATE TRIGGER actions_no_truncate BEFORE TRUNCATE ON actions
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('action records are append-only');

CREATE TABLE evidence (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id text COLLATE "C" NOT NULL REFERENCES incidents (id),
    kind        text NOT NULL,
    name        text NOT NULL,
    sha256      text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    data        bytea,
    meta        json,
    created_at  timestamptz NOT NULL,
    UNIQUE (incident_id, kind, name, sha256)
);
CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON evidence
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('evidence is append-only');
CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('evidence is append-only');

-- A lock's row names its holder; the lock itself is the advisory lock
-- that backend_pid's session holds (postgres_lock.go).
CREATE TABLE locks (
    lock_key    text COLLATE "C" PRIMARY KEY,
    token       text NOT NULL,
    owner       text NOT NULL,
    pid         integer NOT NULL,
    host        text NOT NULL,
    boot_id     text NOT NULL DEFAULT '',
    proc_start  text NOT NULL DEFAULT '',
    backend_pid integer NOT NULL,
    acquired_at timestamptz NOT NULL
);
CREATE INDEX locks_token ON locks (token);

CREATE TABLE lock_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('forced', 'taken_over')),
    lock_id     text NOT NULL,
    lock_key    text COLLATE "C" NOT NULL,
    owner       text NOT NULL,
    pid         integer NOT NULL,
    host        text NOT NULL,
    boot_id     text NOT NULL,
    proc_start  text NOT NULL,
    acquired_at timestamptz NOT NULL,
    liveness    text NOT NULL CHECK (liveness IN ('alive', 'dead', 'unknown')),
    by_owner    text NOT NULL,
    by_pid      integer NOT NULL,
    by_host     text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE TRIGGER lock_events_append_only BEFORE UPDATE OR DELETE ON lock_events
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('lock events are append-only');
CREATE TRIGGER lock_events_no_truncate BEFORE TRUNCATE ON lock_events
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('lock events are append-only');

CREATE TABLE deliveries (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_key       text COLLATE "C" NOT NULL UNIQUE,
    source             text NOT NULL,
    incident_id        text COLLATE "C" NOT NULL,
    finding_id         text NOT NULL,
    finding_source     text NOT NULL,
    finding_type       text NOT NULL,
    finding_updated_at text NOT NULL,
    record             json NOT NULL,
    status             text NOT NULL CHECK (status IN ('queued', 'done')),
    outcome            text NOT NULL DEFAULT '' CHECK (outcome IN ('', 'planned', 'pending', 'dry_run',
                           'no_actions', 'unmatched', 'stale', 'failed')),
    plan_id            text COLLATE "C",
    error              text NOT NULL DEFAULT '',
    attempts           integer NOT NULL DEFAULT 0,
    duplicates         integer NOT NULL DEFAULT 0,
    received_at        timestamptz NOT NULL,
    finished_at        timestamptz,
    CHECK ((status = 'done') = (finished_at IS NOT NULL)),
    CHECK ((status = 'done') = (outcome <> ''))
);
CREATE INDEX deliveries_queued ON deliveries (id) WHERE status = 'queued';
CREATE INDEX deliveries_incident ON deliveries (incident_id, id);
CREATE TRIGGER deliveries_done_are_final BEFORE UPDATE OF status, outcome, plan_id, error, finished_at ON deliveries
FOR EACH ROW WHEN (OLD.status = 'done')
EXECUTE FUNCTION cordon_refuse('a processed delivery cannot be changed');
CREATE TRIGGER deliveries_no_delete BEFORE DELETE ON deliveries
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('deliveries are append-only');
CREATE TRIGGER deliveries_no_truncate BEFORE TRUNCATE ON deliveries
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('deliveries are append-only');

CREATE TABLE rejections (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    reason      text NOT NULL,
    excerpt     bytea,
    size        bigint NOT NULL CHECK (size >= 0),
    received_at timestamptz NOT NULL
);
CREATE TRIGGER rejections_append_only BEFORE UPDATE OR DELETE ON rejections
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('rejections are append-only');
CREATE TRIGGER rejections_no_truncate BEFORE TRUNCATE ON rejections
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('rejections are append-only');

CREATE TABLE cursors (
    name       text COLLATE "C" PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE plans (
    id            text COLLATE "C" PRIMARY KEY,
    incident_id   text COLLATE "C" NOT NULL REFERENCES incidents (id),
    delivery_id   bigint REFERENCES deliveries (id),
    status        text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired',
                      'applied', 'failed', 'dry_run', 'stale')),
    reason        text NOT NULL DEFAULT '',
    config_digest text NOT NULL,
    actions       integer NOT NULL CHECK (actions >= 0),
    file          bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz,
    decided_at    timestamptz,
    decided_by    text NOT NULL DEFAULT '',
    note          text NOT NULL DEFAULT '',
    apply_id      bigint REFERENCES applies (id),
    finished_at   timestamptz
);
CREATE INDEX plans_status ON plans (status, created_at);
CREATE INDEX plans_incident ON plans (incident_id, created_at);

-- A plan's status only moves forward: pending -> approved | rejected |
-- expired | stale, approved -> applied | failed | stale. Nothing else.
CREATE TRIGGER plans_status_moves_forward BEFORE UPDATE OF status ON plans
FOR EACH ROW WHEN (NOT (
    (OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected', 'expired', 'stale')) OR
    (OLD.status = 'approved' AND NEW.status IN ('applied', 'failed', 'stale'))
))
EXECUTE FUNCTION cordon_refuse('a plan''s status cannot move back');
CREATE TRIGGER plans_file_is_final BEFORE UPDATE OF file, incident_id, config_digest ON plans
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('a stored plan cannot be changed');

CREATE TABLE incident_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id text COLLATE "C" NOT NULL REFERENCES incidents (id),
    kind        text NOT NULL,
    summary     text NOT NULL,
    detail      json,
    at          timestamptz NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);
CREATE TRIGGER incident_events_append_only BEFORE UPDATE OR DELETE ON incident_events
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('incident events are append-only');
CREATE TRIGGER incident_events_no_truncate BEFORE TRUNCATE ON incident_events
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('incident events are append-only');

-- The key that signs plan files (see PlanKeys): one row, readable only
-- by cordon's role.
CREATE TABLE plan_key (
    id         integer PRIMARY KEY CHECK (id = 1),
    key        bytea NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL
);
`

// pgSchemaV2 is SQLite's version 4: the custody log (see custody.go and
// sqlite_migrate.go's schemaV4), with PostgreSQL's types and its
// append-only triggers, TRUNCATE included. meta is json, kept as written,
// like evidence's, since its text is hashed; at is timestamptz, which
// holds the microseconds the hash covers. evidence_id links an entry to
// its evidence record without a foreign key: VerifyCustody checks the
// link, and a reference would turn TRUNCATE evidence into another error
// than the trigger's.
const pgSchemaV2 = `
CREATE TABLE custody (
    incident_id text COLLATE "C" NOT NULL REFERENCES incidents (id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    kind        text NOT NULL,
    name        text NOT NULL,
    sha256      text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    in_state    boolean NOT NULL,
    meta        json,
    at          timestamptz NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    evidence_id bigint UNIQUE,
    PRIMARY KEY (incident_id, seq),
    CHECK ((seq = 1) = (prev_hash = ''))
);
CREATE TRIGGER custody_append_only BEFORE UPDATE OR DELETE ON custody
FOR EACH ROW EXECUTE FUNCTION cordon_refuse('the custody log is append-only');
CREATE TRIGGER custody_no_truncate BEFORE TRUNCATE ON custody
FOR EACH STATEMENT EXECUTE FUNCTION cordon_refuse('the custody log is append-only');
`

// migratePostgres brings the schema to the last of ms, in one transaction
// that first takes an advisory lock on the schema's name: replicas
// starting together wait for the first, and find the schema migrated.
// PostgreSQL's DDL is transactional, so a failure leaves the schema at
// its previous version. It returns the schema's name.
//
// The schema is opts' (created here if missing) or the session's
// current_schema(). It is cordon's when it has a schema_migrations table
// marked as cordon's, or no table at all besides River's (river_*, the job
// queue that shares the database, whichever migrated first); any other
// table makes it another application's.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, schema string, ms []migration, mustExist bool) (string, error) {
	for i, m := range ms {
		if m.Version != i+1 {
			return "", fmt.Errorf("internal error: migration %q is numbered %d, want %d", m.Name, m.Version, i+1)
		}
	}
	latest := len(ms)
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		lockName := "cordon/migrate/" + schema
		if schema == "" {
			// The session's schema: take the lock on its name, so two
			// stores on one schema, named or not, serialise.
			var cur *string
			if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&cur); err != nil {
				return err
			}
			if cur == nil && mustExist {
				return fmt.Errorf("%w: no schema of the connection's search_path exists, so none holds cordon state", ErrNotFound)
			}
			if cur == nil {
				return errors.New("no schema of the connection's search_path exists: create one, or name one with search_path")
			}
			schema = *cur
			lockName = "cordon/migrate/" + schema
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, lockName); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if mustExist {
				return fmt.Errorf("%w: schema %s does not exist", ErrNotFound, schema)
			}
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return err
			}
		}
		current, err := pgSchemaVersion(ctx, tx, schema)
		if err != nil {
			return err
		}
		switch {
		case current > latest:
			return tooNew(current, latest)
		case current == 0 && mustExist:
			return fmt.Errorf("%w: schema %s holds no cordon state", ErrNotFound, schema)
		case current == latest:
			return nil
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path = `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
		if current == 0 {
			if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL
            )`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `COMMENT ON TABLE schema_migrations IS '`+pgMigrationsComment+`'`); err != nil {
				return err
			}
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migrating schema to version %d (%s): %w", m.Version, m.Name, err)
			}
			if step := postgresMigrationSteps[m.Version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return fmt.Errorf("migrating schema to version %d (%s): %w", m.Version, m.Name, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
				m.Version, m.Name); err != nil {
				return err
			}
		}
		return nil
	})
	return schema, err
}

// pgSchemaVersion returns the highest migration applied to schema: 0 when
// it holds no table but River's. A schema with other tables and no
// schema_migrations of cordon's is not cordon's.
func pgSchemaVersion(ctx context.Context, tx pgx.Tx, schema string) (int, error) {
	var (
		migrationsTable bool
		comment         *string
		others          []string
	)
	err := tx.QueryRow(ctx, `SELECT
            EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'schema_migrations' AND c.relkind = 'r'),
            (SELECT obj_description(c.oid, 'pg_class') FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'schema_migrations'),
            ARRAY(SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                AND c.relname <> 'schema_migrations' AND c.relname NOT LIKE 'river\_%' ORDER BY c.relname LIMIT 5)
        FROM pg_namespace n WHERE n.nspname = $1`, schema).Scan(&migrationsTable, &comment, &others)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // the schema is being created in this transaction
	}
	if err != nil {
		return 0, err
	}
	if !migrationsTable {
		if len(others) > 0 {
			return 0, fmt.Errorf("%w: schema %s has tables (%s, …) but no schema_migrations", ErrNotStateDatabase, schema, others[0])
		}
		return 0, nil
	}
	if comment == nil || *comment != pgMigrationsComment {
		return 0, fmt.Errorf("%w: schema %s has a schema_migrations table of another application", ErrNotStateDatabase, schema)
	}
	var v *int
	if err := tx.QueryRow(ctx, `SELECT max(version) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&v); err != nil {
		return 0, err
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}
