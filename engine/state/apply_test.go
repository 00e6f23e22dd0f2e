package state

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestBeginApply(t *testing.T) {
	start := func(plan string, resume bool) ApplyStart {
		return ApplyStart{PlanID: plan, Kind: KindApply, ConfigDigest: "sha256:abc", CordonVersion: "test",
			Owner: "alice@laptop (cordon apply)", Resume: resume, StartedAt: t0}
	}
	for _, tc := range []struct {
		name string
		// setup records earlier applies; it returns the id of the one
		// BeginApply should resume, if any.
		setup func(t *testing.T, s *SQLiteStore) int64
		start ApplyStart
		want  any
	}{
		{
			name:  "new plan",
			setup: func(t *testing.T, s *SQLiteStore) int64 { return 0 },
			start: start("plan-1", false),
		},
		{
			name: "applied",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				finishApply(t, s, beginApply(t, s, "plan-1", KindApply), ApplyApplied)
				return 0
			},
			start: start("plan-1", true),
			want:  ErrAlreadyApplied,
		},
		{
			name: "failed",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				finishApply(t, s, beginApply(t, s, "plan-1", KindApply), ApplyFailed)
				return 0
			},
			start: start("plan-1", true),
			want:  "finished",
		},
		{
			name: "partial",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				finishApply(t, s, beginApply(t, s, "plan-1", KindApply), ApplyPartial)
				return 0
			},
			start: start("plan-1", false),
			want:  "with status partial",
		},
		{
			name: "interrupted, not resuming",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				id := beginApply(t, s, "plan-1", KindApply)
				setApplyProcess(t, s, id, deadPID(t), s.host)
				return 0
			},
			start: start("plan-1", false),
			want:  ErrApplyInterrupted,
		},
		{
			name: "interrupted, resuming",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				id := beginApply(t, s, "plan-1", KindApply)
				setApplyProcess(t, s, id, deadPID(t), s.host)
				return id
			},
			start: start("plan-1", true),
		},
		{
			name: "running in another live process here",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				id := beginApply(t, s, "plan-1", KindApply)
				setApplyProcess(t, s, id, os.Getppid(), s.host) // the test's parent lives
				return 0
			},
			start: start("plan-1", true),
			want:  ErrApplyInProgress,
		},
		{
			// A daemon whose apply was cancelled (drained) resumes it
			// itself: the caller holds the plan's locks.
			name: "left running by this process, resuming",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				return beginApply(t, s, "plan-1", KindApply)
			},
			start: start("plan-1", true),
		},
		{
			// The caller holds the plan's locks, so an apply of the
			// same plan on another host is a crashed one.
			name: "running on another host, resuming",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				id := beginApply(t, s, "plan-1", KindApply)
				setApplyProcess(t, s, id, 1, "elsewhere")
				return id
			},
			start: start("plan-1", true),
		},
		{
			name: "revert of an apply's plan id",
			setup: func(t *testing.T, s *SQLiteStore) int64 {
				id := beginApply(t, s, "plan-1", KindApply)
				setApplyProcess(t, s, id, deadPID(t), s.host)
				return 0
			},
			start: ApplyStart{PlanID: "plan-1", Kind: KindRevert, Owner: "alice", Resume: true},
			want:  `recorded as kind "apply", not "revert"`,
		},
		{
			name:  "no plan id",
			setup: func(t *testing.T, s *SQLiteStore) int64 { return 0 },
			start: start("", false),
			want:  "plan id is empty",
		},
		{
			name:  "unknown kind",
			setup: func(t *testing.T, s *SQLiteStore) int64 { return 0 },
			start: ApplyStart{PlanID: "plan-1", Kind: "destroy", Owner: "alice"},
			want:  `kind "destroy"`,
		},
		{
			name:  "no owner",
			setup: func(t *testing.T, s *SQLiteStore) int64 { return 0 },
			start: ApplyStart{PlanID: "plan-1", Kind: KindApply},
			want:  "owner is empty",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			resumed := tc.setup(t, s)
			id, err := s.BeginApply(context.Background(), tc.start)
			wantErr(t, err, tc.want)
			if err != nil {
				return
			}
			if resumed != 0 && id != resumed {
				t.Errorf("resumed apply %d, want %d", id, resumed)
			}
			running, err := s.RunningApplies(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(running) != 1 || running[0].ID != id {
				t.Fatalf("running applies = %+v, want apply %d", running, id)
			}
			a := running[0]
			if a.PID != s.pid || a.Host != s.host {
				t.Errorf("apply runs as pid %d on %s, want this process", a.PID, a.Host)
			}
			if (resumed != 0) != (a.ResumedAt != nil) {
				t.Errorf("resumed_at = %v after a resume = %v", a.ResumedAt, resumed != 0)
			}
			if a.PlanID != tc.start.PlanID || a.Owner == "" || a.Status != ApplyRunning {
				t.Errorf("apply record = %+v", a)
			}
		})
	}
}

