package config

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/collectors"
)

// Test-only types exercising the ways a constructor can fail. Their names
// sort after every real type, so lists of types in messages still start
// with the real ones.
func init() {
	actions.Register(&actions.Definition{
		Type: "zz_test_error",
		Attributes: hcldec.ObjectSpec{
			"timeout": &hcldec.AttrSpec{Name: "timeout", Type: cty.Number},
			"level":   &hcldec.AttrSpec{Name: "level", Type: cty.Number},
		},
		New: func(cfg cty.Value) (actions.Action, error) {
			if _, reserved := cfg.Type().AttributeTypes()["type"]; reserved {
				return nil, errors.New("the common attribute type reached the constructor")
			}
			return nil, errors.New("the level is not supported by this account.")
		},
	})
	actions.Register(&actions.Definition{
		Type: "zz_test_panic",
		New:  func(cty.Value) (actions.Action, error) { panic("boom") },
	})
	collectors.Register(&collectors.Definition{
		Type: "zz_test_collector",
		Attributes: hcldec.ObjectSpec{
			// A type's attribute named like a common one is ignored.
			"timeout": &hcldec.AttrSpec{Name: "timeout", Type: cty.Number},
		},
		New: func(cfg cty.Value) (collectors.Collector, error) {
			if cfg.Type().HasAttribute("timeout") {
				return nil, errors.New("the common attribute timeout reached the constructor")
			}
			return testCollector{}, nil
		},
	})
}

type testCollector struct{}

func (testCollector) Collect(context.Context, *collectors.Request) (map[string]any, error) {
	return nil, nil
}

func TestPluginErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantDiag
	}{
		{"constructor error", "action \"a\" {\n  type  = \"zz_test_error\"\n  level = 3\n}\n",
			[]wantDiag{{false, "Invalid action configuration", 1, 1, "The level is not supported by this account."}}},
		{"constructor panic", "action \"a\" {\n  type = \"zz_test_panic\"\n}\n",
			[]wantDiag{{false, "Invalid action configuration", 1, 1, "Internal error in action type zz_test_panic: boom."}}},
		{"reserved attribute", "collector \"c\" {\n  type    = \"zz_test_collector\"\n  timeout = \"5s\"\n}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := load(t, map[string]string{"cordon.hcl": tt.src}, LoadOptions{})
			if len(diags) != len(tt.want) {
				t.Fatalf("got %d diagnostics, want %d:%s", len(diags), len(tt.want), render(diags))
			}
			for i, w := range tt.want {
				d := diags[i]
				if d.Summary != w.summary || d.Detail != w.detail || rangePos(d.Subject) != "1:1" {
					t.Errorf("got:%s\nwant %q: %q at 1:1", render(diags[i:i+1]), w.summary, w.detail)
				}
			}
			if tt.want == nil && cfg.Collectors["c"].Timeout.String() != "5s" {
				t.Errorf("timeout = %v, want the common attribute's 5s", cfg.Collectors["c"].Timeout)
			}
		})
	}
}
