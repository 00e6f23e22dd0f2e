package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// setApplyHolder makes a running apply look like the process h's.
func setApplyHolder(t *testing.T, s *SQLiteStore, id int64, h holderRow) {
	t.Helper()
	if err := s.execRaw(t, `UPDATE applies SET pid = ?, host = ?, boot_id = ?, proc_start = ? WHERE id = ?`,
		h.pid, h.host, h.boot, h.start, id); err != nil {
		t.Fatal(err)
	}
}

// BeginApply judges the process of a running apply by the rule that
// judges a lock's holder: an apply whose pid now belongs to another
// process (or to this one, started again) was interrupted, not in
// progress.
func TestBeginApplyJudgesTheHoldersIdentity(t *testing.T) {
	const fakeBoot = "00000000-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name   string
		holder func(t *testing.T, s *SQLiteStore) holderRow
		want   any // nil: resumed
	}{
		{"another live process, its start recorded", func(t *testing.T, s *SQLiteStore) holderRow {
			boot, _ := identity(t)
			return holderRow{os.Getppid(), s.host, boot, startOf(t, os.Getppid())}
		}, ErrApplyInProgress},
		{"attack: a live process's pid, another start", func(t *testing.T, s *SQLiteStore) holderRow {
			boot, _ := identity(t)
			return holderRow{os.Getppid(), s.host, boot, otherStart(t, startOf(t, os.Getppid()))}
		}, nil},
		{"attack: a live process's pid and start, another boot", func(t *testing.T, s *SQLiteStore) holderRow {
			identity(t)
			return holderRow{os.Getppid(), s.host, fakeBoot, startOf(t, os.Getppid())}
		}, nil},
		{"this process's pid, another start (pid 1 again)", func(t *testing.T, s *SQLiteStore) holderRow {
			boot, start := identity(t)
			return holderRow{s.pid, s.host, boot, otherStart(t, start)}
		}, nil},
		{"an exited process awaiting its parent", func(t *testing.T, s *SQLiteStore) holderRow {
			boot, _ := identity(t)
			pid, start := zombie(t)
			return holderRow{pid, s.host, boot, start}
		}, nil},
		{"another host", func(t *testing.T, s *SQLiteStore) holderRow {
			return holderRow{os.Getppid(), "elsewhere", fakeBoot, "1"}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			id := beginApply(t, s, "plan-1", KindApply)
			setApplyHolder(t, s, id, tc.holder(t, s))
			got, err := s.BeginApply(ctx, ApplyStart{PlanID: "plan-1", Kind: KindApply, Owner: "alice", Resume: true})
			wantErr(t, err, tc.want)
			if err != nil {
				return
			}
			if got != id {
				t.Fatalf("resumed apply %d, want %d", got, id)
			}
			// The resumed apply is now this process's, all of it.
			var pid int
			var host, boot, start string
			if err := s.r.QueryRow(`SELECT pid, host, boot_id, proc_start FROM applies WHERE id = ?`, id).Scan(&pid, &host, &boot, &start); err != nil {
				t.Fatal(err)
			}
			me := s.self()
			if pid != me.PID || host != me.Host || boot != me.BootID || start != me.Start {
				t.Errorf("resumed apply runs as %d %s %s %s, want this process %+v", pid, host, boot, start, me)
			}
		})
	}
}

// A state file of schema version 2 upgrades with its locks and running
// applies judged by the pid alone, as before: a live pid keeps its lock
// and its apply, a dead one loses them.
func TestVersion2HoldersKeepThePIDRule(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db := rawAt(t, path, sqliteMigrations[:2])
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skipf("no host name: %v", err)
	}
	const at = "2025-03-01T12:00:00.000000000Z"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO locks (lock_key, token, owner, pid, host, acquired_at) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{"live", "t1", "parent", os.Getppid(), host, at}},
		{`INSERT INTO locks (lock_key, token, owner, pid, host, acquired_at) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{"dead", "t2", "crashed", deadPID(t), host, at}},
		{`INSERT INTO applies (plan_id, kind, config_digest, cordon_version, owner, pid, host, status, started_at)
            VALUES (?, 'apply', 'sha256:abc', 'v2', ?, ?, ?, 'running', ?)`,
			[]any{"plan-live", "parent", os.Getppid(), host, at}},
		{`INSERT INTO applies (plan_id, kind, config_digest, cordon_version, owner, pid, host, status, started_at)
            VALUES (?, 'apply', 'sha256:abc', 'v2', ?, ?, ?, 'running', ?)`,
			[]any{"plan-dead", "crashed", deadPID(t), host, at}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	defer s.Close()
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 2 || locks[0].Key != "dead" || locks[0].Liveness != LivenessDead || locks[0].BootID != "" ||
		locks[1].Key != "live" || locks[1].Liveness != LivenessAlive || locks[1].ProcessStart != "" {
		t.Fatalf("locks after upgrade = %+v", locks)
	}
	_, err = s.Lock(ctx, []string{"live"}, "bob", 0)
	wantErr(t, err, ErrLockTimeout)
	release, err := s.Lock(ctx, []string{"dead"}, "bob", 0)
	if err != nil {
		t.Fatalf("the dead holder's lock was not taken over: %v", err)
	}
	defer release()

	_, err = s.BeginApply(ctx, ApplyStart{PlanID: "plan-live", Kind: KindApply, Owner: "alice", Resume: true})
	wantErr(t, err, ErrApplyInProgress)
	if _, err := s.BeginApply(ctx, ApplyStart{PlanID: "plan-dead", Kind: KindApply, Owner: "alice", Resume: true}); err != nil {
		t.Errorf("resuming the dead process's apply: %v", err)
	}
}
