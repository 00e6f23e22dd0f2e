package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLiteStore is the Store kept in one SQLite file (modernc.org/sqlite,
// no cgo).
//
// Durability. The database runs in WAL mode with synchronous=FULL: every
// commit fsyncs the write-ahead log before it returns. NORMAL would only
// sync at checkpoints, so a power loss or kernel panic could drop the last
// commits; the record that an action started, written just before the call
// that isolates an instance or disables a key, would be among them, and the
// change would be made with no trace in the audit trail and nothing for
// `cordon revert` to undo. An fsync per commit costs far less than the AWS
// call it precedes (see BenchmarkActionPair).
//
// Concurrency. Writes go through a pool of exactly one connection, so
// writers in this process queue in database/sql instead of contending for
// SQLite's write lock; each write transaction begins IMMEDIATE (it takes
// the write lock up front), so it never fails half-way when another
// process writes, and busy_timeout makes it wait for that process instead.
// Reads use a separate pool of query_only connections: in WAL mode readers
// see a consistent snapshot and neither block nor wait for the writer.
//
// Files. The directory is created 0700 and the database 0600, set
// explicitly rather than left to the umask; SQLite creates the -wal and
// -shm files with the database file's mode, so they are 0600 too.
type SQLiteStore struct {
	path string
	w    *sql.DB // one connection: every write
	r    *sql.DB // query_only connections: reads
	pid  int
	host string

	// ws and rs hold the prepared statements of w and r (see
	// sqlite_stmt.go); stmts are ws's statements custody appends use.
	ws, rs *stmtCache
	stmts  writeStmts
	// writes go to the writer goroutine, which groups them (see
	// sqlite_group.go).
	writesMu     sync.RWMutex
	writes       chan *writeReq
	writesClosed bool
	writerDone   chan struct{}
	maxGroup     int

	mu   sync.Mutex
	held map[string]int // lock token → number of keys, released on Close
	done bool
}

var _ Store = (*SQLiteStore)(nil)

const (
	// busyTimeout is how long a statement waits for another process's
	// write transaction. Cordon's transactions last milliseconds; this
	// only runs out when something holds the database far longer.
	busyTimeout = 10 * time.Second
	// readConns bounds the read pool.
	readConns = 4
	// applicationID marks the file as cordon's ("cord"), so `file` can
	// name it and cordon refuses other SQLite databases.
	applicationID = 0x636f7264
)

// sqliteOptions are the knobs tests and benchmarks turn.
type sqliteOptions struct {
	// migrations replace the built-in list (tests of upgrades).
	migrations []migration
	// synchronous overrides FULL (benchmark comparison only).
	synchronous string
	// maxGroup overrides how many writes share a transaction (1: none;
	// benchmark comparison only).
	maxGroup int
}

// OpenSQLite opens the state database at path, creating it (and its
// directory) if needed and migrating its schema to this cordon's version.
// A file that is not a cordon state database, or whose schema is newer
// than this cordon knows, is refused with an error naming it.
func OpenSQLite(path string) (*SQLiteStore, error) {
	return openSQLite(path, sqliteOptions{})
}

func openSQLite(path string, o sqliteOptions) (_ *SQLiteStore, err error) {
	if path == "" {
		return nil, errors.New("state database path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	host, _ := os.Hostname() // empty disables stale-lock detection
	s := &SQLiteStore{path: abs, pid: os.Getpid(), host: host, held: map[string]int{}}
	defer func() {
		if err != nil {
			s.stopWriter()
			s.ws.close()
			s.rs.close()
			s.closeDBs()
		}
	}()

	synchronous := o.synchronous
	if synchronous == "" {
		synchronous = "FULL"
	}
	ctx := context.Background()
	s.w, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_foreign_keys": {"1"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {synchronous},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", abs, err)
	}
	// One connection that lives as long as the store: writers queue for
	// it, and its prepared statements stay prepared.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.w.PingContext(ctx); err != nil {
		return nil, s.openError(err)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, s.openError(err)
	}
	if mode != "wal" {
		return nil, fmt.Errorf("state database %s: cannot use WAL journal mode (got %q); is it on a network file system?", abs, mode)
	}

	ms := o.migrations
	if ms == nil {
		ms = sqliteMigrations
	}
	if err := migrate(ctx, s.w, ms); err != nil {
		return nil, fmt.Errorf("state database %s: %w", abs, s.mapError(err))
	}
	s.ws = newStmtCache(s.w)
	if err := s.stmts.prepare(ctx, s.ws); err != nil {
		return nil, fmt.Errorf("state database %s: %w", abs, err)
	}
	s.startWriter(o.maxGroup)

	s.r, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	if err := s.r.PingContext(ctx); err != nil {
		return nil, s.openError(err)
	}
	s.rs = newStmtCache(s.r)
	return s, nil
}

