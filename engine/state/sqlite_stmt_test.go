package state

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cached returns a copy of c's statements by query.
func cached(c *stmtCache) map[string]*sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return maps.Clone(c.stmts)
}

// daemonRound runs what the daemon does for one finding, and a recorded
// action: the writes and reads the caches exist for.
func daemonRound(t *testing.T, s *SQLiteStore, n int) {
	t.Helper()
	ctx := context.Background()
	inc := testIncident("inc-1", "i-1")
	acc, err := s.AcceptDeliveries(ctx, []Delivery{{
		Key: fmt.Sprint("k-", n), Source: "http", IncidentID: inc.ID, FindingID: inc.Finding.ID,
		Record: []byte(`{"id":"f"}`), ReceivedAt: t0,
	}}, nil)
	if err != nil {
		t.Fatalf("AcceptDeliveries: %v", err)
	}
	id := acc[0].ID
	if _, err := s.StartDelivery(ctx, id); err != nil {
		t.Fatalf("StartDelivery: %v", err)
	}
	if _, err := s.Delivery(ctx, id); err != nil {
		t.Fatalf("Delivery: %v", err)
	}
	p := &PlanRecord{ID: fmt.Sprint("plan-", n), IncidentID: inc.ID, Status: PlanApproved, File: []byte("{}"), CreatedAt: t0}
	res := DeliveryResult{Outcome: OutcomePlanned, Incident: &inc, FinishedAt: t0,
		Events: []IncidentEvent{{IncidentID: inc.ID, Kind: "planned", Summary: "planned", At: t0}}}
	if err := s.FinishDelivery(ctx, id, res, p); err != nil {
		t.Fatalf("FinishDelivery: %v", err)
	}
	if _, err := s.Plan(ctx, p.ID); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if _, _, _, err := s.FindingVersion(ctx, inc.ID); err != nil {
		t.Fatalf("FindingVersion: %v", err)
	}
	if _, err := s.CountActions(ctx, t0.Add(-time.Hour), "ec2_compromise"); err != nil {
		t.Fatalf("CountActions: %v", err)
	}
	ap := beginApply(t, s, p.ID, KindApply)
	record(t, s, testAction(ap, inc.ID, "isolate", fmt.Sprint("i-", n)), ResultApplied)
	if err := s.FinishPlan(ctx, p.ID, PlanApplied, ap, ""); err != nil {
		t.Fatalf("FinishPlan: %v", err)
	}
}

func TestStmtCacheReusesStatements(t *testing.T) {
	s := openTest(t)
	// The first round runs its queries unprepared and prepares them; the
	// second uses the statements (and prepares what only it ran).
	daemonRound(t, s, 1)
	daemonRound(t, s, 2)
	w, r := cached(s.ws), cached(s.rs)
	for _, q := range []string{sqliteApplyState, sqliteActionInsert, sqliteActionFinish, sqliteIncidentTouch,
		sqliteCustodyLast, sqliteCustodyInsert} {
		if w[q] == nil {
			t.Errorf("the writer has no statement for %.40q", q)
		}
	}
	if len(r) == 0 {
		t.Error("the read pool prepared no statement")
	}
	// The same query gets the same statement, every time.
	for i := range 3 {
		daemonRound(t, s, 3+i)
		if got := cached(s.ws); !maps.Equal(got, w) {
			t.Errorf("the writer's statements changed: %d, were %d", len(got), len(w))
		}
		if got := cached(s.rs); !maps.Equal(got, r) {
			t.Errorf("the read pool's statements changed: %d, were %d", len(got), len(r))
		}
	}
	if st := s.ws.lookup(sqliteActionInsert); st != w[sqliteActionInsert] {
		t.Error("lookup returned another statement for the same query")
	}
	if s.stmts.custodyLast != w[sqliteCustodyLast] || s.stmts.custodyInsert != w[sqliteCustodyInsert] {
		t.Error("custody's statements are not the writer cache's")
	}
}

