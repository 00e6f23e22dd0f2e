package serve_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// Several replicas on one PostgreSQL state, in one process: each has its
// own store (pool), daemon and API, as separate processes would; the work
// is claimed through River. cmd/cordon's tests kill real replica processes.

// pgDSN returns the test database's DSN, or skips without one (CI must
// run these tests: CORDON_CI=1 makes a missing DSN a failure).
func pgDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("CORDON_PG_DSN")
	if dsn == "" {
		if os.Getenv("CORDON_CI") == "1" {
			t.Fatal("CORDON_PG_DSN is not set: CI must run the PostgreSQL tests")
		}
		t.Skip("set CORDON_PG_DSN=postgres://… to run the PostgreSQL tests")
	}
	return dsn
}

// pgSchema creates a schema for the test, dropped when it ends.
func pgSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn = pgDSN(t)
	admin, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema = "cordon_serve_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		admin.Close()
	})
	return dsn, schema
}

// replica is one daemon of a replicated deployment.
type replica struct {
	d      *serve.Daemon
	store  *state.PostgresStore
	base   string
	cancel context.CancelFunc
	done   chan error
}

// replicaSet is several daemons on one schema, one emulator and one
// webhook receiver.
type replicaSet struct {
	*harness
	dsn, schema string
	replicas    []*replica
}

