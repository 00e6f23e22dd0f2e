package statetest

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

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

func testLockConflictTakesNothing(t *testing.T, b Backend) {
	a, c := twoStores(t, b)
	lock(t, a, "alice", "k2", "k1")

	_, err := c.Lock(context.Background(), []string{"k3", "k2"}, "bob", 0)
	var le *state.LockError
	if !errors.As(err, &le) || !errors.Is(err, state.ErrLockTimeout) {
		t.Fatalf("error = %v, want a *LockError", err)
	}
	h := le.Holder
	if h.Key != "k2" || h.Owner != "alice" || h.PID != os.Getpid() || h.Host != Hostname(t) || h.AcquiredAt.IsZero() {
		t.Errorf("holder = %+v", h)
	}
	WantErr(t, err, `state lock "k2" is held by alice (pid`)
	if h.ID == "" || h.Liveness != state.LivenessAlive {
		t.Errorf("holder id %q, liveness %q; want an id, alive", h.ID, h.Liveness)
	}
	// All or none: bob's free key k3 was not taken.
	if got := lockOwners(t, a); len(got) != 2 || got["k1"] != "alice" || got["k2"] != "alice" {
		t.Errorf("locks = %v, want alice's k1 and k2 only", got)
	}
	// Nor is it held below the records: alice can take it.
	lock(t, a, "alice", "k3")
}

func testLockWaitsForRelease(t *testing.T, b Backend) {
	a, c := twoStores(t, b)
	release := lock(t, a, "alice", "k1")
	acquired := make(chan error, 1)
	go func() {
		release, err := c.Lock(context.Background(), []string{"k1", "k2"}, "bob", time.Minute)
		if err == nil {
			err = release()
		}
		acquired <- err
	}()
	time.Sleep(50 * time.Millisecond) // let bob wait (the test passes either way)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := <-acquired; err != nil {
		t.Fatalf("bob's Lock after alice released: %v", err)
	}
	if got := lockOwners(t, a); len(got) != 0 {
		t.Errorf("locks left = %v", got)
	}
}

func testLockTimesOut(t *testing.T, b Backend) {
	a, c := twoStores(t, b)
	lock(t, a, "alice", "k1")
	_, err := c.Lock(context.Background(), []string{"k1"}, "bob", 30*time.Millisecond)
	WantErr(t, err, state.ErrLockTimeout)
	WantErr(t, err, "gave up after waiting 30ms")
}

func testLockHonoursContext(t *testing.T, b Backend) {
	a, c := twoStores(t, b)
	lock(t, a, "alice", "k1")
	ctx, cancel := context.WithCancel(context.Background())
	// Long enough for bob to find alice's lock, however slow opening a
	// database session is: then he waits, and the cancel ends the wait.
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := c.Lock(ctx, []string{"k1"}, "bob", time.Hour)
	WantErr(t, err, context.Canceled)
	WantErr(t, err, "held by alice")
}

