package statetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cordonhq/cordon/engine/state"
)

// Many goroutines record actions at once, as the engine applies targets
// concurrently, on two stores sharing one state, as two processes would,
// while readers list and show incidents. Every pair is recorded, none is
// left started, and every read is consistent: an incident's actions never
// show more finished records than were started.
func testConcurrentActions(t *testing.T, b Backend) {
	const (
		writers = 8  // per store
		actions = 20 // per writer
	)
	ctx := context.Background()
	a, c := twoStores(t, b)
	stores := []state.Store{a, c}
	applies := make([]int64, len(stores))
	for i, s := range stores {
		for w := range writers {
			PutIncident(t, s, Incident(fmt.Sprintf("inc-%d-%d", i, w), "i-1"))
		}
		applies[i] = BeginApply(t, s, fmt.Sprintf("plan-%d", i), state.KindApply)
	}

	var writing sync.WaitGroup
	var ids sync.Map
	errs := make(chan error, len(stores)*writers+2)
	for i, s := range stores {
		for w := range writers {
			writing.Go(func() {
				inc := fmt.Sprintf("inc-%d-%d", i, w)
				for n := range actions {
					instance := fmt.Sprintf("i-%d", n)
					id, err := s.ActionStarted(ctx, Action(applies[i], inc, "isolate", instance))
					if err != nil {
						errs <- err
						return
					}
					if _, dup := ids.LoadOrStore(id, inc); dup {
						errs <- fmt.Errorf("action id %d given twice", id)
						return
					}
					if err := s.ActionFinished(ctx, id, Applied(`{"security_groups":["sg-iso"]}`)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	var stop atomic.Bool
	var reading sync.WaitGroup
	for _, s := range stores {
		reading.Go(func() {
			for !stop.Load() {
				list, err := s.Incidents(ctx, state.IncidentFilter{})
				if err != nil {
					errs <- err
					return
				}
				for _, is := range list {
					if is.Actions[state.ResultApplied]+is.Actions[state.ResultStarted] > actions {
						errs <- fmt.Errorf("%s: inconsistent counts %v", is.ID, is.Actions)
						return
					}
				}
				if _, err := s.Incident(ctx, "inc-0-0"); err != nil {
					errs <- err
					return
				}
				if _, err := s.StartedActions(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writing.Wait()
	stop.Store(true)
	reading.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	list, err := a.Incidents(ctx, state.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(stores)*writers {
		t.Fatalf("%d incidents, want %d", len(list), len(stores)*writers)
	}
	for _, is := range list {
		if is.Status != state.StatusResponded || is.Actions[state.ResultApplied] != actions {
			t.Errorf("%s: status %s, actions %v", is.ID, is.Status, is.Actions)
		}
	}
	if started, err := c.StartedActions(ctx); err != nil || len(started) != 0 {
		t.Errorf("started actions left: %d, %v", len(started), err)
	}
}
