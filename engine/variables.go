package engine

import (
	"encoding/json"
	"strconv"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/engine/config"
)

// sensitiveJSON stands for a sensitive variable's value in a plan file.
var sensitiveJSON = json.RawMessage(strconv.Quote(config.SensitiveValue))

// variablesJSON returns the resolved variable values as JSON, as a plan
// file records them, so that apply can tell the values it is given from
// those the plan was made with.
//
// A sensitive variable's value is never written (docs/configuration.md): one a source
// gave (-var, -var-file, CORDON_VAR_name) is recorded as "(sensitive
// value)", and one at its default not at all. Apply takes it from the
// same sources again, and comparing these tells it when a value the plan
// was made with is no longer given (or one is given that was not), though
// not when a given value changed.
func (e *Engine) variablesJSON() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(e.cfg.Variables))
	for name, v := range e.cfg.Variables {
		if v.Sensitive {
			if v.Given {
				out[name] = sensitiveJSON
			}
			continue
		}
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
