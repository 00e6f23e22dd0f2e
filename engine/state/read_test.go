package state

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// history records six incidents, created a minute apart in this order, one
// in each status:
//
//	inc-planned   nothing applied
//	inc-responded isolate applied, tag no_change
//	inc-failed    isolate applied, stop failed
//	inc-applying  isolate started (a crash, or in flight)
//	inc-reverted  isolate applied, then reverted
//	inc-partial   isolate and stop applied, only isolate reverted
func history(t *testing.T, s *SQLiteStore) {
	t.Helper()
	ids := []string{"inc-planned", "inc-responded", "inc-failed", "inc-applying", "inc-reverted", "inc-partial"}
	for i, id := range ids {
		inc := testIncident(id, "i-"+id)
		inc.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		putIncident(t, s, inc)
	}
	ap := beginApply(t, s, "plan-1", KindApply)
	act := func(inc, name string) ActionStart { return testAction(ap, inc, name, "i-"+inc) }
	record(t, s, act("inc-responded", "isolate"), ResultApplied)
	record(t, s, act("inc-responded", "tag"), ResultNoChange)
	record(t, s, act("inc-failed", "isolate"), ResultApplied)
	record(t, s, act("inc-failed", "stop"), ResultFailed)
	reverted := record(t, s, act("inc-reverted", "isolate"), ResultApplied)
	partial := record(t, s, act("inc-partial", "isolate"), ResultApplied)
	record(t, s, act("inc-partial", "stop"), ResultApplied)
	startAction(t, s, act("inc-applying", "isolate"))

	rv := beginApply(t, s, "revert-1", KindRevert)
	for inc, id := range map[string]int64{"inc-reverted": reverted, "inc-partial": partial} {
		a := testAction(rv, inc, "isolate", "i-"+inc)
		a.RevertOf = id
		record(t, s, a, ResultApplied)
	}
	finishApply(t, s, rv, ApplyApplied)
}

