package state

import (
	"context"
	"testing"
)

// The conformance suite (statetest, run by conformance_test.go) covers the
// journal through the Store interface; what remains here goes around it.

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

// runningApply records incident inc-1 and a running apply of plan-1.
func runningApply(t *testing.T, s *SQLiteStore) int64 {
	putIncident(t, s, testIncident("inc-1", "i-1"))
	return beginApply(t, s, "plan-1", KindApply)
}
