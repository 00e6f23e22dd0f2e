package state_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/engine/state/statetest"
)

// The PostgreSQL tests need a database: CORDON_PG_DSN names one the tests
// may create schemas in (each test gets a schema of its own, dropped when
// it ends). Without it they are skipped, except in CI (CORDON_CI=1), which
// must run them.

const (
	pgDSNEnv         = "CORDON_PG_DSN"
	pgCrashSchemaEnv = "CORDON_STATE_CRASH_PG_SCHEMA"
)

// pgDSN returns the test database's DSN, or skips the test without one.
func pgDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(pgDSNEnv)
	if dsn == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal(pgDSNEnv + " is not set: CI must run the PostgreSQL tests")
		}
		t.Skip("set " + pgDSNEnv + "=postgres://… to run the PostgreSQL tests")
	}
	return dsn
}

// pgAdmin returns a pool on the test database for the test's own SQL,
// closed when the test ends.
func pgAdmin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// pgSchemaName returns a schema name no other test uses. The schema is
// dropped, with everything in it, when the test ends; the caller creates
// it, or has a store create it.
func pgSchemaName(t testing.TB, admin *pgxpool.Pool) string {
	t.Helper()
	name := "cordon_test_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// pgState is a schema of the test database under test.
type pgState struct {
	dsn, schema string
	admin       *pgxpool.Pool
}

// newPGState creates a fresh, empty schema.
func newPGState(t testing.TB) *pgState {
	t.Helper()
	admin := pgAdmin(t)
	st := &pgState{dsn: pgDSN(t), admin: admin, schema: pgSchemaName(t, admin)}
	if _, err := admin.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{st.schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return st
}

func (p *pgState) open(t testing.TB, o state.PostgresOptions) *state.PostgresStore {
	t.Helper()
	o.Schema = p.schema
	s, err := state.OpenPostgres(context.Background(), p.dsn, o)
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

func (p *pgState) Open(t testing.TB) state.Store { return p.open(t, state.PostgresOptions{}) }

func (p *pgState) Env() []string { return []string{pgCrashSchemaEnv + "=" + p.schema} }

func (p *pgState) SetApplyProcess(t testing.TB, applyID int64, pid int, host string) {
	t.Helper()
	p.exec(t, `UPDATE applies SET pid = $1, host = $2, boot_id = '', proc_start = '' WHERE id = $3`, pid, host, applyID)
}

// exec runs SQL on the schema, going around the store as a buggy or
// hostile writer would.
func (p *pgState) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if err := p.tryExec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (p *pgState) tryExec(query string, args ...any) error {
	ctx := context.Background()
	return pgx.BeginFunc(ctx, p.admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL search_path = `+pgx.Identifier{p.schema}.Sanitize()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, query, args...)
		return err
	})
}

func (p *pgState) Exec(t testing.TB, query string, args ...any) error {
	t.Helper()
	return p.tryExec(query, args...)
}

// DropAppendOnly disables the table's triggers, as its owner can.
func (p *pgState) DropAppendOnly(t testing.TB, table string) {
	t.Helper()
	p.exec(t, `ALTER TABLE `+pgx.Identifier{table}.Sanitize()+` DISABLE TRIGGER USER`)
}

// TestPostgresConformance runs the backend conformance suite on
// PostgreSQL, each test in a schema of its own.
func TestPostgresConformance(t *testing.T) {
	pgDSN(t)
	statetest.Run(t, statetest.Backend{
		New:          func(t *testing.T) statetest.State { return newPGState(t) },
		CrashHelper:  "TestPostgresCrashHelper",
		SessionLocks: true,
	})
}

// TestPostgresCrashHelper is the child of the suite's CrashMidApply: it
// opens the schema the parent names and dies in the middle of an apply,
// holding a lock.
func TestPostgresCrashHelper(t *testing.T) {
	schema := os.Getenv(pgCrashSchemaEnv)
	if schema == "" {
		t.Skip("run by TestPostgresConformance/CrashMidApply")
	}
	s, err := state.OpenPostgres(context.Background(), pgDSN(t), state.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	statetest.CrashChild(t, s)
}

// Replicas starting together on an empty database migrate it once: the
// schema is created, every migration applied once, and every store opens.
func TestPostgresMigratesOnce(t *testing.T) {
	admin := pgAdmin(t)
	dsn := pgDSN(t)
	schema := pgSchemaName(t, admin) // not created: the stores create it
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	stores := make([]*state.PostgresStore, replicas)
	for i := range replicas {
		wg.Go(func() {
			stores[i], errs[i] = state.OpenPostgres(context.Background(), dsn, state.PostgresOptions{Schema: schema})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var versions, distinct, latest int
	if err := admin.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version), max(version) FROM `+
		pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&versions, &distinct, &latest); err != nil {
		t.Fatal(err)
	}
	if versions != latest || distinct != latest {
		t.Errorf("schema_migrations has %d rows (%d versions, up to %d), want each migration once", versions, distinct, latest)
	}
	// Each replica works on the one schema.
	statetest.PutIncident(t, stores[0], statetest.Incident("inc-1", "i-1"))
	for i, s := range stores {
		if _, err := s.Incident(context.Background(), "inc-1"); err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
		if s.Schema() != schema {
			t.Errorf("replica %d: schema %q, want %q", i, s.Schema(), schema)
		}
	}
	// Opening again migrates nothing.
	again, err := state.OpenPostgres(context.Background(), dsn, state.PostgresOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

// A schema that is not cordon's, or newer than this cordon, is refused and
// left as it was.
func TestPostgresRefusesSchemas(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup []string
		opts  state.PostgresOptions
		want  any
	}{
		{"another application's tables", []string{`CREATE TABLE customers (id int)`}, state.PostgresOptions{}, state.ErrNotStateDatabase},
		{"another application's schema_migrations", []string{`CREATE TABLE schema_migrations (version bigint, dirty boolean)`},
			state.PostgresOptions{}, state.ErrNotStateDatabase},
		{"a newer cordon's", []string{`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`,
			`COMMENT ON TABLE schema_migrations IS 'cordon state schema'`,
			`INSERT INTO schema_migrations VALUES (1, 'v1', now()), (99, 'from the future', now())`}, state.PostgresOptions{}, state.ErrSchemaTooNew},
		{"nothing to read", nil, state.PostgresOptions{MustExist: true}, state.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newPGState(t)
			for _, q := range tc.setup {
				st.exec(t, q)
			}
			tc.opts.Schema = st.schema
			s, err := state.OpenPostgres(ctx, st.dsn, tc.opts)
			if err == nil {
				s.Close()
			}
			statetest.WantErr(t, err, tc.want)
			statetest.WantErr(t, err, "schema "+st.schema)
			var tables int
			if err := st.admin.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, st.schema).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != len(tc.setup) && !(tc.name == "a newer cordon's" && tables == 1) {
				t.Errorf("%d tables in the refused schema: it was changed", tables)
			}
		})
	}

	// The job queue's tables, migrated first, do not make a schema
	// another application's.
	st := newPGState(t)
	st.exec(t, `CREATE TABLE river_job (id bigint)`)
	st.open(t, state.PostgresOptions{})
	// And a missing schema is not created for a reader.
	admin := pgAdmin(t)
	missing := pgSchemaName(t, admin)
	_, err := state.OpenPostgres(ctx, pgDSN(t), state.PostgresOptions{Schema: missing, MustExist: true})
	statetest.WantErr(t, err, state.ErrNotFound)
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, missing).Scan(&exists); err != nil || exists {
		t.Errorf("schema %s created by a reader: %v %v", missing, exists, err)
	}
}

// The audit trail is append-only in the database: SQL that goes around the
// store cannot change or remove what is final.
func TestPostgresAuditTrailIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	st := newPGState(t)
	s := st.open(t, state.PostgresOptions{})
	statetest.PutIncident(t, s, statetest.Incident("inc-1", "i-1"))
	ap := statetest.BeginApply(t, s, "plan-1", state.KindApply)
	statetest.Record(t, s, statetest.Action(ap, "inc-1", "isolate", "i-1"), state.ResultApplied)
	statetest.StartAction(t, s, statetest.Action(ap, "inc-1", "stop", "i-1")) // id 2, started
	if err := s.PutEvidence(ctx, state.Evidence{IncidentID: "inc-1", Kind: "facts", Name: "describe", Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddIncidentEvent(ctx, state.IncidentEvent{IncidentID: "inc-1", Kind: state.EventRecurrence, Summary: "again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRejection(ctx, state.Rejection{Source: "http", Reason: "not JSON"}); err != nil {
		t.Fatal(err)
	}
	acc, err := s.AcceptDeliveries(ctx, []state.Delivery{{Key: "k1", Source: "http", IncidentID: "inc-1",
		Record: []byte(`{}`)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan := state.PlanRecord{ID: "plan-p", IncidentID: "inc-1", Status: state.PlanPending, ConfigDigest: "sha256:abc", File: []byte("f")}
	if err := s.FinishDelivery(ctx, acc[0].ID, state.DeliveryResult{Outcome: state.OutcomePending}, &plan); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecidePlan(ctx, "plan-p", state.PlanDecision{Status: state.PlanRejected, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	release, err := s.Lock(ctx, []string{"k1"}, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	locks, _ := s.Locks(ctx)
	if _, err := s.ForceUnlock(ctx, locks[0].ID, "carol@ops-1"); err != nil {
		t.Fatal(err)
	}
	statetest.WantErr(t, release(), "no longer held")

	for _, tc := range []struct {
		query string
		want  string // "" when the statement must succeed
	}{
		{`UPDATE actions SET result = 'failed' WHERE id = 1`, "finished action record cannot be changed"},
		{`DELETE FROM actions WHERE id = 1`, "finished action record cannot be changed"},
		{`TRUNCATE actions CASCADE`, "action records are append-only"},
		{`UPDATE evidence SET sha256 = ''`, "evidence is append-only"},
		{`DELETE FROM evidence`, "evidence is append-only"},
		{`TRUNCATE evidence`, "evidence is append-only"},
		{`UPDATE custody SET name = 'other'`, "the custody log is append-only"},
		{`DELETE FROM custody`, "the custody log is append-only"},
		{`TRUNCATE custody`, "the custody log is append-only"},
		{`UPDATE incident_events SET summary = 'nothing happened'`, "incident events are append-only"},
		{`DELETE FROM incident_events`, "incident events are append-only"},
		{`UPDATE rejections SET reason = ''`, "rejections are append-only"},
		{`DELETE FROM rejections`, "rejections are append-only"},
		{`UPDATE lock_events SET by_owner = 'mallory@ops-2'`, "lock events are append-only"},
		{`DELETE FROM lock_events`, "lock events are append-only"},
		{`TRUNCATE lock_events`, "lock events are append-only"},
		{`UPDATE deliveries SET outcome = 'failed'`, "a processed delivery cannot be changed"},
		{`UPDATE deliveries SET status = 'queued', finished_at = NULL, outcome = ''`, "a processed delivery cannot be changed"},
		{`DELETE FROM deliveries`, "deliveries are append-only"},
		{`UPDATE plans SET status = 'approved'`, "a plan's status cannot move back"},
		{`UPDATE plans SET file = 'other'`, "a stored plan cannot be changed"},
		{`INSERT INTO actions (apply_id, incident_id, kind, address, action_name, action_type, phase, target_type,
            target_id, target_account, target_region, reversible, result, started_at)
            VALUES (1, 'inc-1', 'apply', 'a', 'a', 'a', 'contain', 't', 'i', 'a', 'r', false, 'applied', now())`, "violates check constraint"},
		{`INSERT INTO incidents (id, finding_id, finding_source, finding_type, severity, account, region, resource_type,
            resource_id, matches, verdicts, facts, facts_sha256, created_at, updated_at)
            VALUES ('x', 'f', 's', 't', 'high', 'a', 'r', 'rt', 'ri', '[]', '[]', '{not json', '', now(), now())`, "invalid input syntax for type json"},
		// What may change still can: a started action finishes, a
		// processed delivery counts duplicates.
		{`UPDATE actions SET result = 'applied', finished_at = now() WHERE id = 2`, ""},
		{`UPDATE deliveries SET duplicates = duplicates + 1`, ""},
	} {
		err := st.tryExec(tc.query)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.query, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want refused with %q", tc.query, err, tc.want)
		}
	}
}

// A lock's holder lives as long as its database session: a session ended
// (pg_terminate_backend, or a replica killed) frees its keys, and the next
// Lock takes the lock over, on record.
func TestPostgresLockOfATerminatedSessionIsTakenOver(t *testing.T) {
	ctx := context.Background()
	st := newPGState(t)
	a := st.open(t, state.PostgresOptions{})
	b := st.open(t, state.PostgresOptions{})
	releaseA, err := a.Lock(ctx, []string{"k1", "k2"}, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Lock(ctx, []string{"k2"}, "bob", 0)
	statetest.WantErr(t, err, state.ErrLockTimeout)

	var backend int
	if err := st.admin.QueryRow(ctx, `SELECT DISTINCT backend_pid FROM `+pgx.Identifier{st.schema, "locks"}.Sanitize()).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	var ended bool
	if err := st.admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, backend).Scan(&ended); err != nil || !ended {
		t.Fatalf("terminating alice's lock session %d: %v %v", backend, ended, err)
	}
	locks, err := b.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 2 || locks[0].Liveness != state.LivenessDead || locks[1].Liveness != state.LivenessDead {
		t.Fatalf("locks after alice's session ended = %+v, want both listed, dead", locks)
	}

	releaseB, err := b.Lock(ctx, []string{"k2"}, "bob", 0)
	if err != nil {
		t.Fatalf("alice's lock was not taken over: %v", err)
	}
	ev, err := b.LockEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 || ev[0].Kind != state.LockTakenOver || ev[0].Lock.Key != "k2" || ev[0].Lock.Owner != "alice" ||
		ev[0].Lock.ID != locks[1].ID || ev[0].Lock.Liveness != state.LivenessDead || ev[0].By != "bob" {
		t.Errorf("lock events = %+v, want bob's takeover of alice's k2", ev)
	}
	// Alice learns she lost both; her release leaves bob's lock alone and
	// removes her stale k1.
	statetest.WantErr(t, releaseA(), "2 of 2 were no longer held")
	locks, _ = b.Locks(ctx)
	if len(locks) != 1 || locks[0].Key != "k2" || locks[0].Owner != "bob" || locks[0].Liveness != state.LivenessAlive {
		t.Errorf("locks = %+v, want bob's k2, alive", locks)
	}
	if err := releaseB(); err != nil {
		t.Fatal(err)
	}
}

// A forced unlock of a live holder ends its session, so the key is free at
// once; the holder's other keys are listed dead until taken over.
func TestPostgresForceUnlockEndsTheSession(t *testing.T) {
	ctx := context.Background()
	st := newPGState(t)
	a := st.open(t, state.PostgresOptions{})
	b := st.open(t, state.PostgresOptions{})
	releaseA, err := a.Lock(ctx, []string{"k1", "k2"}, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	locks, _ := b.Locks(ctx)
	if _, err := b.ForceUnlock(ctx, locks[0].ID, "carol@ops-1"); err != nil {
		t.Fatal(err)
	}
	locks, _ = b.Locks(ctx)
	if len(locks) != 1 || locks[0].Key != "k2" || locks[0].Liveness != state.LivenessDead {
		t.Fatalf("locks = %+v, want alice's k2, dead", locks)
	}
	release, err := b.Lock(ctx, []string{"k1", "k2"}, "bob", 0)
	if err != nil {
		t.Fatalf("keys of the ended session: %v", err)
	}
	ev, _ := b.LockEvents(ctx)
	if len(ev) != 2 || ev[0].Kind != state.LockForced || ev[1].Kind != state.LockTakenOver || ev[1].Lock.Key != "k2" {
		t.Errorf("lock events = %+v, want the forced k1, then the takeover of k2", ev)
	}
	statetest.WantErr(t, releaseA(), "no longer held")
	if err := release(); err != nil {
		t.Fatal(err)
	}
}

// max_actions_per_hour holds across replicas: stores racing for a rule's
// last slots take exactly its limit.
func TestPostgresLimitAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	st := newPGState(t)
	const replicas, workers, limit = 4, 16, 5
	stores := make([]*state.PostgresStore, replicas)
	for i := range stores {
		stores[i] = st.open(t, state.PostgresOptions{})
	}
	for i := range workers {
		statetest.PutIncident(t, stores[0], statetest.Incident(fmt.Sprintf("inc-%d", i), fmt.Sprintf("i-%d", i)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	started, withheld := 0, 0
	for i := range workers {
		wg.Go(func() {
			s := stores[i%replicas]
			ap, err := s.BeginApply(ctx, state.ApplyStart{PlanID: fmt.Sprintf("plan-%d", i), Kind: state.KindApply,
				ConfigDigest: "sha256:abc", CordonVersion: "test", Owner: "tester", StartedAt: statetest.T0})
			if err != nil {
				t.Error(err)
				return
			}
			a := statetest.Action(ap, fmt.Sprintf("inc-%d", i), "isolate", fmt.Sprintf("i-%d", i))
			a.Rules, a.Limits = []string{"ec2", "any"}, []state.RuleLimit{{Rule: "ec2", PerHour: limit}, {Rule: "any", PerHour: 100}}
			_, err = s.ActionStarted(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, state.ErrWithheld):
				withheld++
			case err != nil:
				t.Error(err)
			default:
				started++
			}
		})
	}
	wg.Wait()
	if started != limit || withheld != workers-limit {
		t.Fatalf("%d started, %d withheld across %d replicas; want %d and %d", started, withheld, replicas, limit, workers-limit)
	}
}

// recordingEnqueuer writes each job to a table in the transaction it is
// given, so a job exists exactly when that transaction commits.
type recordingEnqueuer struct {
	fail error
}

func (e *recordingEnqueuer) Enqueue(ctx context.Context, tx pgx.Tx, jobs []state.Job) error {
	if e.fail != nil {
		return e.fail
	}
	for _, j := range jobs {
		if _, err := tx.Exec(ctx, `INSERT INTO test_jobs (kind, delivery_id, plan_id, incident_id) VALUES ($1, $2, $3, $4)`,
			string(j.Kind), j.DeliveryID, j.PlanID, j.IncidentID); err != nil {
			return err
		}
	}
	return nil
}

// The writes that create work enqueue its jobs in their own transaction,
// and only then: a new delivery, a plan stored approved, a plan approved.
func TestPostgresEnqueuesJobs(t *testing.T) {
	ctx := context.Background()
	st := newPGState(t)
	enq := &recordingEnqueuer{}
	s := st.open(t, state.PostgresOptions{Enqueuer: enq})
	st.exec(t, `CREATE TABLE test_jobs (n serial, kind text, delivery_id bigint, plan_id text, incident_id text)`)
	jobs := func() []string {
		t.Helper()
		rows, err := st.admin.Query(ctx, `SELECT kind || ' ' || delivery_id || ' ' || plan_id || ' ' || incident_id FROM `+
			pgx.Identifier{st.schema, "test_jobs"}.Sanitize()+` ORDER BY n`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(step string, w ...string) {
		t.Helper()
		if got := jobs(); strings.Join(got, "; ") != strings.Join(w, "; ") {
			t.Fatalf("after %s, jobs = %q, want %q", step, got, w)
		}
	}
	d := func(key, inc string) state.Delivery {
		return state.Delivery{Key: key, Source: "http", IncidentID: inc, FindingID: "f-" + inc, Record: []byte(`{}`), ReceivedAt: statetest.T0}
	}
	plan := func(id string, st state.PlanStatus) *state.PlanRecord {
		return &state.PlanRecord{ID: id, IncidentID: "inc-1", Status: st, ConfigDigest: "sha256:abc", File: []byte("f"), CreatedAt: statetest.T0}
	}

	acc, err := s.AcceptDeliveries(ctx, []state.Delivery{d("k2", "inc-2"), d("k1", "inc-1"), d("k2", "inc-2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, k1 := acc[0].ID, acc[1].ID
	want("accepting k2, k1 and k2 again", fmt.Sprintf("investigate %d  inc-2", k2), fmt.Sprintf("investigate %d  inc-1", k1))
	if _, err := s.AcceptDeliveries(ctx, []state.Delivery{d("k1", "inc-1")}, nil); err != nil {
		t.Fatal(err)
	}
	want("a duplicate", fmt.Sprintf("investigate %d  inc-2", k2), fmt.Sprintf("investigate %d  inc-1", k1))
	base := jobs()

	// A failing enqueuer fails the write: no delivery without its job.
	enq.fail = errors.New("queue unavailable")
	_, err = s.AcceptDeliveries(ctx, []state.Delivery{d("k3", "inc-3")}, &state.Cursor{Name: "c", Value: "1"})
	statetest.WantErr(t, err, "queue unavailable")
	if q, _ := s.QueuedDeliveries(ctx, 0, 0); len(q) != 2 {
		t.Errorf("queued = %d deliveries, want k3 not stored", len(q))
	}
	if _, ok, _ := s.Cursor(ctx, "c"); ok {
		t.Error("the cursor moved with a failed accept")
	}
	enq.fail = nil

	inc := statetest.Incident("inc-1", "i-1")
	if err := s.FinishDelivery(ctx, k1, state.DeliveryResult{Outcome: state.OutcomePlanned, Incident: &inc}, plan("plan-a", state.PlanApproved)); err != nil {
		t.Fatal(err)
	}
	want("a delivery planned approved", append(base, "apply 0 plan-a inc-1")...)
	// Finishing it again fails, and enqueues nothing.
	err = s.FinishDelivery(ctx, k1, state.DeliveryResult{Outcome: state.OutcomePlanned}, plan("plan-b", state.PlanApproved))
	statetest.WantErr(t, err, "already processed")
	want("a second finish", append(base, "apply 0 plan-a inc-1")...)

	if err := s.FinishDelivery(ctx, k2, state.DeliveryResult{Outcome: state.OutcomePending}, plan("plan-p", state.PlanPending)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPlan(ctx, *plan("plan-dry", state.PlanDryRun)); err != nil {
		t.Fatal(err)
	}
	want("a pending and a dry-run plan", append(base, "apply 0 plan-a inc-1")...)
	if _, err := s.DecidePlan(ctx, "plan-p", state.PlanDecision{Status: state.PlanApproved, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPlan(ctx, *plan("plan-r", state.PlanApproved)); err != nil {
		t.Fatal(err)
	}
	// Stored again, it is not stored, nor enqueued.
	if err := s.PutPlan(ctx, *plan("plan-r", state.PlanApproved)); err != nil {
		t.Fatal(err)
	}
	want("an approval and a plan stored approved", append(base, "apply 0 plan-a inc-1", "apply 0 plan-p inc-1", "apply 0 plan-r inc-1")...)
	if err := s.PutPlan(ctx, *plan("plan-x", state.PlanPending)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecidePlan(ctx, "plan-x", state.PlanDecision{Status: state.PlanRejected, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	want("a rejection", append(base, "apply 0 plan-a inc-1", "apply 0 plan-p inc-1", "apply 0 plan-r inc-1")...)

	// Without an enqueuer, nothing is enqueued.
	s.SetEnqueuer(nil)
	if _, err := s.AcceptDeliveries(ctx, []state.Delivery{d("k4", "inc-4")}, nil); err != nil {
		t.Fatal(err)
	}
	want("no enqueuer", append(base, "apply 0 plan-a inc-1", "apply 0 plan-p inc-1", "apply 0 plan-r inc-1")...)
}

// The DSN's password appears in no error, whatever fails: the password,
// the host, the DSN itself, or a query of an open store.
func TestPostgresDSNPasswordNeverShown(t *testing.T) {
	dsn := pgDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Pa55-w0rd/that@must:never%show"
	esc := strings.NewReplacer("%", "%25", "/", "%2F", "@", "%40", ":", "%3A").Replace(secret)
	hostPort := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	for _, tc := range []struct {
		name, dsn string
		secrets   []string
		want      string
	}{
		{"wrong password", fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=5", cfg.User, esc, hostPort, cfg.Database),
			[]string{secret, esc}, "password authentication failed"},
		{"wrong password, key=value", fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=5 password='%s'",
			cfg.Host, cfg.Port, cfg.User, cfg.Database, secret), []string{secret}, "password authentication failed"},
		{"nobody listening", fmt.Sprintf("postgres://cordon:%s@127.0.0.1:1/cordon?sslmode=disable&connect_timeout=5", esc),
			[]string{secret, esc}, "127.0.0.1"},
		{"unknown host", fmt.Sprintf("postgres://cordon:%s@no-such-host.invalid/cordon?connect_timeout=5", esc),
			[]string{secret, esc}, "no-such-host.invalid"},
		{"not a port", "postgres://cordon:" + esc + "@127.0.0.1:port/cordon", []string{secret, esc}, "not a PostgreSQL connection string"},
		{"unescaped password", "postgres://cordon:" + secret + "@127.0.0.1/cordon", []string{secret}, "not a PostgreSQL connection string"},
		{"bad escape", "postgres://cordon:S3cr%zz-et@127.0.0.1/cordon", []string{"S3cr%zz-et"}, "not a PostgreSQL connection string"},
		{"bad key=value", "host=127.0.0.1 port=x password=S3cret-kv-pw", []string{"S3cret-kv-pw"}, "not a PostgreSQL connection string"},
		{"password in the query", "postgres://cordon@127.0.0.1:1/cordon?password=" + esc + "&connect_timeout=5", []string{secret, esc}, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := state.OpenPostgres(context.Background(), tc.dsn, state.PostgresOptions{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			t.Logf("error: %v", err)
			for _, sec := range tc.secrets {
				if piece := leaked(fmt.Sprintf("%v %+v %#v", err, err, err), sec); piece != "" {
					t.Errorf("error shows %q of the password %q: %v", piece, sec, err)
				}
			}
			statetest.WantErr(t, err, tc.want)
		})
	}

	// An open store: its description and the errors of a lost database.
	if cfg.Password == "" {
		t.Skip(pgDSNEnv + " has no password to look for")
	}
	st := newPGState(t)
	s := st.open(t, state.PostgresOptions{})
	if strings.Contains(s.String(), ":"+cfg.Password+"@") || !strings.Contains(s.String(), st.schema) {
		t.Errorf("String() = %q", s.String())
	}
	if _, err := st.admin.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{st.schema}.Sanitize()+` CASCADE`); err != nil {
		t.Fatal(err)
	}
	_, err = s.Incidents(context.Background(), state.IncidentFilter{})
	statetest.WantErr(t, err, "state database postgres://")
	statetest.WantErr(t, err, `relation "incidents" does not exist`)
}

// leaked returns a piece of secret, six characters or more, that text
// shows, or "".
func leaked(text, secret string) string {
	const n = 6
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+n]) {
			return secret[i : i+n]
		}
	}
	return ""
}

// String describes the database without its password.
func TestPostgresDescription(t *testing.T) {
	st := newPGState(t)
	s := st.open(t, state.PostgresOptions{})
	cfg, err := pgx.ParseConfig(st.dsn)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("postgres://%s@%s:%d/%s (schema %s)", cfg.User, cfg.Host, cfg.Port, cfg.Database, st.schema)
	if s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}
}

// BenchmarkActionPair measures what recording one action costs an apply on
// PostgreSQL: ActionStarted then ActionFinished, two committed
// transactions (see the SQLite benchmark). Serial is one goroutine;
// parallel is GOMAXPROCS goroutines recording at once.
func BenchmarkPostgresActionPair(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			st := newPGState(b)
			s := st.open(b, state.PostgresOptions{})
			statetest.PutIncident(b, s, statetest.Incident("inc-1", "i-1"))
			ap := statetest.BeginApply(b, s, "plan-1", state.KindApply)
			ctx := context.Background()
			out := statetest.Applied(`{"security_groups":["sg-iso"]}`)
			var mu sync.Mutex
			n := 0
			pair := func() error {
				mu.Lock()
				n++
				instance := fmt.Sprint("i-", n)
				mu.Unlock()
				id, err := s.ActionStarted(ctx, statetest.Action(ap, "inc-1", "isolate", instance))
				if err != nil {
					return err
				}
				return s.ActionFinished(ctx, id, out)
			}
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := pair(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if err := pair(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}

// The plan key is one row every process sharing the database agrees on,
// created once however many create it at once.
func TestPostgresPlanKey(t *testing.T) {
	ctx := context.Background()
	st := newPGState(t)
	a := st.open(t, state.PostgresOptions{})
	b := st.open(t, state.PostgresOptions{})
	_, err := a.PlanKey(ctx, false)
	statetest.WantErr(t, err, state.ErrNoPlanKey)
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	errs := make([]error, len(keys))
	for i := range keys {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			keys[i], errs[i] = s.PlanKey(ctx, true)
		})
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || len(keys[i]) != state.PlanKeySize || string(keys[i]) != string(keys[0]) {
			t.Fatalf("key %d = %x, %v; want the one key of %d bytes (%x)", i, keys[i], errs[i], state.PlanKeySize, keys[0])
		}
	}
	got, err := b.PlanKey(ctx, false)
	if err != nil || string(got) != string(keys[0]) {
		t.Errorf("the key read = %x, %v; want %x", got, err, keys[0])
	}
}
