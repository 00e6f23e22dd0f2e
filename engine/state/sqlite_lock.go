package state

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lock implements Store. The locks live in the locks table, so they hold
// across processes sharing the file. Every key is taken in one transaction,
// or none: a waiter never holds some keys while waiting for others, so two
// applies cannot deadlock. Keys are taken in sorted order all the same,
// which a backend with row locks needs.
//
// A lock whose holder is dead is stale and taken over (see liveness in
// process_identity.go): the holder ran on this host (same host name) and,
// in this boot, no process with its pid and start time runs. Process ids
// are only meaningful on their host and in their PID namespace: containers
// sharing a state file must have distinct host names. A holder on another
// host is never presumed dead; ForceUnlock removes its lock.
func (s *SQLiteStore) Lock(ctx context.Context, keys []string, owner string, timeout time.Duration) (func() error, error) {
	keys, err := lockKeys(keys, owner)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return func() error { return nil }, nil
	}
	token := newToken()
	if err := waitForLock(ctx, timeout, func() (*LockInfo, error) {
		return s.tryLock(ctx, keys, owner, token)
	}); err != nil {
		return nil, err
	}

	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		s.unlock(token, len(keys))
		return nil, errors.New("state lock: the store is closed")
	}
	s.held[token] = len(keys)
	s.mu.Unlock()

	var once sync.Once
	var rerr error
	return func() error {
		once.Do(func() {
			s.mu.Lock()
			_, mine := s.held[token]
			delete(s.held, token)
			s.mu.Unlock()
			if mine { // else Close released it
				rerr = s.unlock(token, len(keys))
			}
		})
		return rerr
	}, nil
}

// tryLock takes every key for token in one transaction, or none. It
// returns the first key's holder when a key is held. A dead holder's lock
// is deleted and the takeover recorded in lock_events in the same
// transaction, so a takeover rolled back (another key was held) leaves
// both as they were.
func (s *SQLiteStore) tryLock(ctx context.Context, keys []string, owner, token string) (*LockInfo, error) {
	var held *LockInfo
	now := formatTime(time.Now())
	me := s.self()
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		for _, k := range keys {
			h, holderToken, err := scanLock(tx.QueryRowContext(ctx, `SELECT `+lockColumns+` FROM locks WHERE lock_key = ?`, k))
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			default:
				h.Liveness = liveness(me, h.holder())
				if h.Liveness != LivenessDead {
					held = &h
					return errHeld
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lock_key = ? AND token = ?`, k, holderToken); err != nil {
					return err
				}
				if err := insertLockEvent(ctx, tx, LockTakenOver, h, owner, me, now); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO locks (lock_key, token, owner, pid, host, boot_id, proc_start, acquired_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, k, token, owner, me.PID, me.Host, me.BootID, me.Start, now); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errHeld) {
		return held, nil
	}
	return nil, err
}

// errHeld rolls back a tryLock transaction that found a key held.
var errHeld = errors.New("lock held")

// lockColumns are the columns of locks scanLock reads, in its order.
const lockColumns = `lock_key, token, owner, pid, host, boot_id, proc_start, acquired_at`

// scanLock reads a locks row into its LockInfo, with the holder's token.
// The caller judges Liveness.
func scanLock(row interface{ Scan(...any) error }) (LockInfo, string, error) {
	var h LockInfo
	var token, acquired string
	if err := row.Scan(&h.Key, &token, &h.Owner, &h.PID, &h.Host, &h.BootID, &h.ProcessStart, &acquired); err != nil {
		return h, "", err
	}
	var err error
	if h.AcquiredAt, err = parseTime(acquired); err != nil {
		return h, "", err
	}
	h.ID = lockID(h.Key, token)
	return h, token, nil
}

// holder is the process recorded as holding the lock.
func (h *LockInfo) holder() process {
	return process{PID: h.PID, Host: h.Host, BootID: h.BootID, Start: h.ProcessStart}
}

// insertLockEvent records lock h removed from its holder by the process
// me, for by.
func insertLockEvent(ctx context.Context, tx stx, kind LockEventKind, h LockInfo, by string, me process, at string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO lock_events (kind, lock_id, lock_key, owner, pid, host, boot_id, proc_start,
        acquired_at, liveness, by_owner, by_pid, by_host, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		kind, h.ID, h.Key, h.Owner, h.PID, h.Host, h.BootID, h.ProcessStart, formatTime(h.AcquiredAt),
		h.Liveness, by, me.PID, me.Host, at)
	return err
}

// unlock deletes the locks taken with token, and reports those no longer
// there: a holder that lost its lock must say so.
func (s *SQLiteStore) unlock(token string, n int) error {
	ctx := context.Background()
	var deleted int64
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		res, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE token = ?`, token)
		if err != nil {
			return err
		}
		deleted, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("releasing state locks: %w", err)
	}
	if deleted != int64(n) {
		return fmt.Errorf("releasing state locks: %d of %d were no longer held (forcibly unlocked?)", int64(n)-deleted, n)
	}
	return nil
}

