package statetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// The apply journal: applies begun, resumed and finished, actions started
// and finished, incidents recorded, and the errors of each.

func testBeginApply(t *testing.T, b Backend) {
	start := func(plan string, resume bool) state.ApplyStart {
		return state.ApplyStart{PlanID: plan, Kind: state.KindApply, ConfigDigest: "sha256:abc", CordonVersion: "test",
			Owner: "alice@laptop (cordon apply)", Resume: resume, StartedAt: T0}
	}
	type fixture struct {
		st   State
		s    state.Store
		host string
	}
	for _, tc := range []struct {
		name string
		// setup records earlier applies; it returns the id of the one
		// BeginApply should resume, if any.
		setup func(t *testing.T, f *fixture) int64
		start state.ApplyStart
		want  any
	}{
		{
			name:  "new plan",
			setup: func(t *testing.T, f *fixture) int64 { return 0 },
			start: start("plan-1", false),
		},
		{
			name: "applied",
			setup: func(t *testing.T, f *fixture) int64 {
				FinishApply(t, f.s, BeginApply(t, f.s, "plan-1", state.KindApply), state.ApplyApplied)
				return 0
			},
			start: start("plan-1", true),
			want:  state.ErrAlreadyApplied,
		},
		{
			name: "failed",
			setup: func(t *testing.T, f *fixture) int64 {
				FinishApply(t, f.s, BeginApply(t, f.s, "plan-1", state.KindApply), state.ApplyFailed)
				return 0
			},
			start: start("plan-1", true),
			want:  "finished",
		},
		{
			name: "partial",
			setup: func(t *testing.T, f *fixture) int64 {
				FinishApply(t, f.s, BeginApply(t, f.s, "plan-1", state.KindApply), state.ApplyPartial)
				return 0
			},
			start: start("plan-1", false),
			want:  "with status partial",
		},
		{
			name: "interrupted, not resuming",
			setup: func(t *testing.T, f *fixture) int64 {
				id := BeginApply(t, f.s, "plan-1", state.KindApply)
				f.st.SetApplyProcess(t, id, DeadPID(t), f.host)
				return 0
			},
			start: start("plan-1", false),
			want:  state.ErrApplyInterrupted,
		},
		{
			name: "interrupted, resuming",
			setup: func(t *testing.T, f *fixture) int64 {
				id := BeginApply(t, f.s, "plan-1", state.KindApply)
				f.st.SetApplyProcess(t, id, DeadPID(t), f.host)
				return id
			},
			start: start("plan-1", true),
		},
		{
			// With row locks, another live process on this host still runs
			// it. With session locks, the caller holding the plan's locks
			// proves the other's sessions are gone: it is taken over.
			name: "running in another live process here",
			setup: func(t *testing.T, f *fixture) int64 {
				id := BeginApply(t, f.s, "plan-1", state.KindApply)
				f.st.SetApplyProcess(t, id, os.Getppid(), f.host) // the test's parent lives
				if b.SessionLocks {
					return id
				}
				return 0
			},
			start: start("plan-1", true),
			want:  liveOtherWant(b),
		},
		{
			// A daemon whose apply was cancelled (drained) resumes it
			// itself: the caller holds the plan's locks.
			name: "left running by this process, resuming",
			setup: func(t *testing.T, f *fixture) int64 {
				return BeginApply(t, f.s, "plan-1", state.KindApply)
			},
			start: start("plan-1", true),
		},
		{
			// The caller holds the plan's locks, so an apply of the
			// same plan on another host is a crashed one.
			name: "running on another host, resuming",
			setup: func(t *testing.T, f *fixture) int64 {
				id := BeginApply(t, f.s, "plan-1", state.KindApply)
				f.st.SetApplyProcess(t, id, 1, "elsewhere")
				return id
			},
			start: start("plan-1", true),
		},
		{
			name: "revert of an apply's plan id",
			setup: func(t *testing.T, f *fixture) int64 {
				id := BeginApply(t, f.s, "plan-1", state.KindApply)
				f.st.SetApplyProcess(t, id, DeadPID(t), f.host)
				return 0
			},
			start: state.ApplyStart{PlanID: "plan-1", Kind: state.KindRevert, Owner: "alice", Resume: true},
			want:  `recorded as kind "apply", not "revert"`,
		},
		{
			name:  "no plan id",
			setup: func(t *testing.T, f *fixture) int64 { return 0 },
			start: start("", false),
			want:  "plan id is empty",
		},
		{
			name:  "unknown kind",
			setup: func(t *testing.T, f *fixture) int64 { return 0 },
			start: state.ApplyStart{PlanID: "plan-1", Kind: "destroy", Owner: "alice"},
			want:  `kind "destroy"`,
		},
		{
			name:  "no owner",
			setup: func(t *testing.T, f *fixture) int64 { return 0 },
			start: state.ApplyStart{PlanID: "plan-1", Kind: state.KindApply},
			want:  "owner is empty",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := b.New(t)
			f := &fixture{st: st, s: st.Open(t), host: Hostname(t)}
			resumed := tc.setup(t, f)
			id, err := f.s.BeginApply(context.Background(), tc.start)
			WantErr(t, err, tc.want)
			if err != nil {
				return
			}
			if resumed != 0 && id != resumed {
				t.Errorf("resumed apply %d, want %d", id, resumed)
			}
			running, err := f.s.RunningApplies(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(running) != 1 || running[0].ID != id {
				t.Fatalf("running applies = %+v, want apply %d", running, id)
			}
			a := running[0]
			if a.PID != os.Getpid() || a.Host != f.host {
				t.Errorf("apply runs as pid %d on %s, want this process", a.PID, a.Host)
			}
			if (resumed != 0) != (a.ResumedAt != nil) {
				t.Errorf("resumed_at = %v after a resume = %v", a.ResumedAt, resumed != 0)
			}
			if a.PlanID != tc.start.PlanID || a.Owner == "" || a.Status != state.ApplyRunning {
				t.Errorf("apply record = %+v", a)
			}
		})
	}
}

