package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// A target lock in PostgreSQL is two things:
//
//   - the lock itself: a session-level advisory lock on the hash of the
//     schema and key (pg_try_advisory_lock(hashtextextended(…))), held by
//     a database session opened for the one Lock call that took it, and
//     kept open, idle, until the lock is released. PostgreSQL releases a
//     session's advisory locks when the session ends, however it ends: a
//     replica killed by SIGKILL closes its socket and loses its locks at
//     once; one whose host vanished loses them when the server's TCP
//     keepalives (set per lock session) find it gone, within about a
//     minute.
//   - its record: a row of the locks table, written by that session once
//     it holds the advisory lock, naming the holder (owner, pid, host, boot
//     id, process start, the session's backend pid) for people and error
//     messages.
//
// So a holder is alive exactly while its session holds the advisory lock,
// whichever host it runs on: there is no pid to judge, and no holder on
// another host presumed alive forever. A row whose advisory lock no
// session holds is stale, and the next Lock of its key takes it over,
// recording a takeover (LockTakenOver), as SQLite does for a dead pid.
//
// Keys are taken with try-locks, never waiting inside the database, all or
// none: a Lock that finds a key held releases what it took and polls
// again (waitForLock), so two applies cannot deadlock.
//
// ForceUnlock removes a lock's row and, when its holder's session still
// holds the advisory lock, ends that session with pg_terminate_backend:
// removing the row alone would leave the key held, and the forced unlock
// would free nothing. Ending the session frees every key its Lock call
// took (their rows stay, listed dead, and are taken over by the next Lock
// of each), and the holder, if it still runs, learns at release that it
// lost them. That is what `cordon state unlock` is for: a holder that is
// stuck, not one that is slow; a dead holder's locks need no unlock.
// Ending another role's session needs that role's membership, or
// pg_signal_backend.

// pgLock is what one Lock call holds: the session holding its advisory
// locks, and its rows' token.
type pgLock struct {
	conn  *pgx.Conn
	token string
	n     int
}

// pgLockColumns are the columns of locks pgScanLock reads, in its order;
// the last says whether the row's session holds the key's advisory lock.
const pgLockColumns = `l.lock_key, l.token, l.owner, l.pid, l.host, l.boot_id, l.proc_start, l.acquired_at, l.backend_pid,
    EXISTS (SELECT 1 FROM pg_locks p, LATERAL (SELECT hashtextextended($1::text || l.lock_key, 0) AS k) h
        WHERE p.locktype = 'advisory' AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND p.classid = ((h.k >> 32) & 4294967295)::oid AND p.objid = (h.k & 4294967295)::oid AND p.objsubid = 1
        AND p.pid = l.backend_pid AND p.granted)`

// lockPrefix is the first argument of every query of pgLockColumns.
func (s *PostgresStore) lockPrefix() string { return s.advisoryName("lock", "") }

// pgScanLock reads a pgLockColumns row into its LockInfo, judged alive
// when its session holds its advisory lock and dead otherwise, with the
// holder's token and backend pid.
func pgScanLock(row interface{ Scan(...any) error }) (LockInfo, string, int, error) {
	var (
		h       LockInfo
		token   string
		backend int
		held    bool
	)
	if err := row.Scan(&h.Key, &token, &h.Owner, &h.PID, &h.Host, &h.BootID, &h.ProcessStart, &h.AcquiredAt, &backend, &held); err != nil {
		return h, "", 0, err
	}
	h.ID = lockID(h.Key, token)
	h.Liveness = LivenessDead
	if held {
		h.Liveness = LivenessAlive
	}
	return h, token, backend, nil
}