// Locks implements Store.
func (s *SQLiteStore) Locks(ctx context.Context) ([]LockInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+lockColumns+` FROM locks ORDER BY lock_key`)
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	me := s.self()
	var out []LockInfo
	for rows.Next() {
		h, _, err := scanLock(rows)
		if err != nil {
			return nil, s.dbError(err)
		}
		h.Liveness = liveness(me, h.holder())
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError(err)
	}
	return out, nil
}

// ForceUnlock implements Store. Ids are derived from the tokens, which
// SQLite cannot hash, so the rows are read and matched here; there are
// only as many as targets being acted on.
func (s *SQLiteStore) ForceUnlock(ctx context.Context, id, by string) (LockInfo, error) {
	switch {
	case id == "":
		return LockInfo{}, errors.New("force-unlock: the lock id is empty")
	case by == "":
		return LockInfo{}, fmt.Errorf("force-unlock of lock %s: who forces it is not given", id)
	}
	me := s.self()
	var removed LockInfo
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		tx := s.wtx(sqlTx)
		rows, err := tx.QueryContext(ctx, `SELECT `+lockColumns+` FROM locks ORDER BY lock_key`)
		if err != nil {
			return err
		}
		var matches []LockInfo
		var token string
		for rows.Next() {
			h, t, err := scanLock(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if h.ID == id {
				matches = append(matches, h)
				token = t
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		switch len(matches) {
		case 0:
			return fmt.Errorf("state lock id %s: %w (no lock held has it: released, or released and taken again under a new id)", id, ErrNotFound)
		case 1:
		default:
			return fmt.Errorf("state lock id %s names %d locks; nothing removed", id, len(matches))
		}
		removed = matches[0]
		removed.Liveness = liveness(me, removed.holder())
		if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lock_key = ? AND token = ?`, removed.Key, token); err != nil {
			return err
		}
		return insertLockEvent(ctx, tx, LockForced, removed, by, me, formatTime(time.Now()))
	})
	if err != nil {
		return LockInfo{}, err
	}
	return removed, nil
}

// LockEvents implements Store.
func (s *SQLiteStore) LockEvents(ctx context.Context) ([]LockEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, lock_id, lock_key, owner, pid, host, boot_id, proc_start,
        acquired_at, liveness, by_owner, by_pid, by_host, at FROM lock_events ORDER BY id`)
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	var out []LockEvent
	for rows.Next() {
		var e LockEvent
		var acquired, at string
		l := &e.Lock
		if err := rows.Scan(&e.ID, &e.Kind, &l.ID, &l.Key, &l.Owner, &l.PID, &l.Host, &l.BootID, &l.ProcessStart,
			&acquired, &l.Liveness, &e.By, &e.ByPID, &e.ByHost, &at); err != nil {
			return nil, s.dbError(err)
		}
		if l.AcquiredAt, err = parseTime(acquired); err != nil {
			return nil, err
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError(err)
	}
	return out, nil
}

// newToken returns a random id for one Lock call's rows, so release deletes
// exactly them, whatever else the same owner holds.
func newToken() string { return crand.Text() }