func TestIncidents(t *testing.T) {
	s := openTest(t)
	history(t, s)
	all := []string{"inc-partial", "inc-reverted", "inc-applying", "inc-failed", "inc-responded", "inc-planned"}
	for _, tc := range []struct {
		name   string
		filter IncidentFilter
		want   []string
	}{
		{"all, newest first", IncidentFilter{}, all},
		{"failed", IncidentFilter{Status: []IncidentStatus{StatusFailed}}, []string{"inc-failed"}},
		{"reverted or partially", IncidentFilter{Status: []IncidentStatus{StatusReverted, StatusPartiallyReverted}},
			[]string{"inc-partial", "inc-reverted"}},
		{"planned", IncidentFilter{Status: []IncidentStatus{StatusPlanned}}, []string{"inc-planned"}},
		{"applying", IncidentFilter{Status: []IncidentStatus{StatusApplying}}, []string{"inc-applying"}},
		{"responded", IncidentFilter{Status: []IncidentStatus{StatusResponded}}, []string{"inc-responded"}},
		{"since", IncidentFilter{Since: t0.Add(3 * time.Minute)}, all[:3]},
		{"since, inclusive to the nanosecond", IncidentFilter{Since: t0.Add(3*time.Minute + 1)}, all[:2]},
		{"limit", IncidentFilter{Limit: 2}, all[:2]},
		{"limit after status", IncidentFilter{Limit: 1, Status: []IncidentStatus{StatusReverted, StatusFailed}},
			[]string{"inc-reverted"}},
		{"since and status", IncidentFilter{Since: t0.Add(4 * time.Minute), Status: []IncidentStatus{StatusFailed}}, nil},
		{"since the future", IncidentFilter{Since: t0.Add(time.Hour)}, nil},
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

	got, err := s.Incidents(context.Background(), IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id       string
		status   IncidentStatus
		actions  map[Result]int
		reverted int
	}{
		{"inc-planned", StatusPlanned, map[Result]int{}, 0},
		{"inc-responded", StatusResponded, map[Result]int{ResultApplied: 1, ResultNoChange: 1}, 0},
		{"inc-failed", StatusFailed, map[Result]int{ResultApplied: 1, ResultFailed: 1}, 0},
		{"inc-applying", StatusApplying, map[Result]int{ResultStarted: 1}, 0},
		{"inc-reverted", StatusReverted, map[Result]int{ResultApplied: 1}, 1},
		{"inc-partial", StatusPartiallyReverted, map[Result]int{ResultApplied: 2}, 1},
	} {
		i := slices.IndexFunc(got, func(is IncidentSummary) bool { return is.ID == tc.id })
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

func TestIncidentDetail(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	history(t, s)
	if err := s.PutEvidence(ctx, Evidence{IncidentID: "inc-partial", Kind: "facts", Name: "aws_ec2_describe",
		Data: []byte(`{"state":"running"}`), Meta: json.RawMessage(`{"collector":"describe"}`)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Incident(ctx, "inc-partial")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusPartiallyReverted {
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
	if len(d.Applies) != 2 || d.Applies[0].PlanID != "plan-1" || d.Applies[0].Status != ApplyRunning ||
		d.Applies[1].PlanID != "revert-1" || d.Applies[1].Status != ApplyApplied || d.Applies[1].FinishedAt == nil {
		t.Errorf("applies = %+v", d.Applies)
	}
	if len(d.Evidence) != 1 || d.Evidence[0].Data != nil || d.Evidence[0].Size != 19 || d.Evidence[0].SHA256 == "" {
		t.Errorf("evidence = %+v", d.Evidence)
	}

	_, err = s.Incident(ctx, "inc-nope")
	wantErr(t, err, ErrNotFound)
	wantErr(t, err, "inc-nope")

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

func TestDoneActions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	putIncident(t, s, testIncident("inc-1", "i-1"))
	putIncident(t, s, testIncident("inc-2", "i-1")) // a second finding about the same instance
	ap := beginApply(t, s, "plan-1", KindApply)
	record(t, s, testAction(ap, "inc-1", "tag", "i-1"), ResultApplied)
	record(t, s, testAction(ap, "inc-1", "isolate", "i-1"), ResultInterrupted)
	record(t, s, testAction(ap, "inc-1", "isolate", "i-1"), ResultApplied) // done again after recovery
	record(t, s, testAction(ap, "inc-2", "isolate", "i-1"), ResultFailed)
	startAction(t, s, testAction(ap, "inc-1", "stop", "i-1")) // in flight: not done
	other := beginApply(t, s, "plan-2", KindApply)
	record(t, s, testAction(other, "inc-1", "snapshot", "i-1"), ResultApplied)

	done, err := s.DoneActions(ctx, "plan-1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[ActionKey]Result{}
	for k, r := range done {
		if r.Key() != k {
			t.Errorf("record %+v under key %v", r, k)
		}
		got[k] = r.Result
	}
	want := map[ActionKey]Result{
		{"inc-1", `action.tag["i-1"]`}:     ResultApplied,
		{"inc-1", `action.isolate["i-1"]`}: ResultApplied,
		{"inc-2", `action.isolate["i-1"]`}: ResultFailed,
	}
	if !maps.Equal(got, want) {
		t.Errorf("done = %v, want %v", got, want)
	}
	if done, err := s.DoneActions(ctx, "plan-unknown"); err != nil || len(done) != 0 {
		t.Errorf("done actions of an unknown plan = %v, %v", done, err)
	}
}

func TestAppliedActions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	putIncident(t, s, testIncident("inc-1", "i-1"))
	putIncident(t, s, testIncident("inc-2", "i-2"))
	ap := beginApply(t, s, "plan-1", KindApply)
	tag := record(t, s, testAction(ap, "inc-1", "tag", "i-1"), ResultApplied)
	isolate := record(t, s, testAction(ap, "inc-1", "isolate", "i-1"), ResultRecovered)
	profile := record(t, s, testAction(ap, "inc-1", "profile", "i-1"), ResultApplied)
	record(t, s, testAction(ap, "inc-1", "deny", "i-1"), ResultNoChange)
	record(t, s, testAction(ap, "inc-1", "stop", "i-1"), ResultFailed)
	record(t, s, testAction(ap, "inc-1", "detach", "i-1"), ResultDrifted)
	record(t, s, testAction(ap, "inc-2", "isolate", "i-2"), ResultApplied)
	finishApply(t, s, ap, ApplyPartial)

	rv := beginApply(t, s, "revert-1", KindRevert)
	revert := func(of int64, name string, res Result) {
		a := testAction(rv, "inc-1", name, "i-1")
		a.RevertOf = of
		record(t, s, a, res)
	}
	revert(tag, "tag", ResultApplied)          // reverted
	revert(profile, "profile", ResultDrifted)  // not reverted: still to undo
	revert(isolate, "isolate", ResultFailed)   // failed, then ...
	revert(isolate, "isolate", ResultNoChange) // ... found already restored

	got, err := s.AppliedActions(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range got {
		ids = append(ids, r.ID)
		if r.Kind != KindApply || r.Config == nil || r.Before == nil {
			t.Errorf("applied record lacks what a revert needs: %+v", r)
		}
	}
	if want := []int64{profile}; !slices.Equal(ids, want) {
		t.Errorf("applied, not reverted = %v, want %v", ids, want)
	}
	_, err = s.AppliedActions(ctx, "inc-nope")
	wantErr(t, err, ErrNotFound)
}

func TestEvidence(t *testing.T) {
	ctx := context.Background()
	data := []byte(`{"instance":"i-1","state":"running"}`)
	digest := sha256Hex(data)
	for _, tc := range []struct {
		name string
		ev   Evidence
		want any
		// stored: the SHA256 and Size read back.
		sha  string
		size int64
	}{
		{name: "data", ev: Evidence{Kind: "facts", Name: "describe", Data: data}, sha: digest, size: int64(len(data))},
		{name: "data with its digest and size", ev: Evidence{Kind: "facts", Name: "describe", Data: data, SHA256: digest, Size: int64(len(data))},
			sha: digest, size: int64(len(data))},
		{name: "artefact kept elsewhere", ev: Evidence{Kind: "screenshot", Name: "console.png", SHA256: digest, Size: 123456,
			Meta: json.RawMessage(`{"uri":"s3://evidence/console.png"}`)}, sha: digest, size: 123456},
		{name: "snapshot without digest", ev: Evidence{Kind: "snapshot", Name: "snap-1", Meta: json.RawMessage(`{"volume":"vol-1"}`)}},
		{name: "empty data", ev: Evidence{Kind: "facts", Name: "empty", Data: []byte{}}, sha: sha256Hex(nil)},
		{name: "wrong digest", ev: Evidence{Kind: "facts", Name: "describe", Data: data, SHA256: sha256Hex([]byte("x"))}, want: "not the"},
		{name: "wrong size", ev: Evidence{Kind: "facts", Name: "describe", Data: data, Size: 3}, want: "not the 3 given"},
		{name: "malformed digest", ev: Evidence{Kind: "screenshot", Name: "a.png", SHA256: "ABC"}, want: "not 64 lower-case hex"},
		{name: "negative size", ev: Evidence{Kind: "screenshot", Name: "a.png", Size: -1}, want: "negative size"},
		{name: "no kind", ev: Evidence{Name: "a.png", Data: data}, want: "kind and name are required"},
		{name: "meta not JSON", ev: Evidence{Kind: "facts", Name: "x", Data: data, Meta: json.RawMessage(`{`)}, want: "meta: not valid JSON"},
		{name: "too large", ev: Evidence{Kind: "memory", Name: "dump", Data: make([]byte, MaxEvidenceSize+1)}, want: "store it elsewhere"},
		{name: "unknown incident", ev: Evidence{IncidentID: "inc-nope", Kind: "facts", Name: "x", Data: data}, want: ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			putIncident(t, s, testIncident("inc-1", "i-1"))
			ev := tc.ev
			if ev.IncidentID == "" {
				ev.IncidentID = "inc-1"
			}
			ev.CreatedAt = t0
			err := s.PutEvidence(ctx, ev)
			wantErr(t, err, tc.want)
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
				!bytes.Equal(e.Data, ev.Data) || string(e.Meta) != string(ev.Meta) || !e.CreatedAt.Equal(t0) {
				t.Errorf("evidence read back = %+v", e)
			}
		})
	}

	s := openTest(t)
	_, err := s.Evidence(ctx, "inc-nope")
	wantErr(t, err, ErrNotFound)
}
