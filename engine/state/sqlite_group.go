package state

import (
	"context"
	"database/sql"
	"errors"
)

// Group commit. Every write transaction of a SQLiteStore ends in an fsync
// (synchronous=FULL), and SQLite has one writer at a time, so writes from
// concurrent goroutines (the daemon's workers, the inbox, the phases of an
// apply) would queue for one fsync each. The store's writer goroutine
// instead takes every write waiting when it is free and runs them in one
// transaction, each in its own savepoint: a write that fails is rolled
// back alone, and every write returns only after the commit that made it
// durable. A lone write costs what it did before; concurrent ones share
// the fsync.

// maxGroupWrites bounds the writes of one transaction, so a long queue
// cannot make one commit wait for all of it.
const maxGroupWrites = 64

type writeReq struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

// startWriter starts the writer goroutine.
func (s *SQLiteStore) startWriter(maxGroup int) {
	if maxGroup <= 0 {
		maxGroup = maxGroupWrites
	}
	s.maxGroup = maxGroup
	s.writes = make(chan *writeReq)
	s.writerDone = make(chan struct{})
	go s.writer()
}

// stopWriter stops the writer goroutine once the writes in flight are
// done; later writes fail.
func (s *SQLiteStore) stopWriter() {
	s.writesMu.Lock()
	if s.writes == nil || s.writesClosed {
		s.writesMu.Unlock()
		return
	}
	s.writesClosed = true
	close(s.writes)
	s.writesMu.Unlock()
	<-s.writerDone
}

// submit hands a write to the writer goroutine, or reports the store
// closed.
func (s *SQLiteStore) submit(r *writeReq) bool {
	s.writesMu.RLock()
	defer s.writesMu.RUnlock()
	if s.writes == nil || s.writesClosed {
		return false
	}
	s.writes <- r
	return true
}

func (s *SQLiteStore) writer() {
	defer close(s.writerDone)
	for first := range s.writes {
		group := []*writeReq{first}
	more:
		for len(group) < s.maxGroup {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		s.commitGroup(group)
		// Between transactions the writer's connection is free to
		// prepare the statements the group ran unprepared.
		s.ws.prepareMissed(context.Background())
	}
}

// commitGroup runs a group of writes in one transaction.
func (s *SQLiteStore) commitGroup(group []*writeReq) {
	errs := make([]error, len(group))
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range group {
			r.done <- s.dbError(err)
		}
		return
	}
	ran := 0
	wtx := s.wtx(tx)
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err // given up before it ran: nothing written
			continue
		}
		if len(group) == 1 {
			errs[i] = r.fn(tx)
			ran++
			continue
		}
		if _, err := wtx.ExecContext(context.Background(), `SAVEPOINT w`); err != nil {
			errs[i] = err
			continue
		}
		if err := r.fn(tx); err != nil {
			errs[i] = err
			if _, rerr := wtx.ExecContext(context.Background(), `ROLLBACK TO w`); rerr != nil {
				// The transaction is unusable: fail the whole group.
				tx.Rollback()
				for _, r := range group {
					r.done <- s.dbError(errors.Join(err, rerr))
				}
				return
			}
		} else {
			ran++
		}
		if _, err := wtx.ExecContext(context.Background(), `RELEASE w`); err != nil {
			tx.Rollback()
			for _, r := range group {
				r.done <- s.dbError(err)
			}
			return
		}
	}
	if len(group) == 1 && errs[0] != nil {
		tx.Rollback()
		group[0].done <- s.dbError(errs[0])
		return
	}
	var commitErr error
	if ran > 0 {
		commitErr = tx.Commit()
	} else {
		tx.Rollback()
	}
	for i, r := range group {
		switch {
		case errs[i] != nil:
			r.done <- s.dbError(errs[i])
		case commitErr != nil:
			r.done <- s.dbError(commitErr)
		default:
			r.done <- nil
		}
	}
}
