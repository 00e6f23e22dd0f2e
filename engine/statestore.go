package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/engine/state/riverjobs"
)

// OpenState opens the configuration's state backend (docs/state.md): the SQLite
// database at its path, or the PostgreSQL database its dsn names.
//
// A PostgreSQL store is opened with the job queue's tables migrated and an
// insert-only River client as its enqueuer, so that a write that creates
// work from any command (cordon approve) queues its job for the daemon's
// replicas; `cordon serve` replaces it with its own working client.
func (e *Engine) OpenState() (state.Store, error) {
	if e.cfg.State.Backend == config.BackendPostgres {
		dsn, err := e.postgresDSN()
		if err != nil {
			return nil, err
		}
		ctx := context.Background()
		st, err := state.OpenPostgres(ctx, dsn, state.PostgresOptions{})
		if err != nil {
			return nil, err
		}
		if err := riverjobs.Migrate(ctx, st.Pool()); err != nil {
			st.Close()
			return nil, err
		}
		client, err := riverjobs.NewInsertOnly(st.Pool())
		if err != nil {
			st.Close()
			return nil, err
		}
		st.SetEnqueuer(riverjobs.Enqueuer{Client: client})
		return st, nil
	}
	path, err := e.sqlitePath()
	if err != nil {
		return nil, err
	}
	return state.OpenSQLite(path)
}

// errPostgres says the configuration's state is not a SQLite file.
var errPostgres = errors.New("the state backend is postgres")

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
		return "", errPostgres
	}
	return "", fmt.Errorf("unknown state backend %q", s.Backend)
}

// postgresDSN is the configuration's PostgreSQL DSN. The configuration
// loads with an empty one (dsn = env("CORDON_PG_DSN") where the variable
// is unset: validate and plan need no state), so it is checked here, when
// the state is opened.
func (e *Engine) postgresDSN() (string, error) {
	if dsn := e.cfg.State.DSN; dsn != "" {
		return dsn, nil
	}
	return "", errors.New(`the postgres state backend's dsn is empty: set CORDON_PG_DSN to the database's URL ` +
		`(postgres://USER:PASSWORD@HOST:5432/DATABASE), as state { dsn = env("CORDON_PG_DSN") } reads it`)
}

// StateCounter counts from state what max_actions_per_hour limits, for
// PlanOptions.Budget; Close releases it.
type StateCounter interface {
	ActionCounter
	Close() error
}

// OpenStateReadOnly opens the configuration's state for counting, without
// creating it: nil (and no error) when there is no state yet, so nothing
// has been counted. SQLite's is opened read-only. PostgreSQL's is opened
// only if the database holds cordon's tables already (an older schema is
// migrated, as by any command); with no dsn set, nothing was counted.
func (e *Engine) OpenStateReadOnly() (StateCounter, error) {
	if e.cfg.State.Backend == config.BackendPostgres {
		if e.cfg.State.DSN == "" {
			return nil, nil
		}
		st, err := state.OpenPostgres(context.Background(), e.cfg.State.DSN, state.PostgresOptions{MustExist: true})
		if errors.Is(err, state.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	path, err := e.sqlitePath()
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
// database; for PostgreSQL, the database itself.
func (e *Engine) PlanKeys() (state.PlanKeys, error) {
	if e.cfg.State.Backend == config.BackendPostgres {
		return postgresPlanKeys{e}, nil
	}
	path, err := e.sqlitePath()
	if err != nil {
		return nil, err
	}
	return state.FilePlanKey{Path: filepath.Join(filepath.Dir(path), PlanKeyFile)}, nil
}

// PlanKeyFile is the name of the SQLite backend's plan key, in the state
// database's directory.
const PlanKeyFile = "plan.key"

// postgresPlanKeys reads the plan key of the configuration's PostgreSQL
// state, opening it for the call: a plan is signed or checked once.
type postgresPlanKeys struct{ e *Engine }

// PlanKey implements state.PlanKeys. Checking a plan against a database
// that holds no state yet is ErrNoPlanKey, and creates nothing.
func (k postgresPlanKeys) PlanKey(ctx context.Context, create bool) ([]byte, error) {
	dsn, err := k.e.postgresDSN()
	if err != nil {
		return nil, err
	}
	st, err := state.OpenPostgres(ctx, dsn, state.PostgresOptions{MustExist: !create})
	if !create && errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", state.ErrNoPlanKey, err)
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.PlanKey(ctx, create)
}