// setApplyProcess makes an apply look like another process's, recorded
// without boot id or start time: its pid alone decides whether it lives
// (apply_identity_test.go has the cases of the full identity).
func setApplyProcess(t *testing.T, s *SQLiteStore, id int64, pid int, host string) {
	t.Helper()
	if err := s.execRaw(t, `UPDATE applies SET pid = ?, host = ?, boot_id = '', proc_start = '' WHERE id = ?`, pid, host, id); err != nil {
		t.Fatal(err)
	}
}

func finishApply(t testing.TB, s Store, id int64, status ApplyStatus) {
	t.Helper()
	if err := s.FinishApply(context.Background(), id, status, json.RawMessage(`{"applied":1}`)); err != nil {
		t.Fatalf("FinishApply(%d): %v", id, err)
	}
}

func TestFinishApply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, s *SQLiteStore) int64
		status  ApplyStatus
		summary json.RawMessage
		want    any
	}{
		{"applied", runningApply, ApplyApplied, json.RawMessage(`{"actions":2}`), nil},
		{"partial without summary", runningApply, ApplyPartial, nil, nil},
		{"finished twice", func(t *testing.T, s *SQLiteStore) int64 {
			id := runningApply(t, s)
			finishApply(t, s, id, ApplyFailed)
			return id
		}, ApplyApplied, nil, "already finished (failed)"},
		{"unknown apply", func(t *testing.T, s *SQLiteStore) int64 { return 42 }, ApplyApplied, nil, ErrNotFound},
		{"running is not an end", runningApply, ApplyRunning, nil, `"running" is not a status`},
		{"bad summary", runningApply, ApplyApplied, json.RawMessage(`{`), "summary: not valid JSON"},
		{"action still started", func(t *testing.T, s *SQLiteStore) int64 {
			id := runningApply(t, s)
			startAction(t, s, testAction(id, "inc-1", "isolate", "i-1"))
			return id
		}, ApplyPartial, nil, "1 actions still started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			id := tc.setup(t, s)
			err := s.FinishApply(context.Background(), id, tc.status, tc.summary)
			wantErr(t, err, tc.want)
			if err != nil {
				return
			}
			d := applyRecord(t, s, id)
			if d.Status != tc.status || d.FinishedAt == nil || string(d.Summary) != string(tc.summary) {
				t.Errorf("apply record = %+v", d)
			}
		})
	}
}

// runningApply records incident inc-1 and a running apply of plan-1.
func runningApply(t *testing.T, s *SQLiteStore) int64 {
	putIncident(t, s, testIncident("inc-1", "i-1"))
	return beginApply(t, s, "plan-1", KindApply)
}

func applyRecord(t *testing.T, s *SQLiteStore, id int64) ApplyRecord {
	t.Helper()
	tx, err := s.r.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	as, err := collectApplies(context.Background(), tx, applySelect+` WHERE id = ?`, id)
	if err != nil || len(as) != 1 {
		t.Fatalf("apply %d: %v %v", id, as, err)
	}
	return as[0]
}

func TestActionLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	apply := runningApply(t, s)
	a := testAction(apply, "inc-1", "isolate", "i-1")
	id := startAction(t, s, a)

	started, err := s.StartedActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].ID != id || started[0].Result != ResultStarted || started[0].FinishedAt != nil {
		t.Fatalf("started actions = %+v", started)
	}
	r := started[0]
	if r.PlanID != "plan-1" || r.Kind != KindApply || r.Target != a.Target || r.Address != a.Address ||
		r.Action != "isolate" || r.Type != "aws_ec2_isolate" || r.Phase != "contain" || !r.Reversible ||
		string(r.Before) != string(a.Before) || string(r.Config) != string(a.Config) || !r.StartedAt.Equal(t0) {
		t.Errorf("started record = %+v", r)
	}

	// A cancelled context still records the outcome: the change was made.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ActionFinished(cctx, id, Outcome{Result: ResultFailed, After: json.RawMessage(`{"state":"half"}`),
		Error: "RequestLimitExceeded", FinishedAt: t0.Add(time.Minute)}); err != nil {
		t.Fatalf("ActionFinished with a cancelled context: %v", err)
	}
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	r = d.Actions[0]
	if r.Result != ResultFailed || r.Error != "RequestLimitExceeded" || string(r.After) != `{"state":"half"}` ||
		r.FinishedAt == nil || !r.FinishedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("finished record = %+v", r)
	}
	if started, _ := s.StartedActions(ctx); len(started) != 0 {
		t.Errorf("still started: %+v", started)
	}
	// The incident's updated_at followed the action (it never goes back).
	if d.Incident.UpdatedAt.Before(d.Incident.CreatedAt) {
		t.Errorf("updated_at %v before created_at %v", d.Incident.UpdatedAt, d.Incident.CreatedAt)
	}
}

