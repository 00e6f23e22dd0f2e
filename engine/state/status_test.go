package state

import (
	"maps"
	"testing"
)

func TestDeriveStatus(t *testing.T) {
	// ap and rv build the fields deriveStatus reads.
	ap := func(id int64, addr string, res Result, reversible bool) ActionRecord {
		return ActionRecord{ID: id, Kind: KindApply, Address: addr, Result: res, Reversible: reversible}
	}
	rv := func(id, of int64, res Result) ActionRecord {
		return ActionRecord{ID: id, Kind: KindRevert, Address: "x", Result: res, RevertOf: of}
	}
	for _, tc := range []struct {
		name     string
		recs     []ActionRecord
		status   IncidentStatus
		counts   map[Result]int
		reverted int
	}{
		{"nothing", nil, StatusPlanned, map[Result]int{}, 0},
		{"applied", []ActionRecord{ap(1, "a", ResultApplied, true), ap(2, "b", ResultNoChange, true)},
			StatusResponded, map[Result]int{ResultApplied: 1, ResultNoChange: 1}, 0},
		{"recovered counts as done", []ActionRecord{ap(1, "a", ResultRecovered, true)},
			StatusResponded, map[Result]int{ResultRecovered: 1}, 0},
		{"in flight", []ActionRecord{ap(1, "a", ResultApplied, true), ap(2, "b", ResultStarted, true)},
			StatusApplying, map[Result]int{ResultApplied: 1, ResultStarted: 1}, 0},
		{"failed", []ActionRecord{ap(1, "a", ResultApplied, true), ap(2, "b", ResultFailed, true)},
			StatusFailed, map[Result]int{ResultApplied: 1, ResultFailed: 1}, 0},
		{"drifted", []ActionRecord{ap(1, "a", ResultDrifted, true)}, StatusFailed, map[Result]int{ResultDrifted: 1}, 0},
		{"skipped", []ActionRecord{ap(1, "a", ResultFailed, true), ap(2, "b", ResultSkipped, true)},
			StatusFailed, map[Result]int{ResultFailed: 1, ResultSkipped: 1}, 0},
		// Two failed applies, then one that applied all but an action it
		// skipped for want of approval: the skip is no outcome, and the
		// action keeps the one it had.
		{"failed twice, then applied with a skip", []ActionRecord{
			ap(1, "tag", ResultApplied, true), ap(2, "isolate", ResultFailed, true), ap(3, "stop", ResultSkipped, true),
			ap(4, "tag", ResultNoChange, true), ap(5, "isolate", ResultFailed, true), ap(6, "stop", ResultSkipped, true),
			ap(7, "tag", ResultSkipped, true), ap(8, "isolate", ResultApplied, true), ap(9, "stop", ResultApplied, true)},
			StatusResponded, map[Result]int{ResultApplied: 2, ResultNoChange: 1}, 0},
		{"only ever skipped, waiting for approval", []ActionRecord{ap(1, "a", ResultApplied, true), ap(2, "b", ResultSkipped, true)},
			StatusResponded, map[Result]int{ResultApplied: 1, ResultSkipped: 1}, 0},
		{"failed, then skipped: still failed", []ActionRecord{ap(1, "a", ResultFailed, true), ap(2, "a", ResultSkipped, true)},
			StatusFailed, map[Result]int{ResultFailed: 1}, 0},
		{"interrupted, then applied by the resumed apply",
			[]ActionRecord{ap(1, "a", ResultInterrupted, true), ap(2, "a", ResultApplied, true)},
			StatusResponded, map[Result]int{ResultApplied: 1}, 0},
		{"interrupted", []ActionRecord{ap(1, "a", ResultInterrupted, true)}, StatusFailed, map[Result]int{ResultInterrupted: 1}, 0},
		{"reverted", []ActionRecord{ap(1, "a", ResultApplied, true), rv(2, 1, ResultApplied)},
			StatusReverted, map[Result]int{ResultApplied: 1}, 1},
		{"reverted; the irreversible snapshot stays",
			[]ActionRecord{ap(1, "a", ResultApplied, true), ap(2, "snap", ResultApplied, false), rv(3, 1, ResultApplied)},
			StatusReverted, map[Result]int{ResultApplied: 2}, 1},
		{"revert found it already restored", []ActionRecord{ap(1, "a", ResultApplied, true), rv(2, 1, ResultNoChange)},
			StatusReverted, map[Result]int{ResultApplied: 1}, 1},
		{"partially reverted", []ActionRecord{ap(1, "a", ResultApplied, true), ap(2, "b", ResultApplied, true),
			rv(3, 1, ResultApplied), rv(4, 2, ResultDrifted)},
			StatusPartiallyReverted, map[Result]int{ResultApplied: 2}, 1},
		{"a failed revert retried", []ActionRecord{ap(1, "a", ResultApplied, true), rv(2, 1, ResultFailed), rv(3, 1, ResultApplied)},
			StatusReverted, map[Result]int{ResultApplied: 1}, 1},
		{"every revert failed: the response stands",
			[]ActionRecord{ap(1, "a", ResultApplied, true), rv(2, 1, ResultFailed)},
			StatusResponded, map[Result]int{ResultApplied: 1}, 0},
		{"revert in flight", []ActionRecord{ap(1, "a", ResultApplied, true), rv(2, 1, ResultStarted)},
			StatusApplying, map[Result]int{ResultApplied: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, counts, reverted := deriveStatus(tc.recs)
			if status != tc.status || !maps.Equal(counts, tc.counts) || reverted != tc.reverted {
				t.Errorf("deriveStatus = %s, %v, %d; want %s, %v, %d", status, counts, reverted, tc.status, tc.counts, tc.reverted)
			}
		})
	}
}
