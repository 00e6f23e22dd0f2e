package state

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// twoStores opens two stores on one file, as two processes would.
func twoStores(t *testing.T) (a, b *SQLiteStore) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	open := func() *SQLiteStore {
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open()
}

func lock(t *testing.T, s *SQLiteStore, owner string, keys ...string) func() error {
	t.Helper()
	release, err := s.Lock(context.Background(), keys, owner, 0)
	if err != nil {
		t.Fatalf("Lock(%v) for %s: %v", keys, owner, err)
	}
	return release
}

// lockRows returns the locks table as key → owner.
func lockRows(t *testing.T, s *SQLiteStore) map[string]string {
	t.Helper()
	rows, err := s.r.Query(`SELECT lock_key, owner FROM locks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, o string
		if err := rows.Scan(&k, &o); err != nil {
			t.Fatal(err)
		}
		m[k] = o
	}
	return m
}

func TestLockConflictTakesNothing(t *testing.T) {
	a, b := twoStores(t)
	lock(t, a, "alice", "k2", "k1")

	_, err := b.Lock(context.Background(), []string{"k3", "k2"}, "bob", 0)
	var le *LockError
	if !errors.As(err, &le) || !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("error = %v, want a *LockError", err)
	}
	h := le.Holder
	if h.Key != "k2" || h.Owner != "alice" || h.PID != a.pid || h.Host != a.host || h.AcquiredAt.IsZero() {
		t.Errorf("holder = %+v", h)
	}
	wantErr(t, err, `state lock "k2" is held by alice (pid`)
	// All or none: bob's free key k3 was not taken.
	if got := lockRows(t, a); len(got) != 2 || got["k1"] != "alice" || got["k2"] != "alice" {
		t.Errorf("locks = %v, want alice's k1 and k2 only", got)
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	a, b := twoStores(t)
	release := lock(t, a, "alice", "k1")
	acquired := make(chan error, 1)
	go func() {
		release, err := b.Lock(context.Background(), []string{"k1", "k2"}, "bob", time.Minute)
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
	if got := lockRows(t, a); len(got) != 0 {
		t.Errorf("locks left = %v", got)
	}
}

func TestLockTimesOut(t *testing.T) {
	a, b := twoStores(t)
	lock(t, a, "alice", "k1")
	_, err := b.Lock(context.Background(), []string{"k1"}, "bob", 30*time.Millisecond)
	wantErr(t, err, ErrLockTimeout)
	wantErr(t, err, "gave up after waiting 30ms")
}

func TestLockHonoursContext(t *testing.T) {
	a, b := twoStores(t)
	lock(t, a, "alice", "k1")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := b.Lock(ctx, []string{"k1"}, "bob", time.Hour)
	wantErr(t, err, context.Canceled)
	wantErr(t, err, "held by alice")
}

func TestLockTakesOverStaleLocks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pid    func(t *testing.T, s *SQLiteStore) int
		host   func(s *SQLiteStore) string
		stale  bool
		holder string
	}{
		{"dead process on this host", func(t *testing.T, s *SQLiteStore) int { return deadPID(t) },
			func(s *SQLiteStore) string { return s.host }, true, ""},
		{"live process on this host", func(t *testing.T, s *SQLiteStore) int { return s.pid },
			func(s *SQLiteStore) string { return s.host }, false, "crashed"},
		{"process on another host", func(t *testing.T, s *SQLiteStore) int { return deadPID(t) },
			func(s *SQLiteStore) string { return "other-host" }, false, "crashed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			if err := s.execRaw(t, `INSERT INTO locks (lock_key, token, owner, pid, host, acquired_at)
                VALUES ('k1', 'old-token', 'crashed', ?, ?, ?)`, tc.pid(t, s), tc.host(s), formatTime(t0)); err != nil {
				t.Fatal(err)
			}
			release, err := s.Lock(context.Background(), []string{"k1"}, "bob", 0)
			if !tc.stale {
				var le *LockError
				if !errors.As(err, &le) || le.Holder.Owner != tc.holder || !le.Holder.AcquiredAt.Equal(t0) {
					t.Fatalf("error = %v, want the lock held by %s since %v", err, tc.holder, t0)
				}
				return
			}
			if err != nil {
				t.Fatalf("stale lock not taken over: %v", err)
			}
			if got := lockRows(t, s); got["k1"] != "bob" {
				t.Errorf("locks = %v", got)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLockReleasesOnlyItsOwn(t *testing.T) {
	a, b := twoStores(t)
	releaseA := lock(t, a, "alice", "k1")
	releaseB := lock(t, b, "bob", "k2")
	// The same owner in the same process, on other keys: a second apply.
	releaseA2 := lock(t, a, "alice", "k3")
	if err := releaseA(); err != nil {
		t.Fatal(err)
	}
	if err := releaseA(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if got := lockRows(t, a); len(got) != 2 || got["k2"] != "bob" || got["k3"] != "alice" {
		t.Errorf("locks after alice released k1 = %v", got)
	}
	if err := releaseB(); err != nil {
		t.Fatal(err)
	}
	if err := releaseA2(); err != nil {
		t.Fatal(err)
	}
	if got := lockRows(t, a); len(got) != 0 {
		t.Errorf("locks left = %v", got)
	}
}

func TestLockIsNotReentrant(t *testing.T) {
	s := openTest(t)
	lock(t, s, "alice", "k1")
	_, err := s.Lock(context.Background(), []string{"k1"}, "alice", 0)
	wantErr(t, err, ErrLockTimeout)
}

func TestForceUnlock(t *testing.T) {
	ctx := context.Background()
	a, b := twoStores(t)
	releaseA := lock(t, a, "alice", "k1", "k2")
	if err := b.ForceUnlock(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	releaseB := lock(t, b, "bob", "k1")
	// Alice's release says she had lost a lock, and leaves bob's alone.
	wantErr(t, releaseA(), "1 of 2 were no longer held")
	if got := lockRows(t, a); len(got) != 1 || got["k1"] != "bob" {
		t.Errorf("locks = %v, want bob's k1", got)
	}
	if err := releaseB(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.ForceUnlock(ctx, "k1"), ErrNotFound)
}

func TestCloseReleasesLocks(t *testing.T) {
	a, b := twoStores(t)
	releaseA := lock(t, a, "alice", "k1")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lock(t, b, "bob", "k1")
	if err := releaseA(); err != nil {
		t.Errorf("release after Close: %v", err)
	}
	if got := lockRows(t, b); got["k1"] != "bob" {
		t.Errorf("release after Close removed bob's lock: %v", got)
	}
	if _, err := a.Lock(context.Background(), []string{"k9"}, "alice", 0); err == nil {
		t.Error("Lock on a closed store succeeded")
	}
}

func TestLockArguments(t *testing.T) {
	s := openTest(t)
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
			wantErr(t, err, tc.want)
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("Lock reordered the caller's keys: %v", tc.keys)
			}
			if err != nil {
				return
			}
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range lockRows(t, s) {
					if !yield(k) {
						return
					}
				}
			})
			if !slices.Equal(got, tc.held) {
				t.Errorf("held %v, want %v", got, tc.held)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTargetLockKey(t *testing.T) {
	if got := TargetLockKey(target("i-1")); got != "target/123456789012/us-west-2/aws_instance/i-1" {
		t.Errorf("TargetLockKey = %s", got)
	}
}