func TestActionStartedErrors(t *testing.T) {
	// setup returns a store with incidents inc-1 and inc-2, a running apply
	// (id 1, plan-1) with inc-1's isolate applied, and what the case needs.
	type fixture struct {
		s              *SQLiteStore
		apply, applied int64
	}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, f *fixture)
		action func(t *testing.T, f *fixture) ActionStart
		want   any
	}{
		{
			name:   "ok",
			action: func(t *testing.T, f *fixture) ActionStart { return testAction(f.apply, "inc-1", "stop", "i-1") },
		},
		{
			name:   "unknown apply",
			action: func(t *testing.T, f *fixture) ActionStart { return testAction(99, "inc-1", "stop", "i-1") },
			want:   ErrNotFound,
		},
		{
			name:   "no apply",
			action: func(t *testing.T, f *fixture) ActionStart { return testAction(0, "inc-1", "stop", "i-1") },
			want:   "apply id 0",
		},
		{
			name:   "finished apply",
			setup:  func(t *testing.T, f *fixture) { finishApply(t, f.s, f.apply, ApplyApplied) },
			action: func(t *testing.T, f *fixture) ActionStart { return testAction(f.apply, "inc-1", "stop", "i-1") },
			want:   "apply 1 is finished (applied)",
		},
		{
			name:   "unknown incident",
			action: func(t *testing.T, f *fixture) ActionStart { return testAction(f.apply, "inc-9", "stop", "i-1") },
			want:   ErrNotFound,
		},
		{
			name: "apply action naming a reverted action",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(f.apply, "inc-1", "stop", "i-1")
				a.RevertOf = f.applied
				return a
			},
			want: "is not a revert",
		},
		{
			name: "revert naming no action",
			action: func(t *testing.T, f *fixture) ActionStart {
				return testAction(beginApply(t, f.s, "revert-1", KindRevert), "inc-1", "isolate", "i-1")
			},
			want: "names no action it reverts",
		},
		{
			name: "revert of another incident's action",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(beginApply(t, f.s, "revert-1", KindRevert), "inc-2", "isolate", "i-1")
				a.RevertOf = f.applied
				return a
			},
			want: "belongs to incident inc-1, not inc-2",
		},
		{
			name: "revert of an unknown action",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(beginApply(t, f.s, "revert-1", KindRevert), "inc-1", "isolate", "i-1")
				a.RevertOf = 99
				return a
			},
			want: ErrNotFound,
		},
		{
			name: "revert of an action that changed nothing",
			action: func(t *testing.T, f *fixture) ActionStart {
				nc := record(t, f.s, testAction(f.apply, "inc-1", "tag", "i-1"), ResultNoChange)
				a := testAction(beginApply(t, f.s, "revert-1", KindRevert), "inc-1", "tag", "i-1")
				a.RevertOf = nc
				return a
			},
			want: "changed nothing to revert",
		},
		{
			name: "revert of a reverted action",
			action: func(t *testing.T, f *fixture) ActionStart {
				rv := beginApply(t, f.s, "revert-1", KindRevert)
				a := testAction(rv, "inc-1", "isolate", "i-1")
				a.RevertOf = f.applied
				record(t, f.s, a, ResultApplied)
				return a
			},
			want: "already reverted",
		},
		{
			name: "unknown phase",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(f.apply, "inc-1", "stop", "i-1")
				a.Phase = "destroy"
				return a
			},
			want: `unknown phase "destroy"`,
		},
		{
			name: "before is not JSON",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(f.apply, "inc-1", "stop", "i-1")
				a.Before = json.RawMessage(`{"state":`)
				return a
			},
			want: "before: not valid JSON",
		},
		{
			name: "config is not JSON",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(f.apply, "inc-1", "stop", "i-1")
				a.Config = json.RawMessage(`nope`)
				return a
			},
			want: "config: not valid JSON",
		},
		{
			name: "no address",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(f.apply, "inc-1", "stop", "i-1")
				a.Address = ""
				return a
			},
			want: "address is empty",
		},
		{
			name: "no type",
			action: func(t *testing.T, f *fixture) ActionStart {
				a := testAction(f.apply, "inc-1", "stop", "i-1")
				a.Type = ""
				return a
			},
			want: "name and type are required",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{s: openTest(t)}
			putIncident(t, f.s, testIncident("inc-1", "i-1"))
			putIncident(t, f.s, testIncident("inc-2", "i-1"))
			f.apply = beginApply(t, f.s, "plan-1", KindApply)
			f.applied = record(t, f.s, testAction(f.apply, "inc-1", "isolate", "i-1"), ResultApplied)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			a := tc.action(t, f)
			before := countActions(t, f.s)
			id, err := f.s.ActionStarted(context.Background(), a)
			wantErr(t, err, tc.want)
			after := countActions(t, f.s)
			if err != nil {
				if id != 0 || after != before {
					t.Errorf("a refused action was recorded (id %d, %d → %d records)", id, before, after)
				}
				return
			}
			if id <= 0 || after != before+1 {
				t.Errorf("id %d, %d → %d records", id, before, after)
			}
		})
	}
}

func countActions(t *testing.T, s *SQLiteStore) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM actions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestActionFinishedErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, s *SQLiteStore, id int64) int64
		outcome Outcome
		want    any
	}{
		{"applied", nil, applied(`{"state":"after"}`), nil},
		{"drifted without after", nil, Outcome{Result: ResultDrifted, Error: "security groups changed"}, nil},
		{"unknown action", func(t *testing.T, s *SQLiteStore, id int64) int64 { return 99 }, applied(`{}`), ErrNotFound},
		{"finished twice", func(t *testing.T, s *SQLiteStore, id int64) int64 {
			finishAction(t, s, id, applied(`{}`))
			return id
		}, Outcome{Result: ResultFailed}, ErrActionFinished},
		{"started is not an end", nil, Outcome{Result: ResultStarted}, `"started" is not a result`},
		{"unknown result", nil, Outcome{Result: "done"}, `"done" is not a result`},
		{"after is not JSON", nil, Outcome{Result: ResultApplied, After: json.RawMessage(`[`)}, "after: not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			id := startAction(t, s, testAction(runningApply(t, s), "inc-1", "isolate", "i-1"))
			if tc.setup != nil {
				id = tc.setup(t, s, id)
			}
			err := s.ActionFinished(context.Background(), id, tc.outcome)
			wantErr(t, err, tc.want)
			if err != nil {
				return
			}
			d, err := s.Incident(context.Background(), "inc-1")
			if err != nil {
				t.Fatal(err)
			}
			if r := d.Actions[0]; r.Result != tc.outcome.Result || r.Error != tc.outcome.Error || string(r.After) != string(tc.outcome.After) {
				t.Errorf("record = %+v, want outcome %+v", r, tc.outcome)
			}
		})
	}
}

