package serve

import (
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine/state"
)

// The waits between applies that found no AWS access double up to
// maxAccessRetry, and stop at the approval timeout counted from the plan's
// making or, when a person approved it, its approval.
func TestAccessRetriesBackOffUntilTheDeadline(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	approved := t0.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		rec      state.PlanRecord
		window   time.Duration
		failures []time.Duration // when each attempt fails, after t0
		wantAt   []time.Duration // when the next is due, after t0; -1: given up
	}{
		{"doubling", state.PlanRecord{ID: "p1", CreatedAt: t0}, 24 * time.Hour,
			[]time.Duration{0, 5 * time.Second, 15 * time.Second, 35 * time.Second},
			[]time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second, 75 * time.Second}},
		{"capped", state.PlanRecord{ID: "p2", CreatedAt: t0}, 24 * time.Hour,
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}},
		{"past the window", state.PlanRecord{ID: "p3", CreatedAt: t0}, 12 * time.Second,
			[]time.Duration{0, 5 * time.Second},
			[]time.Duration{5 * time.Second, -1}},
		{"window from the approval", state.PlanRecord{ID: "p4", CreatedAt: t0, DecidedAt: &approved}, 90 * time.Minute,
			[]time.Duration{100 * time.Minute},
			[]time.Duration{100*time.Minute + 5*time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newAccessRetries(0)
			for i, f := range tc.failures {
				now := t0.Add(f)
				at, first, ok := r.failed(&tc.rec, now, tc.window)
				if want := tc.wantAt[i]; want < 0 {
					if ok {
						t.Fatalf("attempt %d: tried again at %s, want given up", i+1, at)
					}
					if !r.due(tc.rec.ID, now) {
						t.Error("a plan given up is still put off")
					}
					continue
				} else if !ok || !at.Equal(t0.Add(want)) {
					t.Fatalf("attempt %d: at %s ok %v, want %s", i+1, at.Sub(t0), ok, want)
				}
				if first != (i == 0) {
					t.Errorf("attempt %d: first = %v", i+1, first)
				}
				if r.due(tc.rec.ID, at.Add(-time.Millisecond)) || !r.due(tc.rec.ID, at) {
					t.Errorf("attempt %d: due before %s, or not at it", i+1, at.Sub(t0))
				}
			}
			r.forget(tc.rec.ID)
			if !r.due(tc.rec.ID, t0) {
				t.Error("a forgotten plan is still put off")
			}
		})
	}
}
