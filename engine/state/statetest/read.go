package statetest

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// What the store reads back: incidents listed and shown, the actions a
// resumed apply must not repeat, those a revert undoes, and the evidence.

// history records six incidents, created a minute apart in this order, one
// in each status:
//
//	inc-planned   nothing applied
//	inc-responded isolate applied, tag no_change
//	inc-failed    isolate applied, stop failed
//	inc-applying  isolate started (a crash, or in flight)
//	inc-reverted  isolate applied, then reverted
//	inc-partial   isolate and stop applied, only isolate reverted
func history(t *testing.T, s state.Store) {
	t.Helper()
	ids := []string{"inc-planned", "inc-responded", "inc-failed", "inc-applying", "inc-reverted", "inc-partial"}
	for i, id := range ids {
		inc := Incident(id, "i-"+id)
		inc.CreatedAt = T0.Add(time.Duration(i) * time.Minute)
		PutIncident(t, s, inc)
	}
	ap := BeginApply(t, s, "plan-1", state.KindApply)
	act := func(inc, name string) state.ActionStart { return Action(ap, inc, name, "i-"+inc) }
	Record(t, s, act("inc-responded", "isolate"), state.ResultApplied)
	Record(t, s, act("inc-responded", "tag"), state.ResultNoChange)
	Record(t, s, act("inc-failed", "isolate"), state.ResultApplied)
	Record(t, s, act("inc-failed", "stop"), state.ResultFailed)
	reverted := Record(t, s, act("inc-reverted", "isolate"), state.ResultApplied)
	partial := Record(t, s, act("inc-partial", "isolate"), state.ResultApplied)
	Record(t, s, act("inc-partial", "stop"), state.ResultApplied)
	StartAction(t, s, act("inc-applying", "isolate"))

	rv := BeginApply(t, s, "revert-1", state.KindRevert)
	for inc, id := range map[string]int64{"inc-reverted": reverted, "inc-partial": partial} {
		a := Action(rv, inc, "isolate", "i-"+inc)
		a.RevertOf = id
		Record(t, s, a, state.ResultApplied)
	}
	FinishApply(t, s, rv, state.ApplyApplied)
}

