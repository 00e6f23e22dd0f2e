package statetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/state"
)

// testLocks checks what `cordon state locks` and `cordon state unlock`
// rely on: the locks listed with their ids and holders, the id a waiter's
// error names, a forced unlock that removes exactly one acquisition of
// one key, and its record.
func testLocks(t *testing.T, open Opener) {
	ctx := context.Background()
	const carol = "carol@ops-1"

	t.Run("listed with ids and holders", func(t *testing.T) {
		s := open(t)
		locks, err := s.Locks(ctx)
		if err != nil || len(locks) != 0 {
			t.Fatalf("locks of a new store = %+v, %v", locks, err)
		}
		release, err := s.Lock(ctx, []string{"k2", "k1"}, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		locks, err = s.Locks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(locks) != 2 || locks[0].Key != "k1" || locks[1].Key != "k2" {
			t.Fatalf("locks = %+v, want k1 and k2, by key", locks)
		}
		for _, l := range locks {
			// The holder is this process, so the store can tell it
			// lives.
			if l.ID == "" || l.Owner != "alice" || l.PID == 0 || l.Host == "" || l.AcquiredAt.IsZero() || l.Liveness != state.LivenessAlive {
				t.Errorf("lock %+v, want alice's, with an id, alive", l)
			}
		}
		if locks[0].ID == locks[1].ID {
			t.Errorf("k1 and k2 share the id %s", locks[0].ID)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		if locks, err := s.Locks(ctx); err != nil || len(locks) != 0 {
			t.Errorf("locks after release = %+v, %v", locks, err)
		}
	})

	t.Run("the lock error names the id", func(t *testing.T) {
		s := open(t)
		release, err := s.Lock(ctx, []string{"k1"}, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		_, err = s.Lock(ctx, []string{"k1"}, "bob", 0)
		var le *state.LockError
		if !errors.As(err, &le) {
			t.Fatalf("error = %v, want a *LockError", err)
		}
		locks, lerr := s.Locks(ctx)
		if lerr != nil || len(locks) != 1 {
			t.Fatalf("locks = %+v, %v", locks, lerr)
		}
		if le.Holder.ID != locks[0].ID || le.Holder.Owner != "alice" || le.Holder.Liveness != state.LivenessAlive {
			t.Errorf("holder = %+v, want lock %s of alice, alive", le.Holder, locks[0].ID)
		}
		if !strings.Contains(err.Error(), "cordon state unlock "+locks[0].ID) {
			t.Errorf("error %q does not say how to unlock", err)
		}
	})

	t.Run("force-unlock removes exactly one lock and records it", func(t *testing.T) {
		s := open(t)
		releaseA, err := s.Lock(ctx, []string{"k1", "k2"}, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		releaseB, err := s.Lock(ctx, []string{"k3"}, "bob", 0)
		if err != nil {
			t.Fatal(err)
		}
		locks, err := s.Locks(ctx)
		if err != nil || len(locks) != 3 {
			t.Fatalf("locks = %+v, %v", locks, err)
		}
		k1 := locks[0]
		got, err := s.ForceUnlock(ctx, k1.ID, carol)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != k1.ID || got.Key != "k1" || got.Owner != "alice" || !got.AcquiredAt.Equal(k1.AcquiredAt) {
			t.Errorf("removed %+v, want %+v", got, k1)
		}
		locks, err = s.Locks(ctx)
		if err != nil || len(locks) != 2 || locks[0].Key != "k2" || locks[1].Key != "k3" {
			t.Fatalf("locks after the unlock = %+v, %v; want k2 and k3", locks, err)
		}
		ev, err := s.LockEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev) != 1 || ev[0].Kind != state.LockForced || ev[0].By != carol || ev[0].ByHost == "" || ev[0].At.IsZero() ||
			ev[0].Lock.ID != k1.ID || ev[0].Lock.Key != "k1" || ev[0].Lock.Owner != "alice" || ev[0].Lock.PID != k1.PID ||
			ev[0].Lock.Host != k1.Host || ev[0].Lock.Liveness != state.LivenessAlive {
			t.Errorf("lock events = %+v, want carol's forcing of alice's k1", ev)
		}
		// Alice learns at release that she lost a lock; bob loses nothing.
		if err := releaseA(); err == nil || !strings.Contains(err.Error(), "no longer held") {
			t.Errorf("alice's release = %v, want it to say a lock was lost", err)
		}
		if err := releaseB(); err != nil {
			t.Errorf("bob's release: %v", err)
		}
	})

	t.Run("an id outlives no acquisition", func(t *testing.T) {
		s := open(t)
		release, err := s.Lock(ctx, []string{"k1"}, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		locks, _ := s.Locks(ctx)
		old := locks[0].ID
		if err := release(); err != nil {
			t.Fatal(err)
		}
		release, err = s.Lock(ctx, []string{"k1"}, "bob", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		locks, _ = s.Locks(ctx)
		if len(locks) != 1 || locks[0].ID == old {
			t.Fatalf("k1 taken again = %+v, want a new id (not %s)", locks, old)
		}
		// An unlock meant for alice's lock cannot remove bob's.
		_, err = s.ForceUnlock(ctx, old, carol)
		WantErr(t, err, state.ErrNotFound)
		if locks, _ := s.Locks(ctx); len(locks) != 1 || locks[0].Owner != "bob" {
			t.Errorf("locks = %+v, want bob's k1", locks)
		}
	})

	t.Run("bad force-unlocks change nothing", func(t *testing.T) {
		s := open(t)
		release, err := s.Lock(ctx, []string{"k1"}, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		locks, _ := s.Locks(ctx)
		for _, tc := range []struct {
			name, id, by string
			want         any
		}{
			{"unknown id", "0123456789ab", carol, state.ErrNotFound},
			{"a key, not an id", "k1", carol, state.ErrNotFound},
			{"no id", "", carol, "lock id is empty"},
			{"nobody forcing", locks[0].ID, "", "who forces it is not given"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.ForceUnlock(ctx, tc.id, tc.by)
				WantErr(t, err, tc.want)
			})
		}
		if after, _ := s.Locks(ctx); len(after) != 1 || after[0].ID != locks[0].ID {
			t.Errorf("locks = %+v, want alice's k1 untouched", after)
		}
		if ev, err := s.LockEvents(ctx); err != nil || len(ev) != 0 {
			t.Errorf("lock events = %+v, %v; want none", ev, err)
		}
	})
}
