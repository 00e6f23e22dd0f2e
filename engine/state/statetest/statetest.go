// Package statetest is the conformance suite every state backend passes:
// the same tests run against SQLite and PostgreSQL, so the two cannot
// drift. A backend's test calls Run with a Backend that makes fresh,
// empty states and opens stores on them.
//
// The suite covers what every backend promises through state.Store: the
// apply journal and its errors, what is read back, the locks, the
// daemon's inbox and approvals, the guardrails, concurrency (many writers,
// two stores on one state), and a process killed mid-apply. What only
// one backend has (SQLite's file modes and pid rules, PostgreSQL's
// sessions and migrations) is tested beside that backend.
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
)

// Backend is a state backend under test.
type Backend struct {
	// New makes a new, empty state, removed when the test ends.
	New func(t *testing.T) State
	// CrashHelper names the test of the backend's package that, run in a
	// child process with the State's Env, opens that state and calls
	// CrashChild. Empty skips the crash test.
	CrashHelper string
	// SessionLocks says target locks are database sessions' locks, lost
	// with the session: a process holding a plan's locks may take over
	// that plan's apply from any other process, and fences it off.
	SessionLocks bool
}

// State is one state under test: a SQLite file, a PostgreSQL schema.
type State interface {
	// Open opens a store on the state, as a process would, closed when
	// the test ends. Two stores of one state are two processes sharing
	// it.
	Open(t testing.TB) state.Store
	// Env is what a child process needs in its environment to open the
	// state (see Backend.CrashHelper).
	Env() []string
	// SetApplyProcess makes running apply applyID look like process
	// pid's on host, recorded without boot id or start time (so its pid
	// alone decides whether it lives), going around the store's API as
	// another process's record would.
	SetApplyProcess(t testing.TB, applyID int64, pid int, host string)
	// Exec runs one SQL statement on the state through a connection of
	// its own, going around the store as another tool with access to the
	// database would, and returns its error (a trigger refusing it, say).
	// Placeholders are $1, $2, … (SQLite takes them too).
	Exec(t testing.TB, query string, args ...any) error
	// DropAppendOnly removes the triggers that keep table append-only, as
	// an attacker with access to the database would before changing it.
	DropAppendOnly(t testing.TB, table string)
}

// Opener opens a new, empty store, closed when the test ends.
type Opener func(t *testing.T) state.Store

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	open := func(t *testing.T) state.Store { return b.New(t).Open(t) }
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
		{"FinishApply", testFinishApply},
		{"ActionLifecycle", testActionLifecycle},
		{"ActionStartedErrors", testActionStartedErrors},
		{"ActionFinishedErrors", testActionFinishedErrors},
		{"PutIncident", testPutIncident},
		{"Incidents", testIncidents},
		{"IncidentDetail", testIncidentDetail},
		{"DoneActions", testDoneActions},
		{"AppliedActions", testAppliedActions},
		{"Evidence", testEvidence},
		{"CustodyLog", testCustodyLog},
		{"AppendCustodyErrors", testAppendCustodyErrors},
		{"LockArguments", testLockArguments},
		{"LockIsNotReentrant", testLockIsNotReentrant},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"BeginApply", testBeginApply},
		{"TakenOverApplyIsFenced", testTakenOverApplyIsFenced},
		{"ConcurrentActions", testConcurrentActions},
		{"LockConflictTakesNothing", testLockConflictTakesNothing},
		{"LockWaitsForRelease", testLockWaitsForRelease},
		{"LockTimesOut", testLockTimesOut},
		{"LockHonoursContext", testLockHonoursContext},
		{"LockReleasesOnlyItsOwn", testLockReleasesOnlyItsOwn},
		{"ForceUnlockAcrossStores", testForceUnlockAcrossStores},
		{"LockErrorNamesTheID", testLockErrorNamesTheID},
		{"CloseReleasesLocks", testCloseReleasesLocks},
		{"CloseMidApplyLeavesActionStarted", testCloseMidApply},
		{"CrashMidApply", testCrashMidApply},
		{"CustodyIsAppendOnly", testCustodyIsAppendOnly},
		{"CustodyTampering", testCustodyTampering},
		{"ConcurrentCustody", testConcurrentCustody},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// twoStores opens two stores on one new state, as two processes would.
func twoStores(t *testing.T, b Backend) (a, c state.Store) {
	t.Helper()
	st := b.New(t)
	return st.Open(t), st.Open(t)
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

// WantErr checks err against want: nil for no error, an error it must
// match with errors.Is, or text it must contain.
func WantErr(t testing.TB, err error, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
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

// StartAction records an action as started.
func StartAction(t testing.TB, s state.Store, a state.ActionStart) int64 {
	t.Helper()
	id, err := s.ActionStarted(context.Background(), a)
	if err != nil {
		t.Fatalf("ActionStarted(%s): %v", a.Address, err)
	}
	return id
}

// FinishAction records an action's outcome.
func FinishAction(t testing.TB, s state.Store, id int64, out state.Outcome) {
	t.Helper()
	if err := s.ActionFinished(context.Background(), id, out); err != nil {
		t.Fatalf("ActionFinished(%d): %v", id, err)
	}
}

// FinishApply finishes an apply with status.
func FinishApply(t testing.TB, s state.Store, id int64, status state.ApplyStatus) {
	t.Helper()
	if err := s.FinishApply(context.Background(), id, status, json.RawMessage(`{"applied":1}`)); err != nil {
		t.Fatalf("FinishApply(%d): %v", id, err)
	}
}

// Applied is the outcome of an action applied, leaving after.
func Applied(after string) state.Outcome {
	return state.Outcome{Result: state.ResultApplied, After: json.RawMessage(after), FinishedAt: T0.Add(time.Second)}
}

// DeadPID returns the id of a process that has exited: a child of this
// test binary that ran no tests, waited for. One is made per test run (a
// -race binary is slow to start); Linux does not reuse its id that soon.
func DeadPID(t testing.TB) int {
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

// Hostname is this host's name, as stores record it.
func Hostname(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil || h == "" {
		t.Skipf("no host name: %v", err)
	}
	return h
}

// lockOwners returns the locks held as key → owner.
func lockOwners(t testing.TB, s state.Store) map[string]string {
	t.Helper()
	locks, err := s.Locks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range locks {
		m[l.Key] = l.Owner
	}
	return m
}

// lock takes keys for owner, failing the test if it cannot.
func lock(t testing.TB, s state.Store, owner string, keys ...string) func() error {
	t.Helper()
	release, err := s.Lock(context.Background(), keys, owner, 0)
	if err != nil {
		t.Fatalf("Lock(%v) for %s: %v", keys, owner, err)
	}
	return release
}
