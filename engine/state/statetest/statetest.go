// Package statetest is the conformance suite every state backend passes:
// the same tests run against SQLite and PostgreSQL, so the two cannot
// drift. A backend's test calls Run with a function that opens a fresh,
// empty store.
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
)

// Opener opens a new, empty store, closed when the test ends.
type Opener func(t *testing.T) state.Store

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"Inbox", testInbox},
		{"Approvals", testApprovals},
		{"Guardrails", testGuardrails},
		{"ConcurrentLimit", testConcurrentLimit},
		{"FindingVersion", testFindingVersion},
		{"Locks", testLocks},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// T0 is the time fixtures start at.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Incident is a recorded incident about instance.
func Incident(id, instance string) state.Incident {
	conf := 0.9
	return state.Incident{
		ID: id,
		Finding: plan.FindingSummary{
			ID: "f-" + id, Source: "guardduty", Type: "Backdoor:EC2/C&CActivity.B!DNS", Severity: "high",
			Account: "123456789012", Region: "us-west-2",
			Resource: plan.ResourceRef{Type: "aws_instance", ID: instance},
		},
		Matches:  []plan.Match{{Rule: "ec2_compromise", Scope: "prod_web"}},
		Verdicts: []plan.Verdict{{Rule: "ec2_compromise", Verdict: "malicious", Confidence: &conf, Reasons: []string{"c2 domain"}}},
		Facts:    json.RawMessage(`{"aws_ec2_describe":{"state":"running"}}`),
	}
}

// Target is an instance as an action's target.
func Target(instance string) actions.Target {
	return actions.Target{Type: "aws_instance", ID: instance, Account: "123456789012", Region: "us-west-2"}
}

// Action is action NAME on instance, planned in phase contain.
func Action(applyID int64, incident, name, instance string) state.ActionStart {
	return state.ActionStart{
		ApplyID: applyID, IncidentID: incident, Address: plan.Address(name, instance), Action: name,
		Type: "aws_ec2_" + name, Phase: "contain", Target: Target(instance), Reversible: true,
		Before: json.RawMessage(`{"state":"before"}`), Config: json.RawMessage(`{"security_group_id":"sg-iso"}`),
		StartedAt: T0,
	}
}

// BeginApply begins an apply of planID.
func BeginApply(t testing.TB, s state.Store, planID string, kind state.Kind) int64 {
	t.Helper()
	id, err := s.BeginApply(context.Background(), state.ApplyStart{
		PlanID: planID, Kind: kind, ConfigDigest: "sha256:abc", CordonVersion: "test", Owner: "tester", StartedAt: T0,
	})
	if err != nil {
		t.Fatalf("BeginApply(%s): %v", planID, err)
	}
	return id
}

// PutIncident records inc.
func PutIncident(t testing.TB, s state.Store, inc state.Incident) {
	t.Helper()
	if err := s.PutIncident(context.Background(), inc); err != nil {
		t.Fatalf("PutIncident(%s): %v", inc.ID, err)
	}
}

// Record runs one action of an apply to the given result.
func Record(t testing.TB, s state.Store, a state.ActionStart, res state.Result) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := s.ActionStarted(ctx, a)
	if err != nil {
		t.Fatalf("ActionStarted(%s): %v", a.Address, err)
	}
	out := state.Outcome{Result: res, After: json.RawMessage(`{"state":"after"}`), FinishedAt: a.StartedAt.Add(time.Second)}
	if err := s.ActionFinished(ctx, id, out); err != nil {
		t.Fatalf("ActionFinished(%d): %v", id, err)
	}
	return id
}

// WantErr checks err against want: an error it must match with errors.Is,
// or text it must contain.
func WantErr(t testing.TB, err error, want any) {
	t.Helper()
	switch w := want.(type) {
	case error:
		if !errors.Is(err, w) {
			t.Fatalf("error = %v, want %v", err, w)
		}
	case string:
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Fatalf("error = %v, want one containing %q", err, w)
		}
	default:
		t.Fatalf("WantErr: %T", want)
	}
}