// The audit trail is append-only below the API too: a finished action
// record and evidence cannot be changed by SQL.
func TestAuditTrailIsAppendOnly(t *testing.T) {
	s := openTest(t)
	record(t, s, testAction(runningApply(t, s), "inc-1", "isolate", "i-1"), ResultApplied)
	if err := s.PutEvidence(context.Background(), Evidence{IncidentID: "inc-1", Kind: "facts", Name: "describe", Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  string
	}{
		{`UPDATE actions SET result = 'failed' WHERE id = 1`, "finished action record cannot be changed"},
		{`UPDATE evidence SET sha256 = '' WHERE id = 1`, "evidence is append-only"},
		{`DELETE FROM evidence WHERE id = 1`, "evidence is append-only"},
		{`INSERT INTO actions (apply_id, incident_id, kind, address, action_name, action_type, phase, target_type,
            target_id, target_account, target_region, reversible, result, started_at)
            VALUES (1, 'inc-1', 'apply', 'a', 'a', 'a', 'contain', 't', 'i', 'a', 'r', 0, 'applied', 'x')`, "CHECK constraint failed"},
		{`UPDATE actions SET reversible = 'yes' WHERE id = 1`, "cannot store TEXT value in INTEGER column"},
	} {
		wantErr(t, s.execRaw(t, tc.query), tc.want)
	}
}

func TestPutIncident(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	inc := testIncident("inc-1", "i-1")
	inc.CreatedAt = t0
	inc.FindingData = json.RawMessage(`{"id":"f-inc-1","raw":{}}`)
	putIncident(t, s, inc)

	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	got := d.Incident
	if got.Finding != inc.Finding || len(got.Matches) != 1 || got.Verdicts[0].Verdict != "malicious" ||
		*got.Verdicts[0].Confidence != 0.9 || string(got.Facts) != string(inc.Facts) ||
		string(got.FindingData) != string(inc.FindingData) || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Errorf("incident read back = %+v", got)
	}
	if got.FactsSHA256 != sha256Hex(inc.Facts) {
		t.Errorf("facts digest = %s", got.FactsSHA256)
	}
	if d.Status != StatusPlanned {
		t.Errorf("status = %s, want planned", d.Status)
	}

	// An update keeps created_at and replaces the rest.
	inc.CreatedAt, inc.UpdatedAt = t0.Add(time.Hour), t0.Add(time.Hour)
	inc.Verdicts[0].Verdict = "benign"
	inc.Facts = nil
	inc.Matches = nil
	putIncident(t, s, inc)
	d, err = s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	got = d.Incident
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Hour)) || got.Verdicts[0].Verdict != "benign" ||
		got.Facts != nil || got.FactsSHA256 != "" || got.Matches == nil || len(got.Matches) != 0 {
		t.Errorf("incident after update = %+v", got)
	}

	for _, tc := range []struct {
		name   string
		modify func(*Incident)
		want   string
	}{
		{"no id", func(i *Incident) { i.ID = "" }, "id is empty"},
		{"no finding", func(i *Incident) { i.Finding.ID = "" }, "finding id is empty"},
		{"facts not JSON", func(i *Incident) { i.Facts = json.RawMessage(`{`) }, "facts: not valid JSON"},
		{"finding not JSON", func(i *Incident) { i.FindingData = json.RawMessage(`x`) }, "finding data: not valid JSON"},
		{"wrong digest", func(i *Incident) { i.FactsSHA256 = sha256Hex([]byte("other")) }, "facts have sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := testIncident("inc-2", "i-2")
			tc.modify(&inc)
			wantErr(t, s.PutIncident(ctx, inc), tc.want)
		})
	}
	// A digest given that matches is accepted.
	ok := testIncident("inc-3", "i-3")
	ok.FactsSHA256 = sha256Hex(ok.Facts)
	putIncident(t, s, ok)
}