// Path returns the database file's absolute path.
func (s *SQLiteStore) Path() string { return s.path }

// Close releases the locks this store still holds, then closes the
// database. A second Close does nothing.
func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.done = true
	held := s.held
	s.held = nil
	s.mu.Unlock()

	var errs []error
	for token, n := range held {
		errs = append(errs, s.unlock(token, n))
	}
	s.stopWriter()
	errs = append(errs, s.ws.close(), s.rs.close(), s.closeDBs())
	return errors.Join(errs...)
}

func (s *SQLiteStore) closeDBs() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		// The last connection to close checkpoints the WAL into the
		// database file and removes it.
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// dsn is the modernc.org/sqlite data source name for the file at abs: a
// file: URI, so a path containing '?' or '#' is escaped rather than taken
// for parameters.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // file:///C:/… on Windows
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// createFile makes sure the database file exists with mode 0600 in a
// directory it creates with mode 0700. Modes are set with chmod, not left
// to the umask, which could widen them (umask 0) or leave the owner unable
// to write (umask 0277). Existing files and directories are left as the
// user made them.
func createFile(abs string) error {
	dir := filepath.Dir(abs)
	// The missing directories, innermost first. Each is made and chmod-ed
	// before the next inside it, so a restrictive umask cannot leave one
	// that the next cannot be made in.
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating state directory: %w", err)
		} else if err == nil {
			if err := os.Chmod(d, 0o700); err != nil {
				return fmt.Errorf("creating state directory: %w", err)
			}
		}
	}

	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		fi, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("state database: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("state database %s is not a regular file", abs)
		}
		return nil
	case err != nil:
		return fmt.Errorf("creating state database: %w", err)
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Make the new file's directory entry durable too.
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(abs)
		return fmt.Errorf("creating state database: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// openError explains a failure to open the database.
func (s *SQLiteStore) openError(err error) error {
	return fmt.Errorf("state database %s: %w", s.path, s.mapError(err))
}

// mapError turns SQLite's result codes for a file that is not usable into
// errors that say so.
func (s *SQLiteStore) mapError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: the file is not a SQLite database", ErrNotStateDatabase)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("the database is corrupt (%v); restore it from a backup", err)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
		return fmt.Errorf("cannot open it for writing: %v", err)
	case sqlite3.SQLITE_BUSY:
		return fmt.Errorf("it stayed locked by another process for %s: %v", busyTimeout, err)
	}
	return err
}

// dbError names the database in an error SQLite returned; the errors the
// store makes itself already say what they are about.
func (s *SQLiteStore) dbError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return s.openError(err)
	}
	return err
}

// isForeignKeyError reports whether err is a violated foreign key.
func isForeignKeyError(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// Times are stored as RFC 3339 text in UTC with exactly nine fractional
// digits. time.RFC3339Nano trims trailing zeros, which breaks ordering by
// text ("05.1Z" sorts after "05.12Z"); a fixed width sorts as time does.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("state database holds a malformed time %q", s)
	}
	return t, nil
}

func parseNullTime(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid {
		return nil, nil
	}
	t, err := parseTime(ns.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// jsonArg is a JSON document as a query argument: TEXT, or NULL for nil.
// (A []byte would be bound as a BLOB, which a STRICT TEXT column refuses.)
func jsonArg(raw []byte) any {
	if raw == nil {
		return nil
	}
	return string(raw)
}

// withoutCancel detaches a write that records what already happened from
// the caller's cancellation; busy_timeout still bounds it.
func withoutCancel(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