func testIncidents(t *testing.T, open Opener) {
	s := open(t)
	history(t, s)
	all := []string{"inc-partial", "inc-reverted", "inc-applying", "inc-failed", "inc-responded", "inc-planned"}
	for _, tc := range []struct {
		name   string
		filter state.IncidentFilter
		want   []string
	}{
		{"all, newest first", state.IncidentFilter{}, all},
		{"failed", state.IncidentFilter{Status: []state.IncidentStatus{state.StatusFailed}}, []string{"inc-failed"}},
		{"reverted or partially", state.IncidentFilter{Status: []state.IncidentStatus{state.StatusReverted, state.StatusPartiallyReverted}},
			[]string{"inc-partial", "inc-reverted"}},
		{"planned", state.IncidentFilter{Status: []state.IncidentStatus{state.StatusPlanned}}, []string{"inc-planned"}},
		{"applying", state.IncidentFilter{Status: []state.IncidentStatus{state.StatusApplying}}, []string{"inc-applying"}},
		{"responded", state.IncidentFilter{Status: []state.IncidentStatus{state.StatusResponded}}, []string{"inc-responded"}},
		{"since", state.IncidentFilter{Since: T0.Add(3 * time.Minute)}, all[:3]},
		{"since, inclusive to the nanosecond", state.IncidentFilter{Since: T0.Add(3*time.Minute + 1)}, all[:2]},
		{"limit", state.IncidentFilter{Limit: 2}, all[:2]},
		{"limit after status", state.IncidentFilter{Limit: 1, Status: []state.IncidentStatus{state.StatusReverted, state.StatusFailed}},
			[]string{"inc-reverted"}},
		{"since and status", state.IncidentFilter{Since: T0.Add(4 * time.Minute), Status: []state.IncidentStatus{state.StatusFailed}}, nil},
		{"since the future", state.IncidentFilter{Since: T0.Add(time.Hour)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Incidents(context.Background(), tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, is := range got {
				ids = append(ids, is.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("incidents = %v, want %v", ids, tc.want)
			}
		})
	}

	got, err := s.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id       string
		status   state.IncidentStatus
		actions  map[state.Result]int
		reverted int
	}{
		{"inc-planned", state.StatusPlanned, map[state.Result]int{}, 0},
		{"inc-responded", state.StatusResponded, map[state.Result]int{state.ResultApplied: 1, state.ResultNoChange: 1}, 0},
		{"inc-failed", state.StatusFailed, map[state.Result]int{state.ResultApplied: 1, state.ResultFailed: 1}, 0},
		{"inc-applying", state.StatusApplying, map[state.Result]int{state.ResultStarted: 1}, 0},
		{"inc-reverted", state.StatusReverted, map[state.Result]int{state.ResultApplied: 1}, 1},
		{"inc-partial", state.StatusPartiallyReverted, map[state.Result]int{state.ResultApplied: 2}, 1},
	} {
		i := slices.IndexFunc(got, func(is state.IncidentSummary) bool { return is.ID == tc.id })
		is := got[i]
		if is.Status != tc.status || !maps.Equal(is.Actions, tc.actions) || is.Reverted != tc.reverted {
			t.Errorf("%s: status %s, actions %v, reverted %d; want %s, %v, %d",
				tc.id, is.Status, is.Actions, is.Reverted, tc.status, tc.actions, tc.reverted)
		}
		if is.Finding.ID != "f-"+tc.id || is.Finding.Resource.ID != "i-"+tc.id || len(is.Verdicts) != 1 {
			t.Errorf("%s: summary = %+v", tc.id, is)
		}
	}
}

func testIncidentDetail(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	history(t, s)
	if err := s.PutEvidence(ctx, state.Evidence{IncidentID: "inc-partial", Kind: "facts", Name: "aws_ec2_describe",
		Data: []byte(`{"state":"running"}`), Meta: json.RawMessage(`{"collector":"describe"}`)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Incident(ctx, "inc-partial")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != state.StatusPartiallyReverted {
		t.Errorf("status = %s", d.Status)
	}
	var timeline []string
	for _, a := range d.Actions {
		timeline = append(timeline, string(a.Kind)+" "+a.Action+" "+string(a.Result))
	}
	if want := []string{"apply isolate applied", "apply stop applied", "revert isolate applied"}; !slices.Equal(timeline, want) {
		t.Errorf("actions = %v, want %v", timeline, want)
	}
	if d.Actions[2].RevertOf != d.Actions[0].ID || d.Actions[2].PlanID != "revert-1" {
		t.Errorf("revert record = %+v", d.Actions[2])
	}
	if len(d.Applies) != 2 || d.Applies[0].PlanID != "plan-1" || d.Applies[0].Status != state.ApplyRunning ||
		d.Applies[1].PlanID != "revert-1" || d.Applies[1].Status != state.ApplyApplied || d.Applies[1].FinishedAt == nil {
		t.Errorf("applies = %+v", d.Applies)
	}
	if len(d.Evidence) != 1 || d.Evidence[0].Data != nil || d.Evidence[0].Size != 19 || d.Evidence[0].SHA256 == "" {
		t.Errorf("evidence = %+v", d.Evidence)
	}

	_, err = s.Incident(ctx, "inc-nope")
	WantErr(t, err, state.ErrNotFound)
	WantErr(t, err, "inc-nope")

	// The detail is what `state show -json` prints.
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"status":"partially reverted"`, `"revert_of":`, `"before":{"state":"before"}`, `"plan_id":"revert-1"`} {
		if !strings.Contains(string(out), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func testDoneActions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	PutIncident(t, s, Incident("inc-2", "i-1")) // a second finding about the same instance
	ap := BeginApply(t, s, "plan-1", state.KindApply)
	Record(t, s, Action(ap, "inc-1", "tag", "i-1"), state.ResultApplied)
	Record(t, s, Action(ap, "inc-1", "isolate", "i-1"), state.ResultInterrupted)
	Record(t, s, Action(ap, "inc-1", "isolate", "i-1"), state.ResultApplied) // done again after recovery
	Record(t, s, Action(ap, "inc-2", "isolate", "i-1"), state.ResultFailed)
	StartAction(t, s, Action(ap, "inc-1", "stop", "i-1")) // in flight: not done
	other := BeginApply(t, s, "plan-2", state.KindApply)
	Record(t, s, Action(other, "inc-1", "snapshot", "i-1"), state.ResultApplied)

	done, err := s.DoneActions(ctx, "plan-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[state.ActionKey]state.Result{}
	for k, r := range done {
		if r.Key() != k {
			t.Errorf("record %+v under key %v", r, k)
		}
		got[k] = r.Result
	}
	want := map[state.ActionKey]state.Result{
		{IncidentID: "inc-1", Address: `action.tag["i-1"]`}:     state.ResultApplied,
		{IncidentID: "inc-1", Address: `action.isolate["i-1"]`}: state.ResultApplied,
		{IncidentID: "inc-2", Address: `action.isolate["i-1"]`}: state.ResultFailed,
	}
	if !maps.Equal(got, want) {
		t.Errorf("done = %v, want %v", got, want)
	}
	if done, err := s.DoneActions(ctx, "plan-unknown"); err != nil || len(done) != 0 {
		t.Errorf("done actions of an unknown plan = %v, %v", done, err)
	}
}

func testAppliedActions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	PutIncident(t, s, Incident("inc-1", "i-1"))
	PutIncident(t, s, Incident("inc-2", "i-2"))
	ap := BeginApply(t, s, "plan-1", state.KindApply)
	tag := Record(t, s, Action(ap, "inc-1", "tag", "i-1"), state.ResultApplied)
	isolate := Record(t, s, Action(ap, "inc-1", "isolate", "i-1"), state.ResultRecovered)
	profile := Record(t, s, Action(ap, "inc-1", "profile", "i-1"), state.ResultApplied)
	Record(t, s, Action(ap, "inc-1", "deny", "i-1"), state.ResultNoChange)
	Record(t, s, Action(ap, "inc-1", "stop", "i-1"), state.ResultFailed)
	Record(t, s, Action(ap, "inc-1", "detach", "i-1"), state.ResultDrifted)
	Record(t, s, Action(ap, "inc-2", "isolate", "i-2"), state.ResultApplied)
	FinishApply(t, s, ap, state.ApplyPartial)

	rv := BeginApply(t, s, "revert-1", state.KindRevert)
	revert := func(of int64, name string, res state.Result) {
		a := Action(rv, "inc-1", name, "i-1")
		a.RevertOf = of
		Record(t, s, a, res)
	}
	revert(tag, "tag", state.ResultApplied)          // reverted
	revert(profile, "profile", state.ResultDrifted)  // not reverted: still to undo
	revert(isolate, "isolate", state.ResultFailed)   // failed, then ...
	revert(isolate, "isolate", state.ResultNoChange) // ... found already restored

	got, err := s.AppliedActions(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range got {
		ids = append(ids, r.ID)
		if r.Kind != state.KindApply || r.Config == nil || r.Before == nil {
			t.Errorf("applied record lacks what a revert needs: %+v", r)
		}
	}
	if want := []int64{profile}; !slices.Equal(ids, want) {
		t.Errorf("applied, not reverted = %v, want %v", ids, want)
	}
	_, err = s.AppliedActions(ctx, "inc-nope")
	WantErr(t, err, state.ErrNotFound)
}

func testEvidence(t *testing.T, open Opener) {
	ctx := context.Background()
	data := []byte(`{"instance":"i-1","state":"running"}`)
	digest := sha256Hex(data)
	for _, tc := range []struct {
		name string
		ev   state.Evidence
		want any
		// stored: the SHA256 and Size read back.
		sha  string
		size int64
	}{
		{name: "data", ev: state.Evidence{Kind: "facts", Name: "describe", Data: data}, sha: digest, size: int64(len(data))},
		{name: "data with its digest and size", ev: state.Evidence{Kind: "facts", Name: "describe", Data: data, SHA256: digest, Size: int64(len(data))},
			sha: digest, size: int64(len(data))},
		{name: "artefact kept elsewhere", ev: state.Evidence{Kind: "screenshot", Name: "console.png", SHA256: digest, Size: 123456,
			Meta: json.RawMessage(`{"uri":"s3://evidence/console.png"}`)}, sha: digest, size: 123456},
		{name: "snapshot without digest", ev: state.Evidence{Kind: "snapshot", Name: "snap-1", Meta: json.RawMessage(`{"volume":"vol-1"}`)}},
		{name: "empty data", ev: state.Evidence{Kind: "facts", Name: "empty", Data: []byte{}}, sha: sha256Hex(nil)},
		{name: "wrong digest", ev: state.Evidence{Kind: "facts", Name: "describe", Data: data, SHA256: sha256Hex([]byte("x"))}, want: "not the"},
		{name: "wrong size", ev: state.Evidence{Kind: "facts", Name: "describe", Data: data, Size: 3}, want: "not the 3 given"},
		{name: "malformed digest", ev: state.Evidence{Kind: "screenshot", Name: "a.png", SHA256: "ABC"}, want: "not 64 lower-case hex"},
		{name: "negative size", ev: state.Evidence{Kind: "screenshot", Name: "a.png", Size: -1}, want: "negative size"},
		{name: "no kind", ev: state.Evidence{Name: "a.png", Data: data}, want: "kind and name are required"},
		{name: "meta not JSON", ev: state.Evidence{Kind: "facts", Name: "x", Data: data, Meta: json.RawMessage(`{`)}, want: "meta: not valid JSON"},
		{name: "too large", ev: state.Evidence{Kind: "memory", Name: "dump", Data: make([]byte, state.MaxEvidenceSize+1)}, want: "store it elsewhere"},
		{name: "unknown incident", ev: state.Evidence{IncidentID: "inc-nope", Kind: "facts", Name: "x", Data: data}, want: state.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			PutIncident(t, s, Incident("inc-1", "i-1"))
			ev := tc.ev
			if ev.IncidentID == "" {
				ev.IncidentID = "inc-1"
			}
			ev.CreatedAt = T0
			err := s.PutEvidence(ctx, ev)
			WantErr(t, err, tc.want)
			got, rerr := s.Evidence(ctx, "inc-1")
			if rerr != nil {
				t.Fatal(rerr)
			}
			if err != nil {
				if len(got) != 0 {
					t.Errorf("refused evidence was recorded: %+v", got)
				}
				return
			}
			// Recording the same item again is idempotent.
			if err := s.PutEvidence(ctx, ev); err != nil {
				t.Fatalf("second PutEvidence: %v", err)
			}
			if got, _ = s.Evidence(ctx, "inc-1"); len(got) != 1 {
				t.Fatalf("evidence = %+v, want one record", got)
			}
			e := got[0]
			if e.SHA256 != tc.sha || e.Size != tc.size || e.Kind != ev.Kind || e.Name != ev.Name ||
				!bytes.Equal(e.Data, ev.Data) || string(e.Meta) != string(ev.Meta) || !e.CreatedAt.Equal(T0) {
				t.Errorf("evidence read back = %+v", e)
			}
		})
	}

	s := open(t)
	_, err := s.Evidence(ctx, "inc-nope")
	WantErr(t, err, state.ErrNotFound)
}