// Lock implements Store (see the top of this file).
func (s *PostgresStore) Lock(ctx context.Context, keys []string, owner string, timeout time.Duration) (func() error, error) {
	keys, err := lockKeys(keys, owner)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return func() error { return nil }, nil
	}
	if s.closed() {
		return nil, errors.New("state lock: the store is closed")
	}
	conn, err := s.lockSession(ctx)
	if err != nil {
		return nil, s.dbError(fmt.Errorf("state lock: opening a database session: %w", err))
	}
	l := &pgLock{conn: conn, token: newToken(), n: len(keys)}
	if err := waitForLock(ctx, timeout, func() (*LockInfo, error) {
		return s.tryLock(ctx, l, keys, owner)
	}); err != nil {
		conn.Close(context.Background()) // and with it whatever it took
		return nil, s.dbError(err)
	}

	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		s.unlock(l)
		return nil, errors.New("state lock: the store is closed")
	}
	s.held[l.token] = l
	s.mu.Unlock()

	var once sync.Once
	var rerr error
	return func() error {
		once.Do(func() {
			s.mu.Lock()
			_, mine := s.held[l.token]
			delete(s.held, l.token)
			s.mu.Unlock()
			if mine { // else Close released it
				rerr = s.unlock(l)
			}
		})
		return rerr
	}, nil
}

func (s *PostgresStore) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// lockSession opens a session of its own for one Lock call's advisory
// locks. An idle_session_timeout would end it, and its locks, while an
// apply runs: it is turned off for the session where the server has it.
func (s *PostgresStore) lockSession(ctx context.Context) (*pgx.Conn, error) {
	if conn := s.idleSession(ctx); conn != nil {
		return conn, nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.lockConf)
	if err != nil {
		return nil, err
	}
	if err := prepareSession(ctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT set_config('idle_session_timeout', '0', false)
        WHERE current_setting('idle_session_timeout', true) IS NOT NULL`); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// tryLock takes every key on l's session, or none, and records l as
// their holder. When a key is held it releases what it took and returns
// the key's holder. The rows are written in one transaction of the
// session once it holds every advisory lock; a stale row (its session
// gone) is deleted and its takeover recorded in the same transaction.
func (s *PostgresStore) tryLock(ctx context.Context, l *pgLock, keys []string, owner string) (*LockInfo, error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = s.advisoryName("lock", k)
	}
	var got []bool
	if err := l.conn.QueryRow(ctx, `SELECT array_agg(pg_try_advisory_lock(hashtextextended(n, 0)) ORDER BY i)
        FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i)`, names).Scan(&got); err != nil {
		return nil, err
	}
	for i, ok := range got {
		if ok {
			continue
		}
		if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
			return nil, err
		}
		return s.holder(ctx, l.conn, keys[i])
	}

	me := s.self()
	now := time.Now()
	err := pgx.BeginTxFunc(ctx, l.conn, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+pgLockColumns+` FROM locks l WHERE l.lock_key = ANY($2)
            ORDER BY l.lock_key FOR UPDATE OF l`, s.lockPrefix(), keys)
		if err != nil {
			return err
		}
		var stale []LockInfo
		var tokens []string
		for rows.Next() {
			h, token, _, err := pgScanLock(rows)
			if err != nil {
				rows.Close()
				return err
			}
			// This session holds the key's advisory lock, so the row's
			// session does not: it ended without releasing.
			h.Liveness = LivenessDead
			stale = append(stale, h)
			tokens = append(tokens, token)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, h := range stale {
			if _, err := tx.Exec(ctx, `DELETE FROM locks WHERE lock_key = $1 AND token = $2`, h.Key, tokens[i]); err != nil {
				return err
			}
			if err := pgInsertLockEvent(ctx, tx, LockTakenOver, h, owner, me, now); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO locks (lock_key, token, owner, pid, host, boot_id, proc_start, backend_pid, acquired_at)
            SELECT k, $2, $3, $4, $5, $6, $7, pg_backend_pid(), $8 FROM unnest($1::text[]) AS k`,
			keys, l.token, owner, me.PID, me.Host, me.BootID, me.Start, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// holder describes who holds key, for a waiter's error. A session holds
// its advisory lock, so the holder is alive; with no row, it is taking or
// releasing the lock at this moment.
func (s *PostgresStore) holder(ctx context.Context, conn *pgx.Conn, key string) (*LockInfo, error) {
	h, _, _, err := pgScanLock(conn.QueryRow(ctx, `SELECT `+pgLockColumns+` FROM locks l WHERE l.lock_key = $2`, s.lockPrefix(), key))
	if errors.Is(err, pgx.ErrNoRows) {
		return &LockInfo{Key: key, Owner: "another database session (taking or releasing it)", Host: "an unrecorded host",
			AcquiredAt: time.Now(), Liveness: LivenessAlive}, nil
	}
	if err != nil {
		return nil, err
	}
	h.Liveness = LivenessAlive
	return &h, nil
}

// pgInsertLockEvent records lock h removed from its holder by the process
// me, for by.
func pgInsertLockEvent(ctx context.Context, tx pgx.Tx, kind LockEventKind, h LockInfo, by string, me process, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO lock_events (kind, lock_id, lock_key, owner, pid, host, boot_id, proc_start,
        acquired_at, liveness, by_owner, by_pid, by_host, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		kind, h.ID, h.Key, h.Owner, h.PID, h.Host, h.BootID, h.ProcessStart, h.AcquiredAt,
		h.Liveness, by, me.PID, me.Host, at)
	return err
}

// unlock deletes the rows of l's locks on its session, then ends the
// session, which releases its advisory locks. It reports the locks no
// longer held: rows gone (forcibly unlocked), or the session itself gone
// (ended by an administrator or a forced unlock, or its connection
// lost), in which case the rows left are deleted through the pool.
func (s *PostgresStore) unlock(l *pgLock) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tag, err := l.conn.Exec(ctx, `DELETE FROM locks WHERE token = $1`, l.token)
	if err == nil {
		s.keepSession(ctx, l.conn)
	} else {
		l.conn.Close(ctx)
	}
	if err != nil {
		lost := err
		if _, err := s.pool.Exec(ctx, `DELETE FROM locks WHERE token = $1`, l.token); err != nil {
			return s.dbError(fmt.Errorf("releasing state locks: the session holding them ended (%v), and their records could not be removed: %w", lost, err))
		}
		return s.dbError(fmt.Errorf("releasing state locks: %d of %d were no longer held: the database session holding them had ended (%v)", l.n, l.n, lost))
	}
	if deleted := tag.RowsAffected(); deleted != int64(l.n) {
		return fmt.Errorf("releasing state locks: %d of %d were no longer held (forcibly unlocked?)", int64(l.n)-deleted, l.n)
	}
	return nil
}

