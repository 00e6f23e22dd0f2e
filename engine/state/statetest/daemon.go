package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// delivery is a delivery of finding id at update time updated.
func delivery(key, incident, updated string) state.Delivery {
	return state.Delivery{
		Key: key, Source: "http", IncidentID: incident, FindingID: "f-" + incident,
		FindingSource: "guardduty", FindingType: "Backdoor:EC2/C&CActivity.B!DNS", FindingUpdatedAt: updated,
		Record: json.RawMessage(`{"id":"f-` + incident + `","updatedAt":"` + updated + `"}`), ReceivedAt: T0,
	}
}

func testInbox(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("accept, duplicates and the queue", func(t *testing.T) {
		s := open(t)
		got, err := s.AcceptDeliveries(ctx, []state.Delivery{
			delivery("k1", "inc-1", "2025-03-01T12:00:00Z"),
			delivery("k2", "inc-2", "2025-03-01T12:00:00Z"),
			delivery("k1", "inc-1", "2025-03-01T12:00:00Z"),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Duplicate || got[1].Duplicate || !got[2].Duplicate || got[2].ID != got[0].ID {
			t.Fatalf("accepted = %+v, want the third a duplicate of the first", got)
		}
		again, err := s.AcceptDeliveries(ctx, []state.Delivery{delivery("k1", "inc-1", "2025-03-01T12:00:00Z")}, nil)
		if err != nil || !again[0].Duplicate {
			t.Fatalf("accept again = %+v, %v; want a duplicate", again, err)
		}
		q, err := s.QueuedDeliveries(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 2 || q[0].Key != "k1" || q[1].Key != "k2" {
			t.Fatalf("queued = %v, want k1, k2", keys(q))
		}
		if q[0].Duplicates != 2 || string(q[0].Record) == "" || q[0].Status != state.DeliveryQueued {
			t.Errorf("k1 = %+v, want 2 duplicates, its record, queued", q[0])
		}
		after, err := s.QueuedDeliveries(ctx, q[0].ID, 1)
		if err != nil || len(after) != 1 || after[0].Key != "k2" {
			t.Fatalf("queued after k1 = %v, %v", keys(after), err)
		}

		n, err := s.StartDelivery(ctx, q[0].ID)
		if err != nil || n != 1 {
			t.Fatalf("StartDelivery = %d, %v", n, err)
		}
		if err := s.FinishDelivery(ctx, q[0].ID, state.DeliveryResult{Outcome: state.OutcomeUnmatched}, nil); err != nil {
			t.Fatal(err)
		}
		err = s.FinishDelivery(ctx, q[0].ID, state.DeliveryResult{Outcome: state.OutcomeUnmatched}, nil)
		WantErr(t, err, "already processed")
		_, err = s.StartDelivery(ctx, q[0].ID)
		WantErr(t, err, "already processed")
		_, err = s.StartDelivery(ctx, 999)
		WantErr(t, err, state.ErrNotFound)
		WantErr(t, s.FinishDelivery(ctx, q[1].ID, state.DeliveryResult{Outcome: "bogus"}, nil), "unknown outcome")

		q, err = s.QueuedDeliveries(ctx, 0, 0)
		if err != nil || len(q) != 1 || q[0].Key != "k2" {
			t.Fatalf("queued after finishing k1 = %v, %v", keys(q), err)
		}
		d, err := s.Delivery(ctx, got[0].ID)
		if err != nil || d.Status != state.DeliveryDone || d.Outcome != state.OutcomeUnmatched || d.FinishedAt == nil || d.Attempts != 1 {
			t.Fatalf("delivery = %+v, %v", d, err)
		}
		list, err := s.Deliveries(ctx, state.DeliveryFilter{IncidentID: "inc-1"})
		if err != nil || len(list) != 1 || list[0].Record != nil {
			t.Fatalf("deliveries of inc-1 = %+v, %v; want one, without its record", list, err)
		}
	})

	t.Run("invalid deliveries store nothing", func(t *testing.T) {
		s := open(t)
		bad := delivery("k9", "inc-9", "2025-03-01T12:00:00Z")
		bad.Record = json.RawMessage(`{"truncated`)
		_, err := s.AcceptDeliveries(ctx, []state.Delivery{delivery("k8", "inc-8", "x"), bad}, nil)
		WantErr(t, err, "not valid JSON")
		q, err := s.QueuedDeliveries(ctx, 0, 0)
		if err != nil || len(q) != 0 {
			t.Fatalf("queued = %v, %v; want none (all or nothing)", keys(q), err)
		}
	})

	t.Run("concurrent duplicates are one delivery", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := 0
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.AcceptDeliveries(ctx, []state.Delivery{delivery("same", "inc-1", "t")}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if !got[0].Duplicate {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		q, _ := s.QueuedDeliveries(ctx, 0, 0)
		if firsts != 1 || len(q) != 1 || q[0].Duplicates != 19 {
			t.Fatalf("%d accepted as new, queue %v with %d duplicates; want 1, 1 and 19", firsts, keys(q), dupCount(q))
		}
	})

	t.Run("cursor moves with its deliveries", func(t *testing.T) {
		s := open(t)
		if _, ok, err := s.Cursor(ctx, "guardduty.poll/1/us-west-2/d"); ok || err != nil {
			t.Fatalf("cursor before any = %v, %v", ok, err)
		}
		_, err := s.AcceptDeliveries(ctx, []state.Delivery{delivery("k1", "inc-1", "t")}, &state.Cursor{Name: "c", Value: "100"})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok, err := s.Cursor(ctx, "c"); v != "100" || !ok || err != nil {
			t.Fatalf("cursor = %q, %v, %v", v, ok, err)
		}
		// A failed accept leaves the cursor where it was.
		bad := delivery("k2", "inc-2", "t")
		bad.Source = ""
		_, err = s.AcceptDeliveries(ctx, []state.Delivery{bad}, &state.Cursor{Name: "c", Value: "200"})
		WantErr(t, err, "source is empty")
		if v, _, _ := s.Cursor(ctx, "c"); v != "100" {
			t.Fatalf("cursor after a failed accept = %q, want 100", v)
		}
		if err := s.SetCursor(ctx, state.Cursor{Name: "c", Value: "300"}); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := s.Cursor(ctx, "c"); v != "300" {
			t.Fatalf("cursor = %q, want 300", v)
		}
	})

	t.Run("rejections", func(t *testing.T) {
		s := open(t)
		big := make([]byte, 3*state.MaxRejectionExcerpt)
		id, err := s.RecordRejection(ctx, state.Rejection{Source: "sqs.events", Reason: "not a finding", Excerpt: big, Size: int64(len(big)), ReceivedAt: T0})
		if err != nil || id == 0 {
			t.Fatal(id, err)
		}
		if _, err := s.RecordRejection(ctx, state.Rejection{Source: "http"}); err == nil {
			t.Error("a rejection without a reason was recorded")
		}
		list, err := s.Rejections(ctx, 0)
		if err != nil || len(list) != 1 {
			t.Fatalf("rejections = %v, %v", list, err)
		}
		if r := list[0]; r.Source != "sqs.events" || r.Reason != "not a finding" || len(r.Excerpt) != state.MaxRejectionExcerpt || r.Size != int64(len(big)) {
			t.Errorf("rejection = %s %s excerpt %d size %d", r.Source, r.Reason, len(r.Excerpt), r.Size)
		}
	})
}

func testApprovals(t *testing.T, open Opener) {
	ctx := context.Background()
	setup := func(t *testing.T) (state.Store, int64) {
		s := open(t)
		PutIncident(t, s, Incident("inc-1", "i-1"))
		got, err := s.AcceptDeliveries(ctx, []state.Delivery{delivery("k1", "inc-1", "t")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s, got[0].ID
	}
	pending := func(id string) *state.PlanRecord {
		exp := T0.Add(24 * time.Hour)
		return &state.PlanRecord{ID: id, IncidentID: "inc-1", Status: state.PlanPending, Reason: "rule x requires manual approval",
			ConfigDigest: "sha256:abc", Actions: 2, File: []byte("plan file"), CreatedAt: T0, ExpiresAt: &exp}
	}

	t.Run("pending, approved, applied", func(t *testing.T) {
		s, d := setup(t)
		if err := s.FinishDelivery(ctx, d, state.DeliveryResult{Outcome: state.OutcomePending}, pending("plan-1")); err != nil {
			t.Fatal(err)
		}
		del, _ := s.Delivery(ctx, d)
		if del.PlanID != "plan-1" || del.Outcome != state.OutcomePending {
			t.Fatalf("delivery = %+v, want plan-1 pending", del)
		}
		list, err := s.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanPending}})
		if err != nil || len(list) != 1 || list[0].ID != "plan-1" || list[0].File != nil || list[0].DeliveryID != d {
			t.Fatalf("pending plans = %+v, %v", list, err)
		}
		p, err := s.Plan(ctx, "plan-1")
		if err != nil || string(p.File) != "plan file" || p.ExpiresAt == nil || !p.ExpiresAt.Equal(T0.Add(24*time.Hour)) {
			t.Fatalf("plan = %+v, %v", p, err)
		}
		_, err = s.DecidePlan(ctx, "plan-1", state.PlanDecision{Status: state.PlanApproved})
		WantErr(t, err, "names nobody")
		dp, err := s.DecidePlan(ctx, "plan-1", state.PlanDecision{Status: state.PlanApproved, By: "alice", Note: "looks right", At: T0.Add(time.Minute)})
		if err != nil || dp.Status != state.PlanApproved || dp.DecidedBy != "alice" {
			t.Fatalf("approve = %+v, %v", dp, err)
		}
		_, err = s.DecidePlan(ctx, "plan-1", state.PlanDecision{Status: state.PlanRejected, By: "mallory"})
		WantErr(t, err, state.ErrPlanDecided)
		WantErr(t, err, "approved (by alice")
		auto := *pending("plan-auto")
		auto.Status, auto.DecidedBy, auto.ExpiresAt = state.PlanApproved, "cordon (approval = \"auto\")", nil
		if err := s.PutPlan(ctx, auto); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Plan(ctx, "plan-auto"); got == nil || got.DecidedBy != auto.DecidedBy || got.DecidedAt != nil {
			t.Errorf("an automatically approved plan reads back as %+v", got)
		}
		if err := s.FinishPlan(ctx, "plan-1", state.PlanApplied, 0, ""); err != nil {
			t.Fatal(err)
		}
		WantErr(t, s.FinishPlan(ctx, "plan-1", state.PlanFailed, 0, ""), state.ErrPlanDecided)
		_, err = s.DecidePlan(ctx, "nope", state.PlanDecision{Status: state.PlanApproved, By: "alice"})
		WantErr(t, err, state.ErrNotFound)

		inc, err := s.Incident(ctx, "inc-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(inc.Events) != 1 || inc.Events[0].Kind != state.EventApproved || len(inc.Plans) != 2 || inc.Plans[0].Status != state.PlanApplied {
			t.Fatalf("incident events %+v plans %+v", inc.Events, inc.Plans)
		}
	})

	t.Run("rejected and expired plans never move on", func(t *testing.T) {
		s, d := setup(t)
		if err := s.FinishDelivery(ctx, d, state.DeliveryResult{Outcome: state.OutcomePending}, pending("plan-2")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecidePlan(ctx, "plan-2", state.PlanDecision{Status: state.PlanExpired, By: "cordon (approval_timeout 24h)"}); err != nil {
			t.Fatal(err)
		}
		_, err := s.DecidePlan(ctx, "plan-2", state.PlanDecision{Status: state.PlanApproved, By: "alice"})
		WantErr(t, err, state.ErrPlanDecided)
		WantErr(t, s.FinishPlan(ctx, "plan-2", state.PlanApplied, 0, ""), state.ErrPlanDecided)
		p, _ := s.Plan(ctx, "plan-2")
		if p.Status != state.PlanExpired {
			t.Fatalf("plan status = %s, want expired", p.Status)
		}
	})

	t.Run("incident, events and plan in one transaction", func(t *testing.T) {
		s := open(t)
		got, _ := s.AcceptDeliveries(ctx, []state.Delivery{delivery("k1", "inc-n", "t")}, nil)
		inc := Incident("inc-n", "i-9")
		inc.FindingUpdatedAt, inc.FindingCount = "2025-03-01T12:00:00Z", 2
		p := pending("plan-n")
		p.IncidentID = "inc-n"
		ev := state.IncidentEvent{IncidentID: "inc-n", Kind: state.EventHeld, Summary: "plan-n waits", At: T0}
		bad := ev
		bad.IncidentID = "inc-elsewhere"
		// An event of an unrecorded incident fails it all: nothing is kept.
		err := s.FinishDelivery(ctx, got[0].ID, state.DeliveryResult{Outcome: state.OutcomePending, Incident: &inc,
			Events: []state.IncidentEvent{ev, bad}}, p)
		WantErr(t, err, state.ErrNotFound)
		if _, err := s.Incident(ctx, "inc-n"); err == nil {
			t.Fatal("the incident of a failed finish was recorded")
		}
		err = s.FinishDelivery(ctx, got[0].ID, state.DeliveryResult{Outcome: state.OutcomePending, Incident: &inc,
			Events: []state.IncidentEvent{ev}}, p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Incident(ctx, "inc-n")
		if err != nil || len(d.Events) != 1 || len(d.Plans) != 1 || d.Incident.FindingCount != 2 {
			t.Fatalf("incident %+v, %v", d, err)
		}
	})

	t.Run("a plan needs its incident", func(t *testing.T) {
		s := open(t)
		got, _ := s.AcceptDeliveries(ctx, []state.Delivery{delivery("k1", "inc-x", "t")}, nil)
		p := pending("plan-3")
		p.IncidentID = "inc-x"
		err := s.FinishDelivery(ctx, got[0].ID, state.DeliveryResult{Outcome: state.OutcomePending}, p)
		WantErr(t, err, state.ErrNotFound)
		q, _ := s.QueuedDeliveries(ctx, 0, 0)
		if len(q) != 1 {
			t.Fatalf("the delivery is no longer queued after a failed finish: %v", keys(q))
		}
	})
}

func testGuardrails(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	PutIncident(t, s, Incident("inc-2", "i-2"))
	ap := BeginApply(t, s, "plan-1", state.KindApply)

	limited := func(name, instance string, at time.Time) state.ActionStart {
		a := Action(ap, "inc-1", name, instance)
		a.Rules = []string{"ec2"}
		a.Limits = []state.RuleLimit{{Rule: "ec2", PerHour: 2}}
		a.StartedAt = at
		return a
	}
	Record(t, s, limited("isolate", "i-1", T0), state.ResultApplied)
	Record(t, s, limited("stop", "i-1", T0.Add(time.Minute)), state.ResultFailed)
	// The third within the hour is withheld, recorded as skipped.
	id, err := s.ActionStarted(ctx, limited("snapshot", "i-1", T0.Add(2*time.Minute)))
	var we *state.WithheldError
	if !errors.As(err, &we) || we.Rule != "ec2" || we.PerHour != 2 || id == 0 {
		t.Fatalf("third action: id %d, err %v; want withheld by ec2 with its record", id, err)
	}
	inc, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	last := inc.Actions[len(inc.Actions)-1]
	if last.Result != state.ResultSkipped || last.FinishedAt == nil || last.Error != we.Error() || len(last.Rules) != 1 {
		t.Fatalf("withheld record = %+v", last)
	}
	// No limit: recorded; a notification is never counted.
	unlimited := Action(ap, "inc-1", "tag", "i-1")
	unlimited.Rules = []string{"ec2"}
	Record(t, s, unlimited, state.ResultApplied)
	notify := limited("notify", "i-1", T0.Add(3*time.Minute))
	notify.Phase = "notify"
	n, err := s.CountActions(ctx, T0.Add(-time.Hour), "ec2")
	if err != nil || n != 3 {
		t.Fatalf("counted %d, %v; want 3 (applied, failed, the unlimited one; not the withheld)", n, err)
	}
	// An hour later the budget is back.
	if _, err := s.ActionStarted(ctx, limited("snapshot", "i-1", T0.Add(61*time.Minute))); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	if n, _ := s.CountActions(ctx, T0, ""); n != 4 {
		t.Errorf("all rules since t0: %d, want 4", n)
	}
	if n, _ := s.CountActions(ctx, T0, "other"); n != 0 {
		t.Errorf("another rule: %d, want 0", n)
	}

	got, err := s.TargetActedOn(ctx, state.TargetLockKey(Target("i-1")), T0.Add(-time.Hour), "inc-2")
	if err != nil || got != "inc-1" {
		t.Fatalf("TargetActedOn(i-1) = %q, %v; want inc-1", got, err)
	}
	if got, _ := s.TargetActedOn(ctx, state.TargetLockKey(Target("i-1")), T0.Add(-time.Hour), "inc-1"); got != "" {
		t.Errorf("the incident itself counted: %q", got)
	}
	if got, _ := s.TargetActedOn(ctx, state.TargetLockKey(Target("i-1")), T0.Add(2*time.Hour), "inc-2"); got != "" {
		t.Errorf("outside the window: %q", got)
	}
	if _, err := s.TargetActedOn(ctx, "bogus", T0, ""); err == nil {
		t.Error("a malformed lock key was accepted")
	}
}

// testConcurrentLimit checks the limit holds when many applies race for
// the last slots.
func testConcurrentLimit(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	const workers, limit = 16, 5
	for i := range workers {
		PutIncident(t, s, Incident(fmt.Sprintf("inc-%d", i), fmt.Sprintf("i-%d", i)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	started, withheld := 0, 0
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ap, err := s.BeginApply(ctx, state.ApplyStart{PlanID: fmt.Sprintf("plan-%d", i), Kind: state.KindApply,
				ConfigDigest: "sha256:abc", CordonVersion: "test", Owner: "tester", StartedAt: T0})
			if err != nil {
				t.Error(err)
				return
			}
			a := Action(ap, fmt.Sprintf("inc-%d", i), "isolate", fmt.Sprintf("i-%d", i))
			a.Rules, a.Limits = []string{"ec2"}, []state.RuleLimit{{Rule: "ec2", PerHour: limit}}
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
		}()
	}
	wg.Wait()
	if started != limit || withheld != workers-limit {
		t.Fatalf("%d started, %d withheld; want %d and %d", started, withheld, limit, workers-limit)
	}
}

func testFindingVersion(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	if _, _, ok, err := s.FindingVersion(ctx, "inc-1"); ok || err != nil {
		t.Fatalf("version of a missing incident: %v, %v", ok, err)
	}
	inc := Incident("inc-1", "i-1")
	inc.FindingUpdatedAt, inc.FindingCount = "2025-03-01T12:00:00.000Z", 3
	PutIncident(t, s, inc)
	// An older update does not move it back.
	inc.FindingUpdatedAt, inc.FindingCount = "2025-03-01T11:00:00.000Z", 1
	PutIncident(t, s, inc)
	u, c, ok, err := s.FindingVersion(ctx, "inc-1")
	if err != nil || !ok || u != "2025-03-01T12:00:00.000Z" || c != 3 {
		t.Fatalf("version = %q %d %v %v", u, c, ok, err)
	}
	ev := state.IncidentEvent{IncidentID: "inc-1", Kind: state.EventRecurrence, Summary: "seen again (count 3)", Detail: json.RawMessage(`{"count":3}`), At: T0}
	if err := s.AddIncidentEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	ev.IncidentID = "inc-none"
	WantErr(t, s.AddIncidentEvent(ctx, ev), state.ErrNotFound)
	d, _ := s.Incident(ctx, "inc-1")
	if len(d.Events) != 1 || d.Events[0].Summary != "seen again (count 3)" || d.Incident.FindingCount != 3 {
		t.Fatalf("events %+v count %d", d.Events, d.Incident.FindingCount)
	}
}

func keys(ds []state.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Key
	}
	return out
}

func dupCount(ds []state.Delivery) int {
	if len(ds) == 0 {
		return -1
	}
	return ds[0].Duplicates
}