func TestStmtCacheClosedWithStore(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	daemonRound(t, s, 1)
	daemonRound(t, s, 2)
	w, r := cached(s.ws), cached(s.rs)
	if len(w) == 0 || len(r) == 0 {
		t.Fatalf("nothing prepared: %d writer, %d read statements", len(w), len(r))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for q, st := range w {
		if _, err := st.ExecContext(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("writer statement %.40q after Close: %v, want closed", q, err)
		}
	}
	for q, st := range r {
		if _, err := st.QueryContext(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("read statement %.40q after Close: %v, want closed", q, err)
		}
	}
	if st := s.ws.lookup(sqliteActionInsert); st != nil {
		t.Error("a closed cache returned a statement")
	}
	// Writes and reads fail as they did without the cache.
	_, err = s.ActionStarted(ctx, testAction(1, "inc-1", "isolate", "i-9"))
	wantErr(t, err, "is closed")
	_, err = s.Delivery(ctx, 1)
	wantErr(t, err, "closed")
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStmtCacheConcurrent(t *testing.T) {
	s := openTest(t)
	putIncident(t, s, testIncident("inc-1", "i-1"))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if err := s.AddIncidentEvent(ctx, IncidentEvent{IncidentID: "inc-1", Kind: "note",
					Summary: fmt.Sprint(g, "-", i), At: t0}); err != nil {
					errs <- err
					return
				}
				if _, _, _, err := s.FindingVersion(ctx, "inc-1"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 8*20 {
		t.Errorf("%d events recorded, want %d", len(d.Events), 8*20)
	}
}

func TestStmtCache(t *testing.T) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "c.db"), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		query string
		want  bool // prepared after a miss
	}{
		{"statement", `SELECT 1`, true},
		{"malformed", `SELEKT 1`, false},
		{"unknown table", `SELECT x FROM nowhere`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newStmtCache(db)
			defer c.close()
			if st := c.lookup(tc.query); st != nil {
				t.Fatal("a new cache returned a statement")
			}
			c.prepareMissed(ctx)
			st := c.lookup(tc.query)
			if (st != nil) != tc.want {
				t.Fatalf("after prepareMissed: statement %v, want %v", st != nil, tc.want)
			}
			if st != nil && c.lookup(tc.query) != st {
				t.Error("a second lookup returned another statement")
			}
			if !tc.want {
				if _, err := c.prepare(ctx, tc.query); err == nil {
					t.Error("prepare of a bad query succeeded")
				}
			}
		})
	}

	t.Run("concurrent prepare", func(t *testing.T) {
		c := newStmtCache(db)
		defer c.close()
		stmts := make([]*sql.Stmt, 8)
		var wg sync.WaitGroup
		for i := range stmts {
			wg.Go(func() {
				st, err := c.prepare(ctx, `SELECT 2`)
				if err != nil {
					t.Error(err)
				}
				stmts[i] = st
			})
		}
		wg.Wait()
		for _, st := range stmts {
			if st != stmts[0] {
				t.Fatal("concurrent prepares of one query returned different statements")
			}
		}
		if c.len() != 1 {
			t.Errorf("%d statements cached, want 1", c.len())
		}
	})

	t.Run("bounded", func(t *testing.T) {
		c := newStmtCache(db)
		defer c.close()
		for i := range maxCachedStmts + 10 {
			c.lookup(fmt.Sprintf("SELECT %d", i))
		}
		c.prepareMissed(ctx)
		if c.len() != maxCachedStmts {
			t.Errorf("%d statements cached, want the bound %d", c.len(), maxCachedStmts)
		}
		if st := c.lookup(fmt.Sprintf("SELECT %d", maxCachedStmts+5)); st != nil {
			t.Error("a query beyond the bound was prepared")
		}
	})

	t.Run("closed", func(t *testing.T) {
		c := newStmtCache(db)
		if _, err := c.prepare(ctx, `SELECT 3`); err != nil {
			t.Fatal(err)
		}
		if err := c.close(); err != nil {
			t.Fatal(err)
		}
		if err := c.close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		if _, err := c.prepare(ctx, `SELECT 3`); err == nil {
			t.Error("a closed cache prepared a statement")
		}
		c.lookup(`SELECT 4`)
		c.prepareMissed(ctx)
		if c.len() != 1 || c.lookup(`SELECT 3`) != nil {
			t.Error("a closed cache kept preparing or returning statements")
		}
	})

	t.Run("nil", func(t *testing.T) {
		var c *stmtCache // a read-only store's
		if c.lookup(`SELECT 1`) != nil {
			t.Error("a nil cache returned a statement")
		}
		c.prepareMissed(ctx)
		if err := c.close(); err != nil {
			t.Error(err)
		}
	})
}
