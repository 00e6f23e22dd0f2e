package state

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

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

// holderRow is a locks row as some process left it.
type holderRow struct {
	pid         int
	host        string
	boot, start string
}

// insertHolder writes a lock on key held by h, as a process that is not
// this store would have.
func insertHolder(t *testing.T, s *SQLiteStore, key, owner string, h holderRow) {
	t.Helper()
	if err := s.execRaw(t, `INSERT INTO locks (lock_key, token, owner, pid, host, boot_id, proc_start, acquired_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, key, "token-of-"+owner, owner, h.pid, h.host, h.boot, h.start, formatTime(t0)); err != nil {
		t.Fatal(err)
	}
}

// identity returns this process's boot id and start time, skipping the
// test where the platform cannot tell them.
func identity(t *testing.T) (boot, start string) {
	t.Helper()
	boot, start = selfIdentity()
	if boot == "" || start == "" {
		t.Skip("this platform records no boot id or process start time")
	}
	return boot, start
}

// startOf returns the start time of live process pid.
func startOf(t *testing.T, pid int) string {
	t.Helper()
	start, _, err := processStart(pid)
	if err != nil {
		t.Skipf("start time of process %d: %v", pid, err)
	}
	return start
}

// otherStart is a start time that is not start.
func otherStart(t *testing.T, start string) string {
	t.Helper()
	n, err := strconv.ParseUint(start, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(n+1, 10)
}

// The rule that decides whether a lock's holder is gone: a holder on this
// host is alive only if a process with its pid runs now, in this boot,
// started at the recorded time. The cases marked "attack" are the ones a
// pid alone got wrong: cordon killed in a container and started again as
// pid 1 under the same host name saw its dead predecessor alive, and kept
// its locks held forever.
func TestLockTakesOverStaleLocks(t *testing.T) {
	const fakeBoot = "00000000-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name string
		// identity says the case needs this platform's boot id and
		// start times.
		identity bool
		holder   func(t *testing.T, s *SQLiteStore) holderRow
		want     Liveness
	}{
		{"dead process on this host", false, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, start := selfIdentity()
			return holderRow{deadPID(t), s.host, boot, start}
		}, LivenessDead},
		{"live process on this host", false, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, start := selfIdentity()
			return holderRow{s.pid, s.host, boot, start}
		}, LivenessAlive},
		{"process on another host", false, func(t *testing.T, s *SQLiteStore) holderRow {
			return holderRow{deadPID(t), "other-host", fakeBoot, "1"}
		}, LivenessUnknown},
		{"another live process here, its start time recorded", true, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, _ := identity(t)
			return holderRow{os.Getppid(), s.host, boot, startOf(t, os.Getppid())}
		}, LivenessAlive},
		{"attack: this process's pid, another start (pid 1 again after a restart)", true, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, start := identity(t)
			return holderRow{s.pid, s.host, boot, otherStart(t, start)}
		}, LivenessDead},
		{"attack: a live process's pid, another start (the pid was reused)", true, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, _ := identity(t)
			return holderRow{os.Getppid(), s.host, boot, otherStart(t, startOf(t, os.Getppid()))}
		}, LivenessDead},
		{"attack: a live process's pid and start, in another boot (rebooted since)", true, func(t *testing.T, s *SQLiteStore) holderRow {
			identity(t)
			return holderRow{os.Getppid(), s.host, fakeBoot, startOf(t, os.Getppid())}
		}, LivenessDead},
		{"attack: this process's pid and start, in another boot", true, func(t *testing.T, s *SQLiteStore) holderRow {
			_, start := identity(t)
			return holderRow{s.pid, s.host, fakeBoot, start}
		}, LivenessDead},
		{"an exited process awaiting its parent", true, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, _ := identity(t)
			pid, start := zombie(t)
			return holderRow{pid, s.host, boot, start}
		}, LivenessDead},
		{"no process id", true, func(t *testing.T, s *SQLiteStore) holderRow {
			boot, start := identity(t)
			return holderRow{0, s.host, boot, start}
		}, LivenessAlive},
		// Rows an older cordon wrote (schema version 2) have no boot id
		// or start time: the pid alone decides, as it did.
		{"version 2 row: a live pid", false, func(t *testing.T, s *SQLiteStore) holderRow {
			return holderRow{os.Getppid(), s.host, "", ""}
		}, LivenessAlive},
		{"version 2 row: this process's pid", false, func(t *testing.T, s *SQLiteStore) holderRow {
			return holderRow{s.pid, s.host, "", ""}
		}, LivenessAlive},
		{"version 2 row: a dead pid", false, func(t *testing.T, s *SQLiteStore) holderRow {
			return holderRow{deadPID(t), s.host, "", ""}
		}, LivenessDead},
		{"version 2 row: another host", false, func(t *testing.T, s *SQLiteStore) holderRow {
			return holderRow{deadPID(t), "other-host", "", ""}
		}, LivenessUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			h := tc.holder(t, s)
			insertHolder(t, s, "k1", "crashed", h)

			locks, err := s.Locks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(locks) != 1 || locks[0].Liveness != tc.want || locks[0].PID != h.pid || locks[0].BootID != h.boot || locks[0].ProcessStart != h.start {
				t.Fatalf("Locks = %+v, want the holder %+v %s", locks, h, tc.want)
			}
			oldID := locks[0].ID

			release, err := s.Lock(ctx, []string{"k1"}, "bob", 0)
			if tc.want != LivenessDead {
				var le *LockError
				if !errors.As(err, &le) || le.Holder.Owner != "crashed" || !le.Holder.AcquiredAt.Equal(t0) ||
					le.Holder.ID != oldID || le.Holder.Liveness != tc.want {
					t.Fatalf("error = %v, want the lock %s held by crashed since %v", err, oldID, t0)
				}
				if ev, err := s.LockEvents(ctx); err != nil || len(ev) != 0 {
					t.Errorf("lock events = %+v, %v; want none", ev, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("stale lock not taken over: %v", err)
			}
			if got := lockRows(t, s); got["k1"] != "bob" {
				t.Errorf("locks = %v", got)
			}
			// The takeover is on record: whose lock, and who took it.
			ev, err := s.LockEvents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev) != 1 || ev[0].Kind != LockTakenOver || ev[0].Lock.ID != oldID || ev[0].Lock.Owner != "crashed" ||
				ev[0].Lock.PID != h.pid || ev[0].Lock.Liveness != LivenessDead || ev[0].By != "bob" || ev[0].ByPID != s.pid {
				t.Errorf("lock events = %+v, want bob's takeover of crashed's lock", ev)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// zombie returns the pid and start time of a child that has exited and
// not been waited for (waited for when the test ends): signal 0 still
// finds it.
func zombie(t *testing.T) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(time.Minute); ; {
		start, exited, err := processStart(pid)
		if err != nil {
			t.Skipf("reading process %d: %v", pid, err)
		}
		if exited {
			if !processExists(pid) {
				t.Fatalf("signal 0 does not find the exited process %d", pid)
			}
			return pid, start
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not exit", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Lock events are an audit trail: no writer can change or remove one.
func TestLockEventsAreAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	release := lock(t, s, "alice", "k1")
	locks, err := s.Locks(ctx)
	if err != nil || len(locks) != 1 {
		t.Fatalf("locks = %+v, %v", locks, err)
	}
	if _, err := s.ForceUnlock(ctx, locks[0].ID, "carol@ops-1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, release(), "no longer held")
	for _, q := range []string{
		`UPDATE lock_events SET by_owner = 'mallory@ops-2'`,
		`DELETE FROM lock_events`,
	} {
		if err := s.execRaw(t, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", q, err)
		}
	}
}

func TestTargetLockKey(t *testing.T) {
	if got := TargetLockKey(target("i-1")); got != "target/123456789012/us-west-2/aws_instance/i-1" {
		t.Errorf("TargetLockKey = %s", got)
	}
}
