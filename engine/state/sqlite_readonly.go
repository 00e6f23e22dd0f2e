package state

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// SQLiteReadOnly reads an existing SQLite state database without writing
// to it: no file is created, no schema migrated, no lock taken. `cordon
// plan` uses it to count what the rules did in the last hour, so that
// planning never needs write access to state, nor creates it.
type SQLiteReadOnly struct {
	s *SQLiteStore
	// countable is false for a database older than the schema that records
	// the rules of actions: no action of it counts against a rule.
	countable bool
}

// rulesSchema is the schema version from which actions record their rules.
const rulesSchema = 2

// OpenSQLiteReadOnly opens the state database at path for reading. A
// missing database is an error satisfying errors.Is(err, fs.ErrNotExist),
// and is not created. A file that is not a cordon state database, or whose
// schema is newer than this cordon knows, is refused as OpenSQLite
// refuses it.
func OpenSQLiteReadOnly(path string) (_ *SQLiteReadOnly, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("state database: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("state database %s is not a regular file", abs)
	}
	s := &SQLiteStore{path: abs}
	// mode=ro: SQLite opens the file read-only and never creates it, even
	// if it is removed between the Stat and the open.
	s.r, err = sql.Open("sqlite", dsn(abs, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", abs, err)
	}
	defer func() {
		if err != nil {
			s.r.Close()
		}
	}()
	s.r.SetMaxOpenConns(1)
	ctx := context.Background()
	var appID int64
	if err := s.r.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return nil, s.openError(err)
	}
	if appID != 0 && appID != applicationID {
		return nil, fmt.Errorf("state database %s: %w: it is a SQLite database of another application (application_id %#x)", abs, ErrNotStateDatabase, appID)
	}
	version, err := schemaVersion(ctx, s.r)
	if err != nil {
		return nil, fmt.Errorf("state database %s: %w", abs, s.mapError(err))
	}
	if latest := len(sqliteMigrations); version > latest {
		return nil, fmt.Errorf("state database %s: %w", abs, tooNew(version, latest))
	}
	return &SQLiteReadOnly{s: s, countable: version >= rulesSchema}, nil
}

// CountActions implements Guardrails.CountActions.
func (r *SQLiteReadOnly) CountActions(ctx context.Context, since time.Time, rule string) (int, error) {
	if !r.countable {
		return 0, nil
	}
	return r.s.CountActions(ctx, since, rule)
}

// Close closes the database.
func (r *SQLiteReadOnly) Close() error { return r.s.r.Close() }