func newReplicaSet(t *testing.T, fleet int) (*replicaSet, []benchInstance) {
	t.Helper()
	h := newHarness(t, nil)
	var instances []benchInstance
	if fleet > 0 {
		seed, in := benchFleet(t, fleet)
		instances = in
		h.emu = awsemu.New(seed)
		srv := httptest.NewServer(h.emu)
		t.Cleanup(srv.Close)
		var err error
		h.aws, err = awsclient.New(context.Background(), awsclient.Options{
			Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
			Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
			MaxBackoff:  time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dsn, schema := pgSchema(t)
	return &replicaSet{harness: h, dsn: dsn, schema: schema}, instances
}

// startReplica starts one more daemon; its logs go to the shared buffer.
func (rs *replicaSet) startReplica(opts ...func(*serve.Options)) *replica {
	t := rs.t
	t.Helper()
	st, err := state.OpenPostgres(context.Background(), rs.dsn, state.PostgresOptions{Schema: rs.schema})
	if err != nil {
		t.Fatal(err)
	}
	o := serve.Options{
		Engine:      engine.Options{Dir: "testdata/daemon", Values: rs.vars, ValuesSource: "the test"},
		Listen:      "127.0.0.1:0",
		Token:       testToken,
		Logger:      slog.New(slog.NewTextHandler(rs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Store:       st,
		AWS:         rs.aws,
		RescueAfter: 3 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	listening := make(chan string, 1)
	o.OnListen = func(api, _ string) { listening <- api }
	d, diags, err := serve.New(context.Background(), o)
	if err != nil {
		t.Fatalf("serve.New: %v %v", err, diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{d: d, store: st, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	select {
	case addr := <-listening:
		r.base = "http://" + addr
	case err := <-r.done:
		t.Fatalf("replica stopped at start: %v\n%s", err, rs.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("replica did not start")
	}
	rs.replicas = append(rs.replicas, r)
	t.Cleanup(func() { r.stop(t); st.Close() })
	return r
}

func (r *replica) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("replica: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("replica did not stop")
	}
	r.cancel = nil
}

// post posts to one replica's API; replicas are posted to concurrently.
func (rs *replicaSet) post(r *replica, body []byte) serveFindingsResponse {
	rs.t.Helper()
	return rs.harness.postTo(r.base, body)
}

// idleAll waits until no delivery is queued, no plan approved and not
// applied, and River has no job left to work.
func (rs *replicaSet) idleAll(st state.Store) {
	rs.t.Helper()
	rs.waitFor("the replicas to be idle", func() bool {
		ctx := context.Background()
		q, err := st.QueuedDeliveries(ctx, 0, 0)
		if err != nil || len(q) > 0 {
			return false
		}
		p, err := st.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanApproved}})
		if err != nil || len(p) > 0 {
			return false
		}
		var jobs int
		err = rs.replicas[0].store.Pool().QueryRow(ctx,
			`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'pending')
            OR (state = 'scheduled' AND scheduled_at < now() + interval '10 seconds')`).Scan(&jobs)
		return err == nil && jobs == 0
	})
}

// Two replicas; distinct findings posted alternately to both, each twice:
// each incident once, each action applied once.
func TestReplicasActOnceEach(t *testing.T) {
	const n = 40
	rs, fleet := newReplicaSet(t, n)
	a, b := rs.startReplica(), rs.startReplica()
	var base map[string]any
	json.Unmarshal(finding(t, web1Finding, nil), &base)
	var wg sync.WaitGroup
	for i := range n {
		body := benchFinding(t, base, i, fleet[i])
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		wg.Add(2)
		go func() { defer wg.Done(); rs.post(first, body) }()
		go func() { defer wg.Done(); rs.post(second, body) }()
	}
	wg.Wait()
	rs.idleAll(a.store)

	list, err := a.store.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil || len(list) != n {
		t.Fatalf("%d incidents (%v), want %d", len(list), err, n)
	}
	for _, inc := range list {
		if inc.Status != state.StatusResponded {
			t.Errorf("%s: %s", inc.ID, inc.Status)
		}
	}
	perENI := map[string]int{}
	stops := map[string]int{}
	for _, c := range rs.emu.Calls() {
		if c.Status != 200 {
			continue
		}
		switch c.Operation {
		case "ModifyNetworkInterfaceAttribute":
			for _, id := range c.ResourceIDs {
				perENI[id]++
			}
		case "StopInstances":
			for _, id := range c.ResourceIDs {
				stops[id]++
			}
		}
	}
	for _, in := range fleet {
		if perENI[in.eni] != 1 || stops[in.id] != 1 {
			t.Errorf("%s: isolated %d times, stopped %d times; want once each", in.id, perENI[in.eni], stops[in.id])
		}
	}
	dups := 0
	ds, _ := a.store.Deliveries(context.Background(), state.DeliveryFilter{})
	for _, d := range ds {
		dups += d.Duplicates
	}
	if len(ds) != n || dups != n {
		t.Errorf("%d deliveries with %d duplicates; want %d and %d", len(ds), dups, n, n)
	}
	// Both replicas did some of the work.
	worked := map[string]bool{}
	for _, line := range strings.Split(rs.logs.String(), "\n") {
		if strings.Contains(line, `msg="plan applied"`) {
			worked["any"] = true
		}
	}
	if !worked["any"] {
		t.Error("no plan applied")
	}
}

// A replica stopped mid-apply (its jobs cancelled) has its work finished
// by the other, repeating nothing.
func TestReplicaStoppedMidApplyIsTakenOver(t *testing.T) {
	rs, _ := newReplicaSet(t, 0)
	rs.emu.Faults().Latency("ec2:StopInstances", 3*time.Second)
	a := rs.startReplica(func(o *serve.Options) { o.ShutdownTimeout = 200 * time.Millisecond })
	rs.post(a, finding(t, web1Finding, nil))
	rs.waitFor("web-1 isolated", func() bool { return rs.isolated(web1) })
	b := rs.startReplica()
	a.stop(t) // its apply is cancelled mid-stop
	rs.emu.Faults().Clear()
	rs.waitFor("web-1 stopped by the other replica", func() bool { return rs.instance(web1).State == "stopped" })
	rs.idleAll(b.store)
	if n := rs.calls("ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation made %d times, want 1", n)
	}
	plans, _ := b.store.Plans(context.Background(), state.PlanFilter{})
	if len(plans) != 1 || plans[0].Status != state.PlanApplied {
		t.Errorf("plans %+v, want one applied", plans)
	}
	started, _ := b.store.StartedActions(context.Background())
	if len(started) != 0 {
		t.Errorf("actions left started: %+v", started)
	}
}

// max_actions_per_hour holds across replicas: the budget is one count in
// the shared state.
func TestReplicasShareTheRateLimit(t *testing.T) {
	const n = 6
	rs, fleet := newReplicaSet(t, n)
	rs.vars["max_per_hour"] = ctyNumber(5)
	a, b := rs.startReplica(), rs.startReplica()
	var base map[string]any
	json.Unmarshal(finding(t, web1Finding, nil), &base)
	for i := range n {
		r := a
		if i%2 == 1 {
			r = b
		}
		rs.post(r, benchFinding(t, base, i, fleet[i]))
	}
	rs.idleAll(a.store)
	n5, err := a.store.CountActions(context.Background(), time.Now().Add(-time.Hour), "respond")
	if err != nil {
		t.Fatal(err)
	}
	if n5 > 5 {
		t.Errorf("%d actions counted for rule respond, over its max_actions_per_hour of 5", n5)
	}
	changes := rs.calls("CreateTags") + rs.calls("ModifyNetworkInterfaceAttribute") + rs.calls("StopInstances")
	if changes > 5 {
		t.Errorf("%d changing calls made, over the limit of 5", changes)
	}
}

// Two replicas started at once on an empty schema migrate it once.
func TestReplicasStartedTogetherMigrateOnce(t *testing.T) {
	rs, _ := newReplicaSet(t, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := state.OpenPostgres(context.Background(), rs.dsn, state.PostgresOptions{Schema: rs.schema})
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			d, _, err := serve.New(context.Background(), serve.Options{
				Engine: engine.Options{Dir: "testdata/daemon", Values: rs.vars}, Listen: "127.0.0.1:0", Token: testToken,
				Store: st, AWS: rs.aws,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || d == nil {
				t.Errorf("replica: %v", err)
			}
		}()
	}
	wg.Wait()
	admin, err := pgxpool.New(context.Background(), rs.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{`SELECT count(*) - count(DISTINCT version) FROM ` + pgx.Identifier{rs.schema, "schema_migrations"}.Sanitize(),
		`SELECT count(*) - count(DISTINCT version) FROM ` + pgx.Identifier{rs.schema, "river_migration"}.Sanitize()} {
		var extra int
		if err := admin.QueryRow(context.Background(), q).Scan(&extra); err != nil {
			t.Fatal(err)
		}
		if extra != 0 {
			t.Errorf("%s: %d migrations applied twice", q, extra)
		}
	}
}

func ctyNumber(n int64) cty.Value { return cty.NumberIntVal(n) }

// On PostgreSQL, an apply that found no AWS access is put back in River
// (snoozed) and applied once access is back, by the plan's own apply job.
func TestReplicaRetriesAnApplyWithoutAccess(t *testing.T) {
	rs, _ := newReplicaSet(t, 0)
	rs.emu.Faults().Fail("sts:*", "*", "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
	r := rs.startReplica(func(o *serve.Options) { o.AccessRetry = 100 * time.Millisecond })
	got := rs.post(r, finding(t, web1Finding, nil))
	inc := got.Deliveries[0].IncidentID
	ctx := context.Background()
	rs.waitFor("an apply without access, retried", func() bool {
		return strings.Count(rs.logs.String(), "apply found no AWS access") >= 2
	})
	d, err := r.store.Incident(ctx, inc)
	if err != nil || len(d.Plans) != 1 || d.Plans[0].Status != state.PlanApproved || len(d.Actions) != 0 || rs.isolated(web1) {
		t.Fatalf("while access is refused: %v, %+v", err, d)
	}
	rs.emu.Faults().Clear()
	rs.waitFor("the plan applied once access is back", func() bool {
		d, err = r.store.Incident(ctx, inc)
		return err == nil && d.Plans[0].Status == state.PlanApplied
	})
	if !rs.isolated(web1) || rs.calls("ModifyNetworkInterfaceAttribute") != 1 {
		t.Errorf("isolated %v, isolation calls %d, want once", rs.isolated(web1), rs.calls("ModifyNetworkInterfaceAttribute"))
	}
	rs.idleAll(r.store)
}
