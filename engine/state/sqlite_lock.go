package state

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Waiting for a lock polls: the first retry after lockPollMin, doubling up
// to lockPollMax, each with up to half again of random jitter so that
// waiters do not retry in step.
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = time.Second
)

// Lock implements Store. The locks live in the locks table, so they hold
// across processes sharing the file. Every key is taken in one transaction,
// or none: a waiter never holds some keys while waiting for others, so two
// applies cannot deadlock. Keys are taken in sorted order all the same,
// which a backend with row locks needs.
//
// A lock whose holder ran on this host (same host name) under a process id
// that no longer exists is stale and taken over. Process ids are only
// meaningful on their host and in their PID namespace: containers sharing a
// state file must have distinct host names. A holder on another host is
// never presumed dead; ForceUnlock removes its lock.
func (s *SQLiteStore) Lock(ctx context.Context, keys []string, owner string, timeout time.Duration) (func() error, error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		if k == "" {
			return nil, errors.New("state lock: empty key")
		}
	}
	if owner == "" {
		return nil, errors.New("state lock: owner is empty")
	}
	if len(keys) == 0 {
		return func() error { return nil }, nil
	}
	token := newToken()
	deadline := time.Now().Add(timeout)
	wait := lockPollMin
	var timer *time.Timer
	for {
		held, err := s.tryLock(ctx, keys, owner, token)
		if err != nil {
			return nil, err
		}
		if held == nil {
			break
		}
		left := time.Until(deadline)
		if timeout <= 0 || left <= 0 {
			return nil, &LockError{Holder: *held, Timeout: timeout}
		}
		d := min(wait+rand.N(wait/2+1), left)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for state lock %q held by %s: %w", held.Key, held.Owner, ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*2, lockPollMax)
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
// returns the first key's holder when a key is held.
func (s *SQLiteStore) tryLock(ctx context.Context, keys []string, owner, token string) (*LockInfo, error) {
	var held *LockInfo
	now := formatTime(time.Now())
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			var h LockInfo
			var acquired, holderToken string
			err := tx.QueryRowContext(ctx, `SELECT owner, pid, host, acquired_at, token FROM locks WHERE lock_key = ?`, k).
				Scan(&h.Owner, &h.PID, &h.Host, &acquired, &holderToken)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			case s.stale(h.Host, h.PID):
				if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lock_key = ? AND token = ?`, k, holderToken); err != nil {
					return err
				}
			default:
				h.Key = k
				if h.AcquiredAt, err = parseTime(acquired); err != nil {
					return err
				}
				held = &h
				return errHeld
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO locks (lock_key, token, owner, pid, host, acquired_at)
                VALUES (?, ?, ?, ?, ?, ?)`, k, token, owner, s.pid, s.host, now); err != nil {
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

// stale reports whether a lock holder is a dead process on this host.
func (s *SQLiteStore) stale(host string, pid int) bool {
	return s.host != "" && host == s.host && !processAlive(pid)
}

// unlock deletes the locks taken with token, and reports those no longer
// there: a holder that lost its lock must say so.
func (s *SQLiteStore) unlock(token string, n int) error {
	ctx := context.Background()
	var deleted int64
	err := s.write(ctx, func(tx *sql.Tx) error {
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

// ForceUnlock implements Store.
func (s *SQLiteStore) ForceUnlock(ctx context.Context, key string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lock_key = ?`, key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("state lock %q: %w", key, ErrNotFound)
		}
		return nil
	})
}

// newToken returns a random id for one Lock call's rows, so release deletes
// exactly them, whatever else the same owner holds.
func newToken() string { return crand.Text() }
