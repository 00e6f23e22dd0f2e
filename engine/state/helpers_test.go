package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
)

// t0 is the time fixtures start at.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// openTest opens a store in a new temporary directory, closed at the end
// of the test.
func openTest(t testing.TB) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), ".cordon", "state.db"))
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

func testIncident(id, instance string) Incident {
	conf := 0.9
	return Incident{
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

func target(instance string) actions.Target {
	return actions.Target{Type: "aws_instance", ID: instance, Account: "123456789012", Region: "us-west-2"}
}

// testAction is action NAME on instance, planned in phase contain.
func testAction(applyID int64, incident, name, instance string) ActionStart {
	return ActionStart{
		ApplyID:    applyID,
		IncidentID: incident,
		Address:    plan.Address(name, instance),
		Action:     name,
		Type:       "aws_ec2_" + name,
		Phase:      "contain",
		Target:     target(instance),
		Reversible: true,
		Before:     json.RawMessage(`{"state":"before"}`),
		Config:     json.RawMessage(`{"security_group_id":"sg-iso"}`),
		StartedAt:  t0,
	}
}

func applied(after string) Outcome {
	return Outcome{Result: ResultApplied, After: json.RawMessage(after), FinishedAt: t0.Add(time.Second)}
}

func beginApply(t testing.TB, s Store, planID string, kind Kind) int64 {
	t.Helper()
	id, err := s.BeginApply(context.Background(), ApplyStart{
		PlanID: planID, Kind: kind, ConfigDigest: "sha256:abc", CordonVersion: "test", Owner: "tester", StartedAt: t0,
	})
	if err != nil {
		t.Fatalf("BeginApply(%s): %v", planID, err)
	}
	return id
}

func putIncident(t testing.TB, s Store, inc Incident) {
	t.Helper()
	if err := s.PutIncident(context.Background(), inc); err != nil {
		t.Fatalf("PutIncident(%s): %v", inc.ID, err)
	}
}

func startAction(t testing.TB, s Store, a ActionStart) int64 {
	t.Helper()
	id, err := s.ActionStarted(context.Background(), a)
	if err != nil {
		t.Fatalf("ActionStarted(%s): %v", a.Address, err)
	}
	return id
}

func finishAction(t testing.TB, s Store, id int64, out Outcome) {
	t.Helper()
	if err := s.ActionFinished(context.Background(), id, out); err != nil {
		t.Fatalf("ActionFinished(%d): %v", id, err)
	}
}

// record runs one action of an apply to the given result.
func record(t testing.TB, s Store, a ActionStart, res Result) int64 {
	t.Helper()
	id := startAction(t, s, a)
	finishAction(t, s, id, Outcome{Result: res, After: json.RawMessage(`{"state":"after"}`), FinishedAt: a.StartedAt.Add(time.Second)})
	return id
}

// wantErr checks err against want: nil means no error; otherwise err must
// match it with errors.Is or contain its text.
func wantErr(t testing.TB, err error, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
	case error:
		if !isErr(err, w) {
			t.Fatalf("error = %v, want %v", err, w)
		}
	case string:
		if err == nil || !contains(err.Error(), w) {
			t.Fatalf("error = %v, want one containing %q", err, w)
		}
	default:
		panic(fmt.Sprintf("wantErr: %T", want))
	}
}

func isErr(err, target error) bool { return errors.Is(err, target) }
func contains(s, sub string) bool  { return strings.Contains(s, sub) }

// deadPID returns the id of a process that has exited: a child of this
// test binary that ran no tests, waited for. One is made per test run (a
// -race binary is slow to start); Linux does not reuse its id that soon.
func deadPID(t testing.TB) int {
	t.Helper()
	deadOnce.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		if deadErr = cmd.Run(); deadErr == nil {
			dead = cmd.ProcessState.Pid()
		}
	})
	if deadErr != nil {
		t.Fatalf("running a child process: %v", deadErr)
	}
	return dead
}

var (
	deadOnce sync.Once
	dead     int
	deadErr  error
)

// execRaw runs a statement on the store's writer connection, going around
// the API the way a buggy or hostile writer would.
func (s *SQLiteStore) execRaw(t testing.TB, query string, args ...any) error {
	t.Helper()
	_, err := s.w.ExecContext(context.Background(), query, args...)
	return err
}