// Locks implements Store.
func (s *PostgresStore) Locks(ctx context.Context) ([]LockInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgLockColumns+` FROM locks l ORDER BY l.lock_key`, s.lockPrefix())
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	var out []LockInfo
	for rows.Next() {
		h, _, _, err := pgScanLock(rows)
		if err != nil {
			return nil, s.dbError(err)
		}
		out = append(out, h)
	}
	return out, s.dbError(rows.Err())
}

// forceUnlockWait bounds how long ForceUnlock waits for the holder's
// session to end once told to.
const forceUnlockWait = 10 * time.Second

// ForceUnlock implements Store (see the top of this file). The row is
// locked FOR UPDATE, deleted and its event recorded in one transaction,
// which also ends the holder's session when it still holds the lock, and
// is rolled back if that cannot be done: nothing is removed then.
func (s *PostgresStore) ForceUnlock(ctx context.Context, id, by string) (LockInfo, error) {
	switch {
	case id == "":
		return LockInfo{}, errors.New("force-unlock: the lock id is empty")
	case by == "":
		return LockInfo{}, fmt.Errorf("force-unlock of lock %s: who forces it is not given", id)
	}
	me := s.self()
	var (
		removed LockInfo
		backend int
	)
	notFound := fmt.Errorf("state lock id %s: %w (no lock held has it: released, or released and taken again under a new id)", id, ErrNotFound)
	err := s.write(ctx, func(tx pgx.Tx) error {
		// Ids are derived from tokens, which only the holder knows, so
		// the rows are read and matched here; there are only as many as
		// targets being acted on.
		rows, err := tx.Query(ctx, `SELECT lock_key, token FROM locks ORDER BY lock_key`)
		if err != nil {
			return err
		}
		var keys, tokens []string
		for rows.Next() {
			var k, t string
			if err := rows.Scan(&k, &t); err != nil {
				rows.Close()
				return err
			}
			if lockID(k, t) == id {
				keys, tokens = append(keys, k), append(tokens, t)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		switch len(keys) {
		case 0:
			return notFound
		case 1:
		default:
			return fmt.Errorf("state lock id %s names %d locks; nothing removed", id, len(keys))
		}
		removed, _, backend, err = pgScanLock(tx.QueryRow(ctx, `SELECT `+pgLockColumns+` FROM locks l
            WHERE l.lock_key = $2 AND l.token = $3 FOR UPDATE OF l`, s.lockPrefix(), keys[0], tokens[0]))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound // released meanwhile
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM locks WHERE lock_key = $1 AND token = $2`, keys[0], tokens[0]); err != nil {
			return err
		}
		if err := pgInsertLockEvent(ctx, tx, LockForced, removed, by, me, time.Now()); err != nil {
			return err
		}
		if removed.Liveness != LivenessAlive {
			return nil
		}
		var ended bool
		if err := tx.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, backend).Scan(&ended); err != nil {
			return fmt.Errorf("state lock id %s: ending the database session that holds it (backend pid %d): %w; nothing removed", id, backend, err)
		}
		if !ended {
			return fmt.Errorf("state lock id %s: the database session that holds it (backend pid %d) could not be ended; nothing removed", id, backend)
		}
		return nil
	})
	if err != nil {
		return LockInfo{}, err
	}
	if removed.Liveness == LivenessAlive {
		if err := s.waitSessionEnd(ctx, backend); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// waitSessionEnd waits until the session of backend pid has ended, so that
// the keys it held are free when ForceUnlock returns.
func (s *PostgresStore) waitSessionEnd(ctx context.Context, backend int) error {
	deadline := time.Now().Add(forceUnlockWait)
	for {
		var alive bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, backend).Scan(&alive); err != nil {
			return s.dbError(err)
		}
		if !alive {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the lock was removed, but the database session that held it (backend pid %d) had not ended after %s", backend, forceUnlockWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockPollMin):
		}
	}
}

// LockEvents implements Store.
func (s *PostgresStore) LockEvents(ctx context.Context) ([]LockEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, kind, lock_id, lock_key, owner, pid, host, boot_id, proc_start,
        acquired_at, liveness, by_owner, by_pid, by_host, at FROM lock_events ORDER BY id`)
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	var out []LockEvent
	for rows.Next() {
		var e LockEvent
		l := &e.Lock
		if err := rows.Scan(&e.ID, &e.Kind, &l.ID, &l.Key, &l.Owner, &l.PID, &l.Host, &l.BootID, &l.ProcessStart,
			&l.AcquiredAt, &l.Liveness, &e.By, &e.ByPID, &e.ByHost, &e.At); err != nil {
			return nil, s.dbError(err)
		}
		out = append(out, e)
	}
	return out, s.dbError(rows.Err())
}

// maxIdleSessions bounds the lock sessions kept for reuse.
const maxIdleSessions = 8

// keepSession releases every advisory lock of a session whose Lock is
// over and keeps it for the next Lock, or closes it (which releases them
// as well) when enough are kept or the store is closing.
func (s *PostgresStore) keepSession(ctx context.Context, conn *pgx.Conn) {
	s.mu.Lock()
	if s.idle == nil {
		s.idle = make(chan *pgx.Conn, maxIdleSessions)
	}
	idle, done := s.idle, s.done
	s.mu.Unlock()
	if done {
		conn.Close(ctx)
		return
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		conn.Close(ctx)
		return
	}
	select {
	case idle <- conn:
	default:
		conn.Close(ctx)
	}
}

// idleSession returns a kept lock session that still answers, or nil.
func (s *PostgresStore) idleSession(ctx context.Context) *pgx.Conn {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	for idle != nil {
		select {
		case conn := <-idle:
			if conn.IsClosed() {
				continue
			}
			if err := conn.Ping(ctx); err != nil {
				conn.Close(context.Background())
				continue
			}
			return conn
		default:
			return nil
		}
	}
	return nil
}

// closeIdle closes the kept lock sessions.
func (s *PostgresStore) closeIdle() {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	for idle != nil {
		select {
		case conn := <-idle:
			conn.Close(context.Background())
		default:
			return
		}
	}
}
