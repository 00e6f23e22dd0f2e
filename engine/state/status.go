package state

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// deriveStatus works out an incident's status, the count of its planned
// actions by result, and the number of changes reverted, from its action
// records in the order they started. Only ID, Address, Kind, Result,
// Reversible and RevertOf are read. The status is derived rather than
// stored so that it cannot disagree with the records it summarises.
//
// A planned action is counted once, by its latest outcome: an action
// interrupted and then applied by a resumed apply counts as applied once,
// and one that failed twice and then applied counts as applied. A skipped
// record is no outcome (the action was not tried: it waited for approval,
// a rule's max_actions_per_hour withheld it, or an earlier action on its
// target failed), so it replaces no earlier outcome of the action; an
// action only ever skipped counts as skipped, which alone does not fail
// the incident (the failure that made it skip does). The attempts stay in
// the records, for cordon state show. A change is reverted when its latest
// revert record applied (or found the target already restored).
func deriveStatus(recs []ActionRecord) (IncidentStatus, map[Result]int, int) {
	counts := map[Result]int{}
	if len(recs) == 0 {
		return StatusPlanned, counts, 0
	}
	latest := map[string]Result{} // address → result of its latest apply record
	var order []string            // addresses in first-seen order
	revert := map[int64]Result{}  // applied action id → result of its latest revert
	var changed []int64           // reversible actions that changed their target
	started, reverts := false, false
	for i := range recs {
		r := &recs[i]
		if r.Result == ResultStarted {
			started = true
		}
		switch r.Kind {
		case KindApply:
			prev, seen := latest[r.Address]
			if !seen {
				order = append(order, r.Address)
			}
			if r.Result != ResultSkipped || !seen || prev == ResultSkipped {
				latest[r.Address] = r.Result
			}
			if r.Reversible && r.Result.changed() {
				changed = append(changed, r.ID)
			}
		case KindRevert:
			reverts = true
			revert[r.RevertOf] = r.Result
		}
	}
	failed := false
	for _, addr := range order {
		res := latest[addr]
		counts[res]++
		switch res {
		case ResultFailed, ResultDrifted, ResultInterrupted:
			failed = true
		}
	}
	reverted := 0
	for _, id := range changed {
		if res := revert[id]; res == ResultApplied || res == ResultNoChange {
			reverted++
		}
	}
	switch {
	case started:
		return StatusApplying, counts, reverted
	case reverts && reverted > 0 && reverted == len(changed):
		return StatusReverted, counts, reverted
	case reverts && reverted > 0:
		return StatusPartiallyReverted, counts, reverted
	case failed:
		return StatusFailed, counts, reverted
	case len(order) == 0:
		// Only revert records: nothing of this incident's own plan ran.
		return StatusPlanned, counts, reverted
	}
	return StatusResponded, counts, reverted
}

// prepare checks evidence and fills in its digest and size from its data.
func (ev *Evidence) prepare() error {
	if ev.IncidentID == "" {
		return fmt.Errorf("evidence %s: incident id is empty", ev.Name)
	}
	if ev.Kind == "" || ev.Name == "" {
		return fmt.Errorf("evidence of incident %s: kind and name are required", ev.IncidentID)
	}
	if err := checkJSON(ev.Meta); err != nil {
		return fmt.Errorf("evidence %s/%s: meta: %w", ev.Kind, ev.Name, err)
	}
	if ev.Data == nil {
		if ev.SHA256 != "" && !isSHA256Hex(ev.SHA256) {
			return fmt.Errorf("evidence %s/%s: sha256 %q is not 64 lower-case hex digits", ev.Kind, ev.Name, ev.SHA256)
		}
		if ev.Size < 0 {
			return fmt.Errorf("evidence %s/%s: negative size", ev.Kind, ev.Name)
		}
		return nil
	}
	if len(ev.Data) > MaxEvidenceSize {
		return fmt.Errorf("evidence %s/%s is %d bytes; state keeps up to %d: store it elsewhere and record its digest",
			ev.Kind, ev.Name, len(ev.Data), MaxEvidenceSize)
	}
	sum := sha256Hex(ev.Data)
	if ev.SHA256 != "" && ev.SHA256 != sum {
		return fmt.Errorf("evidence %s/%s: data has sha256 %s, not the %s given", ev.Kind, ev.Name, sum, ev.SHA256)
	}
	if ev.Size != 0 && ev.Size != int64(len(ev.Data)) {
		return fmt.Errorf("evidence %s/%s: data is %d bytes, not the %d given", ev.Kind, ev.Name, len(ev.Data), ev.Size)
	}
	ev.SHA256, ev.Size = sum, int64(len(ev.Data))
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
