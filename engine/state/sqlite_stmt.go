package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Prepared statements. modernc.org/sqlite compiles a query's text with
// sqlite3_prepare_v2 every time it runs unprepared, which showed in the
// daemon's profile under load; a statement prepared once keeps its
// compiled form and is only reset between runs.
//
// Each of the store's databases has a stmtCache: the writer's (one
// connection) and the read pool's. A query run through a transaction of
// the store (stx) uses the statement its cache holds for that text, bound
// to the transaction with Tx.StmtContext, which reuses the driver
// statement already prepared on the transaction's connection (and
// prepares it there once if the pool's connection is new to it).
//
// A query not in the cache yet runs unprepared and is noted; the cache
// prepares it on its database once the transaction is over
// (prepareMissed). It cannot be prepared during the transaction: the
// writer's only connection is the transaction's, and preparing on a
// *sql.DB takes a connection of its own, so it would wait for itself.

// maxCachedStmts bounds a cache, so queries built with a varying number
// of placeholders cannot grow it without end; beyond it, queries run
// unprepared as before.
const maxCachedStmts = 256

// stmtCache holds one database's prepared statements by query text. It is
// safe for concurrent use. A nil *stmtCache caches nothing: every query
// runs unprepared (a read-only store).
type stmtCache struct {
	db *sql.DB

	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
	pending map[string]struct{} // run unprepared, to be prepared
	closed  bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

// prepare prepares query now and returns its statement (the one cached
// already, if any). It must not be called while a transaction holds the
// database's last free connection.
func (c *stmtCache) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, closed := c.stmts[query], c.closed
	c.mu.RUnlock()
	switch {
	case closed:
		return nil, errors.New("statement cache is closed")
	case st != nil:
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing statement: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		st.Close()
		return nil, errors.New("statement cache is closed")
	}
	if have := c.stmts[query]; have != nil {
		// Prepared concurrently: keep the first.
		st.Close()
		return have, nil
	}
	c.stmts[query] = st
	delete(c.pending, query)
	return st, nil
}

// lookup returns the statement prepared for query, or nil after noting
// query for prepareMissed.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	st, closed := c.stmts[query], c.closed
	c.mu.RUnlock()
	switch {
	case closed:
		return nil
	case st != nil:
		return st
	}
	c.mu.Lock()
	if !c.closed && c.stmts[query] == nil && len(c.stmts)+len(c.pending) < maxCachedStmts {
		c.pending[query] = struct{}{}
	}
	c.mu.Unlock()
	return nil
}

// prepareMissed prepares the queries that ran unprepared since its last
// call. Call it when no transaction of the caller's is open on the
// database. A query that fails to prepare is left out; it will be noted
// again the next time it runs, and report its error there.
func (c *stmtCache) prepareMissed(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.pending))
	for q := range c.pending {
		queries = append(queries, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range queries {
		if _, err := c.prepare(ctx, q); err != nil {
			return // closed or cancelled: the rest can wait
		}
	}
}

// len returns the number of statements prepared.
func (c *stmtCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.stmts)
}

// close closes every statement; later lookups find none. A second close
// does nothing.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	clear(c.pending)
	return errors.Join(errs...)
}

// stx is a transaction of the store whose queries run as the statements
// of its database's cache. It has the *sql.Tx methods the store uses, so
// the code that queries reads the same either way.
type stx struct {
	*sql.Tx
	c *stmtCache
}

// wtx wraps a transaction of the writer connection.
func (s *SQLiteStore) wtx(tx *sql.Tx) stx { return stx{Tx: tx, c: s.ws} }

// rtx wraps a transaction of the read pool.
func (s *SQLiteStore) rtx(tx *sql.Tx) stx { return stx{Tx: tx, c: s.rs} }

// ExecContext runs query as tx.ExecContext does.
func (t stx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query as tx.QueryContext does.
func (t stx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query as tx.QueryRowContext does.
func (t stx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.c.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