func testLockReleasesOnlyItsOwn(t *testing.T, b Backend) {
	a, c := twoStores(t, b)
	releaseA := lock(t, a, "alice", "k1")
	releaseB := lock(t, c, "bob", "k2")
	// The same owner in the same process, on other keys: a second apply.
	releaseA2 := lock(t, a, "alice", "k3")
	if err := releaseA(); err != nil {
		t.Fatal(err)
	}
	if err := releaseA(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if got := lockOwners(t, a); len(got) != 2 || got["k2"] != "bob" || got["k3"] != "alice" {
		t.Errorf("locks after alice released k1 = %v", got)
	}
	if err := releaseB(); err != nil {
		t.Fatal(err)
	}
	if err := releaseA2(); err != nil {
		t.Fatal(err)
	}
	if got := lockOwners(t, a); len(got) != 0 {
		t.Errorf("locks left = %v", got)
	}
}

func testLockIsNotReentrant(t *testing.T, open Opener) {
	s := open(t)
	lock(t, s, "alice", "k1")
	_, err := s.Lock(context.Background(), []string{"k1"}, "alice", 0)
	WantErr(t, err, state.ErrLockTimeout)
}

// A forced unlock by another process (another store) removes exactly the
// lock named, which its holder learns at release; the key taken again
// has another id, which the old one cannot remove.
func testForceUnlockAcrossStores(t *testing.T, b Backend) {
	ctx := context.Background()
	a, c := twoStores(t, b)
	releaseA := lock(t, a, "alice", "k1", "k2")
	locks, err := c.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 2 || locks[0].Key != "k1" || locks[1].Key != "k2" || locks[0].ID == locks[1].ID {
		t.Fatalf("locks = %+v, want k1 and k2 with distinct ids", locks)
	}
	k1 := locks[0]
	got, err := c.ForceUnlock(ctx, k1.ID, "carol@ops-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "k1" || got.Owner != "alice" || got.ID != k1.ID || got.Liveness != state.LivenessAlive {
		t.Errorf("removed %+v, want alice's k1, alive", got)
	}
	// Exactly that lock: alice's k2 is still recorded.
	if rows := lockOwners(t, a); len(rows) != 1 || rows["k2"] != "alice" {
		t.Errorf("locks after the unlock = %v, want alice's k2", rows)
	}
	ev, err := c.LockEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 || ev[0].Kind != state.LockForced || ev[0].By != "carol@ops-1" || ev[0].ByPID != os.Getpid() || ev[0].ByHost != Hostname(t) ||
		ev[0].Lock.ID != k1.ID || ev[0].Lock.Key != "k1" || ev[0].Lock.Owner != "alice" || ev[0].Lock.Liveness != state.LivenessAlive ||
		!ev[0].Lock.AcquiredAt.Equal(k1.AcquiredAt) || ev[0].At.IsZero() {
		t.Errorf("lock events = %+v, want carol's forcing of alice's k1", ev)
	}

	// Taken again, the key has another id: the old one removes nothing.
	releaseB := lock(t, c, "bob", "k1")
	locks, _ = c.Locks(ctx)
	if len(locks) != 2 || locks[0].Owner != "bob" || locks[0].ID == k1.ID {
		t.Fatalf("locks = %+v, want bob's k1 under a new id", locks)
	}
	_, err = c.ForceUnlock(ctx, k1.ID, "carol@ops-1")
	WantErr(t, err, state.ErrNotFound)
	WantErr(t, err, "state lock id "+k1.ID)
	// Alice's release says she had lost a lock, and leaves bob's alone.
	WantErr(t, releaseA(), "were no longer held")
	if rows := lockOwners(t, a); len(rows) != 1 || rows["k1"] != "bob" {
		t.Errorf("locks = %v, want bob's k1", rows)
	}
	if err := releaseB(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ id, by, want string }{
		{"", "carol@ops-1", "lock id is empty"},
		{k1.ID, "", "who forces it is not given"},
		{"target/123456789012/us-west-2/aws_instance/i-1", "carol@ops-1", "not found"},
	} {
		_, err := c.ForceUnlock(ctx, tc.id, tc.by)
		WantErr(t, err, tc.want)
	}
	if ev, _ := c.LockEvents(ctx); len(ev) != 1 {
		t.Errorf("failed unlocks recorded events: %+v", ev)
	}
}

// The error a waiter gets names the lock's id, which `cordon state
// unlock` takes.
func testLockErrorNamesTheID(t *testing.T, b Backend) {
	ctx := context.Background()
	a, c := twoStores(t, b)
	lock(t, a, "alice", "k1")
	_, err := c.Lock(ctx, []string{"k1"}, "bob", 0)
	locks, lerr := c.Locks(ctx)
	if lerr != nil || len(locks) != 1 {
		t.Fatalf("locks = %+v, %v", locks, lerr)
	}
	WantErr(t, err, "lock id "+locks[0].ID+": if its holder is gone, `cordon state unlock "+locks[0].ID+"` removes it")
}

func testCloseReleasesLocks(t *testing.T, b Backend) {
	a, c := twoStores(t, b)
	releaseA := lock(t, a, "alice", "k1")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lock(t, c, "bob", "k1")
	if err := releaseA(); err != nil {
		t.Errorf("release after Close: %v", err)
	}
	if got := lockOwners(t, c); got["k1"] != "bob" {
		t.Errorf("release after Close removed bob's lock: %v", got)
	}
	if _, err := a.Lock(context.Background(), []string{"k9"}, "alice", 0); err == nil {
		t.Error("Lock on a closed store succeeded")
	}
}

func testLockArguments(t *testing.T, open Opener) {
	s := open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		keys  []string
		owner string
		want  any
		held  []string
	}{
		{"no keys", nil, "alice", nil, nil},
		{"duplicates", []string{"k1", "k1", "k0"}, "alice", nil, []string{"k0", "k1"}},
		{"empty key", []string{"k1", ""}, "alice", "empty key", nil},
		{"no owner", []string{"k1"}, "", "owner is empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := slices.Clone(tc.keys)
			release, err := s.Lock(ctx, tc.keys, tc.owner, 0)
			WantErr(t, err, tc.want)
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("Lock reordered the caller's keys: %v", tc.keys)
			}
			if err != nil {
				return
			}
			got := slices.Sorted(maps.Keys(lockOwners(t, s)))
			if !slices.Equal(got, tc.held) {
				t.Errorf("held %v, want %v", got, tc.held)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
