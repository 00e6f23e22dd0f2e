package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/state"
)

// OpenState opens the configuration's state backend (SPEC §8).
func (e *Engine) OpenState() (state.Store, error) {
	path, err := e.sqlitePath()
	if err != nil {
		return nil, err
	}
	return state.OpenSQLite(path)
}

var errNoPostgres = errors.New("the postgres state backend is not available in this release of cordon; use backend = \"sqlite\"")

// sqlitePath is the SQLite state database of the configuration, or why
// there is none.
func (e *Engine) sqlitePath() (string, error) {
	s := e.cfg.State
	switch s.Backend {
	case "", config.BackendSQLite:
		path := s.Path
		if path == "" {
			path = config.DefaultStatePath
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(e.cfg.Dir, path)
		}
		return path, nil
	case config.BackendPostgres:
		return "", errNoPostgres
	}
	return "", fmt.Errorf("unknown state backend %q", s.Backend)
}

// StateCounter counts from state what max_actions_per_hour limits, for
// PlanOptions.Budget; Close releases it.
type StateCounter interface {
	ActionCounter
	Close() error
}

// OpenStateReadOnly opens the configuration's state for counting, without
// writing to it or creating it: nil (and no error) when there is no state
// yet, so nothing has been counted.
func (e *Engine) OpenStateReadOnly() (StateCounter, error) {
	path, err := e.sqlitePath()
	if errors.Is(err, errNoPostgres) {
		// Nothing can be applied with it, so nothing was counted.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := state.OpenSQLiteReadOnly(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// PlanKeys returns where the configuration's state keeps the key that
// signs plan files (see state.PlanKeys): for SQLite, plan.key beside the
// database. A PostgreSQL backend will keep it in the database.
func (e *Engine) PlanKeys() (state.PlanKeys, error) {
	path, err := e.sqlitePath()
	if err != nil {
		return nil, err
	}
	return state.FilePlanKey{Path: filepath.Join(filepath.Dir(path), PlanKeyFile)}, nil
}

// PlanKeyFile is the name of the SQLite backend's plan key, in the state
// database's directory.
const PlanKeyFile = "plan.key"
