package engine

import (
	"fmt"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
)

// OpenState opens the configuration's state backend (SPEC §8).
func (e *Engine) OpenState() (state.Store, error) {
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
		return state.OpenSQLite(path)
	case config.BackendPostgres:
		return nil, fmt.Errorf("the postgres state backend is not available in this release of cordon; use backend = \"sqlite\"")
	}
	return nil, fmt.Errorf("unknown state backend %q", s.Backend)
}

// PlanValues returns the variable values a plan file was made with, for
// loading the configuration to apply it.
func PlanValues(f *plan.File) (map[string]cty.Value, error) {
	out := make(map[string]cty.Value, len(f.Variables))
	for name, raw := range f.Variables {
		ty, err := ctyjson.ImpliedType(raw)
		if err != nil {
			return nil, fmt.Errorf("plan file: variable %s: %w", name, err)
		}
		v, err := ctyjson.Unmarshal(raw, ty)
		if err != nil {
			return nil, fmt.Errorf("plan file: variable %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}
