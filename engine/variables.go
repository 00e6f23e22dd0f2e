package engine

import (
	"encoding/json"

	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// variablesJSON returns the resolved variable values as JSON, as a plan
// file records them: apply must run with the values the plan was made with.
func (e *Engine) variablesJSON() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(e.cfg.Variables))
	for name, v := range e.cfg.Variables {
		if v.Value.IsNull() || !v.Value.IsWhollyKnown() {
			continue
		}
		b, err := ctyjson.Marshal(v.Value, v.Value.Type())
		if err != nil {
			continue
		}
		out[name] = b
	}
	return out
}
