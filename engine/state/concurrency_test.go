package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Many goroutines record actions at once, as the engine applies targets
// concurrently, on two stores sharing one file, as two processes would,
// while readers list and show incidents. Every pair is recorded, none is
// left started, and every read is consistent: an incident's actions never
// show more finished records than were started.
func TestConcurrentActions(t *testing.T) {
	const (
		writers = 8  // per store
		actions = 20 // per writer
	)
	ctx := context.Background()
	a, b := twoStores(t)
	stores := []*SQLiteStore{a, b}
	applies := make([]int64, len(stores))
	for i, s := range stores {
		for w := range writers {
			putIncident(t, s, testIncident(fmt.Sprintf("inc-%d-%d", i, w), "i-1"))
		}
		applies[i] = beginApply(t, s, fmt.Sprintf("plan-%d", i), KindApply)
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
					id, err := s.ActionStarted(ctx, testAction(applies[i], inc, "isolate", instance))
					if err != nil {
						errs <- err
						return
					}
					if _, dup := ids.LoadOrStore(id, inc); dup {
						errs <- fmt.Errorf("action id %d given twice", id)
						return
					}
					if err := s.ActionFinished(ctx, id, applied(`{"security_groups":["sg-iso"]}`)); err != nil {
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
				list, err := s.Incidents(ctx, IncidentFilter{})
				if err != nil {
					errs <- err
					return
				}
				for _, is := range list {
					if is.Actions[ResultApplied]+is.Actions[ResultStarted] > actions {
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

	list, err := a.Incidents(ctx, IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(stores)*writers {
		t.Fatalf("%d incidents, want %d", len(list), len(stores)*writers)
	}
	for _, is := range list {
		if is.Status != StatusResponded || is.Actions[ResultApplied] != actions {
			t.Errorf("%s: status %s, actions %v", is.ID, is.Status, is.Actions)
		}
	}
	if started, err := b.StartedActions(ctx); err != nil || len(started) != 0 {
		t.Errorf("started actions left: %d, %v", len(started), err)
	}
}