func testFinishApply(t *testing.T, open Opener) {
	// withDone is a running apply of plan-1 with one action done, so that
	// the incident's detail lists the apply.
	withDone := func(t *testing.T, s state.Store) int64 {
		id := runningApply(t, s)
		Record(t, s, Action(id, "inc-1", "tag", "i-1"), state.ResultApplied)
		return id
	}
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, s state.Store) int64
		status  state.ApplyStatus
		summary json.RawMessage
		want    any
	}{
		{"applied", withDone, state.ApplyApplied, json.RawMessage(`{"actions":2}`), nil},
		{"partial without summary", withDone, state.ApplyPartial, nil, nil},
		{"finished twice", func(t *testing.T, s state.Store) int64 {
			id := withDone(t, s)
			FinishApply(t, s, id, state.ApplyFailed)
			return id
		}, state.ApplyApplied, nil, "already finished (failed)"},
		{"unknown apply", func(t *testing.T, s state.Store) int64 { return 42 }, state.ApplyApplied, nil, state.ErrNotFound},
		{"running is not an end", withDone, state.ApplyRunning, nil, `"running" is not a status`},
		{"bad summary", withDone, state.ApplyApplied, json.RawMessage(`{`), "summary: not valid JSON"},
		{"action still started", func(t *testing.T, s state.Store) int64 {
			id := withDone(t, s)
			StartAction(t, s, Action(id, "inc-1", "isolate", "i-1"))
			return id
		}, state.ApplyPartial, nil, "1 actions still started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			id := tc.setup(t, s)
			err := s.FinishApply(context.Background(), id, tc.status, tc.summary)
			WantErr(t, err, tc.want)
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
func runningApply(t *testing.T, s state.Store) int64 {
	PutIncident(t, s, Incident("inc-1", "i-1"))
	return BeginApply(t, s, "plan-1", state.KindApply)
}

// applyRecord reads apply id back through the detail of inc-1, which
// must have an action in it.
func applyRecord(t *testing.T, s state.Store, id int64) state.ApplyRecord {
	t.Helper()
	d, err := s.Incident(context.Background(), "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Applies {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("apply %d is not among inc-1's: %+v", id, d.Applies)
	return state.ApplyRecord{}
}

func testActionLifecycle(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	apply := runningApply(t, s)
	a := Action(apply, "inc-1", "isolate", "i-1")
	id := StartAction(t, s, a)

	started, err := s.StartedActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].ID != id || started[0].Result != state.ResultStarted || started[0].FinishedAt != nil {
		t.Fatalf("started actions = %+v", started)
	}
	r := started[0]
	if r.PlanID != "plan-1" || r.Kind != state.KindApply || r.Target != a.Target || r.Address != a.Address ||
		r.Action != "isolate" || r.Type != "aws_ec2_isolate" || r.Phase != "contain" || !r.Reversible ||
		string(r.Before) != string(a.Before) || string(r.Config) != string(a.Config) || !r.StartedAt.Equal(T0) {
		t.Errorf("started record = %+v", r)
	}

	// A cancelled context still records the outcome: the change was made.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ActionFinished(cctx, id, state.Outcome{Result: state.ResultFailed, After: json.RawMessage(`{"state":"half"}`),
		Error: "RequestLimitExceeded", FinishedAt: T0.Add(time.Minute)}); err != nil {
		t.Fatalf("ActionFinished with a cancelled context: %v", err)
	}
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	r = d.Actions[0]
	if r.Result != state.ResultFailed || r.Error != "RequestLimitExceeded" || string(r.After) != `{"state":"half"}` ||
		r.FinishedAt == nil || !r.FinishedAt.Equal(T0.Add(time.Minute)) {
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

func testActionStartedErrors(t *testing.T, open Opener) {
	// Each case has a store with incidents inc-1 and inc-2, a running
	// apply (id 1, plan-1) with inc-1's isolate applied, and what the case
	// needs.
	type fixture struct {
		s              state.Store
		apply, applied int64
	}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, f *fixture)
		action func(t *testing.T, f *fixture) state.ActionStart
		want   any
	}{
		{
			name:   "ok",
			action: func(t *testing.T, f *fixture) state.ActionStart { return Action(f.apply, "inc-1", "stop", "i-1") },
		},
		{
			name:   "unknown apply",
			action: func(t *testing.T, f *fixture) state.ActionStart { return Action(99, "inc-1", "stop", "i-1") },
			want:   state.ErrNotFound,
		},
		{
			name:   "no apply",
			action: func(t *testing.T, f *fixture) state.ActionStart { return Action(0, "inc-1", "stop", "i-1") },
			want:   "apply id 0",
		},
		{
			name:   "finished apply",
			setup:  func(t *testing.T, f *fixture) { FinishApply(t, f.s, f.apply, state.ApplyApplied) },
			action: func(t *testing.T, f *fixture) state.ActionStart { return Action(f.apply, "inc-1", "stop", "i-1") },
			want:   "apply 1 is finished (applied)",
		},
		{
			name:   "unknown incident",
			action: func(t *testing.T, f *fixture) state.ActionStart { return Action(f.apply, "inc-9", "stop", "i-1") },
			want:   state.ErrNotFound,
		},
		{
			name: "apply action naming a reverted action",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(f.apply, "inc-1", "stop", "i-1")
				a.RevertOf = f.applied
				return a
			},
			want: "is not a revert",
		},
		{
			name: "revert naming no action",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				return Action(BeginApply(t, f.s, "revert-1", state.KindRevert), "inc-1", "isolate", "i-1")
			},
			want: "names no action it reverts",
		},
		{
			name: "revert of another incident's action",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(BeginApply(t, f.s, "revert-1", state.KindRevert), "inc-2", "isolate", "i-1")
				a.RevertOf = f.applied
				return a
			},
			want: "belongs to incident inc-1, not inc-2",
		},
		{
			name: "revert of an unknown action",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(BeginApply(t, f.s, "revert-1", state.KindRevert), "inc-1", "isolate", "i-1")
				a.RevertOf = 99
				return a
			},
			want: state.ErrNotFound,
		},
		{
			name: "revert of an action that changed nothing",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				nc := Record(t, f.s, Action(f.apply, "inc-1", "tag", "i-1"), state.ResultNoChange)
				a := Action(BeginApply(t, f.s, "revert-1", state.KindRevert), "inc-1", "tag", "i-1")
				a.RevertOf = nc
				return a
			},
			want: "changed nothing to revert",
		},
		{
			name: "revert of a reverted action",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				rv := BeginApply(t, f.s, "revert-1", state.KindRevert)
				a := Action(rv, "inc-1", "isolate", "i-1")
				a.RevertOf = f.applied
				Record(t, f.s, a, state.ResultApplied)
				return a
			},
			want: "already reverted",
		},
		{
			name: "unknown phase",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(f.apply, "inc-1", "stop", "i-1")
				a.Phase = "destroy"
				return a
			},
			want: `unknown phase "destroy"`,
		},
		{
			name: "before is not JSON",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(f.apply, "inc-1", "stop", "i-1")
				a.Before = json.RawMessage(`{"state":`)
				return a
			},
			want: "before: not valid JSON",
		},
		{
			name: "config is not JSON",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(f.apply, "inc-1", "stop", "i-1")
				a.Config = json.RawMessage(`nope`)
				return a
			},
			want: "config: not valid JSON",
		},
		{
			name: "no address",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(f.apply, "inc-1", "stop", "i-1")
				a.Address = ""
				return a
			},
			want: "address is empty",
		},
		{
			name: "no type",
			action: func(t *testing.T, f *fixture) state.ActionStart {
				a := Action(f.apply, "inc-1", "stop", "i-1")
				a.Type = ""
				return a
			},
			want: "name and type are required",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fixture{s: open(t)}
			PutIncident(t, f.s, Incident("inc-1", "i-1"))
			PutIncident(t, f.s, Incident("inc-2", "i-1"))
			f.apply = BeginApply(t, f.s, "plan-1", state.KindApply)
			f.applied = Record(t, f.s, Action(f.apply, "inc-1", "isolate", "i-1"), state.ResultApplied)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			a := tc.action(t, f)
			before := countActions(t, f.s)
			id, err := f.s.ActionStarted(context.Background(), a)
			WantErr(t, err, tc.want)
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

// countActions counts the action records of inc-1 and inc-2, the
// incidents of testActionStartedErrors (an action of another incident
// cannot be recorded).
func countActions(t *testing.T, s state.Store) int {
	t.Helper()
	n := 0
	for _, id := range []string{"inc-1", "inc-2"} {
		d, err := s.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		n += len(d.Actions)
	}
	return n
}

func testActionFinishedErrors(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, s state.Store, id int64) int64
		outcome state.Outcome
		want    any
	}{
		{"applied", nil, Applied(`{"state":"after"}`), nil},
		{"drifted without after", nil, state.Outcome{Result: state.ResultDrifted, Error: "security groups changed"}, nil},
		{"unknown action", func(t *testing.T, s state.Store, id int64) int64 { return 99 }, Applied(`{}`), state.ErrNotFound},
		{"finished twice", func(t *testing.T, s state.Store, id int64) int64 {
			FinishAction(t, s, id, Applied(`{}`))
			return id
		}, state.Outcome{Result: state.ResultFailed}, state.ErrActionFinished},
		{"started is not an end", nil, state.Outcome{Result: state.ResultStarted}, `"started" is not a result`},
		{"unknown result", nil, state.Outcome{Result: "done"}, `"done" is not a result`},
		{"after is not JSON", nil, state.Outcome{Result: state.ResultApplied, After: json.RawMessage(`[`)}, "after: not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			id := StartAction(t, s, Action(runningApply(t, s), "inc-1", "isolate", "i-1"))
			if tc.setup != nil {
				id = tc.setup(t, s, id)
			}
			err := s.ActionFinished(context.Background(), id, tc.outcome)
			WantErr(t, err, tc.want)
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

func testPutIncident(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	inc := Incident("inc-1", "i-1")
	inc.CreatedAt = T0
	// Spacing and key order a normalising store would change: the facts
	// read back are the bytes their digest was taken of.
	inc.Facts = json.RawMessage(`{"z": 1,  "a":{"state" :"running"}}`)
	inc.FindingData = json.RawMessage(`{"id":"f-inc-1","raw":{}}`)
	PutIncident(t, s, inc)

	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	got := d.Incident
	if got.Finding != inc.Finding || len(got.Matches) != 1 || got.Verdicts[0].Verdict != "malicious" ||
		*got.Verdicts[0].Confidence != 0.9 || string(got.Facts) != string(inc.Facts) ||
		string(got.FindingData) != string(inc.FindingData) || !got.CreatedAt.Equal(T0) || !got.UpdatedAt.Equal(T0) {
		t.Errorf("incident read back = %+v", got)
	}
	if got.FactsSHA256 != sha256Hex(inc.Facts) || got.FactsSHA256 != sha256Hex(got.Facts) {
		t.Errorf("facts digest = %s", got.FactsSHA256)
	}
	if d.Status != state.StatusPlanned {
		t.Errorf("status = %s, want planned", d.Status)
	}

	// An update keeps created_at and replaces the rest.
	inc.CreatedAt, inc.UpdatedAt = T0.Add(time.Hour), T0.Add(time.Hour)
	inc.Verdicts[0].Verdict = "benign"
	inc.Facts = nil
	inc.Matches = nil
	PutIncident(t, s, inc)
	d, err = s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	got = d.Incident
	if !got.CreatedAt.Equal(T0) || !got.UpdatedAt.Equal(T0.Add(time.Hour)) || got.Verdicts[0].Verdict != "benign" ||
		got.Facts != nil || got.FactsSHA256 != "" || got.Matches == nil || len(got.Matches) != 0 {
		t.Errorf("incident after update = %+v", got)
	}

	for _, tc := range []struct {
		name   string
		modify func(*state.Incident)
		want   string
	}{
		{"no id", func(i *state.Incident) { i.ID = "" }, "id is empty"},
		{"no finding", func(i *state.Incident) { i.Finding.ID = "" }, "finding id is empty"},
		{"facts not JSON", func(i *state.Incident) { i.Facts = json.RawMessage(`{`) }, "facts: not valid JSON"},
		{"finding not JSON", func(i *state.Incident) { i.FindingData = json.RawMessage(`x`) }, "finding data: not valid JSON"},
		{"wrong digest", func(i *state.Incident) { i.FactsSHA256 = sha256Hex([]byte("other")) }, "facts have sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := Incident("inc-2", "i-2")
			tc.modify(&inc)
			WantErr(t, s.PutIncident(ctx, inc), tc.want)
		})
	}
	// A digest given that matches is accepted.
	ok := Incident("inc-3", "i-3")
	ok.FactsSHA256 = sha256Hex(ok.Facts)
	PutIncident(t, s, ok)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A store closed mid-apply (the process stopping between ActionStarted and
// ActionFinished) leaves the action recorded as started, the apply as
// running, and the incident as applying.
func testCloseMidApply(t *testing.T, b Backend) {
	ctx := context.Background()
	st := b.New(t)
	s := st.Open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	ap := BeginApply(t, s, "plan-1", state.KindApply)
	done := Record(t, s, Action(ap, "inc-1", "tag", "i-1"), state.ResultApplied)
	started := StartAction(t, s, Action(ap, "inc-1", "isolate", "i-1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = st.Open(t)
	got, err := s.StartedActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != started || got[0].PlanID != "plan-1" {
		t.Fatalf("started actions = %+v, want action %d", got, started)
	}
	doneActions, err := s.DoneActions(ctx, "plan-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(doneActions) != 1 || doneActions[state.ActionKey{IncidentID: "inc-1", Address: `action.tag["i-1"]`}].ID != done {
		t.Errorf("done actions = %+v", doneActions)
	}
	d, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != state.StatusApplying {
		t.Errorf("status = %s, want applying", d.Status)
	}
}

// liveOtherWant is what BeginApply gives for a plan another live process
// on this host runs (see Backend.SessionLocks).
func liveOtherWant(b Backend) any {
	if b.SessionLocks {
		return nil
	}
	return state.ErrApplyInProgress
}

// testTakenOverApplyIsFenced: once another process resumed an apply (it
// holds the plan's locks and found this one dead, or its lock sessions
// lost), this process can record no more actions for it.
func testTakenOverApplyIsFenced(t *testing.T, b Backend) {
	st := b.New(t)
	s := st.Open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	id := BeginApply(t, s, "plan-1", state.KindApply)
	Record(t, s, Action(id, "inc-1", "tag", "i-1"), state.ResultApplied)
	st.SetApplyProcess(t, id, 1, "elsewhere")
	_, err := s.ActionStarted(context.Background(), Action(id, "inc-1", "isolate", "i-1"))
	WantErr(t, err, state.ErrApplyTakenOver)
	WantErr(t, err, "pid 1 on elsewhere")
}
