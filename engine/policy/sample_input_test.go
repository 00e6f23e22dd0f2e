package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// input.finding.sample is true for a sample finding and absent otherwise,
// as the finding's JSON has it (omitempty).
func TestBuildInputSample(t *testing.T) {
	for _, sample := range []bool{true, false} {
		f := testFinding(t)
		f.Sample = sample
		in := &Input{Finding: f, Resource: &f.Resource, Scope: "s", Rule: "r"}
		got := BuildInput(in)
		want := jsonValue(t, map[string]any{
			"finding": f, "resource": f.Resource, "facts": map[string]any{},
			"scope": map[string]any{"name": "s"}, "rule": map[string]any{"name": "r", "actions": []string{}},
		})
		if got.Compare(want) != 0 {
			t.Errorf("sample %v: BuildInput differs from the JSON encoding:\n got %v\nwant %v", sample, got, want)
		}
		v := got.Get(keyFinding).Value.(ast.Object).Get(ast.StringTerm("sample"))
		if (v != nil) != sample || (sample && !v.Equal(ast.BooleanTerm(true))) {
			t.Errorf("sample %v: input.finding.sample = %v", sample, v)
		}
	}
}
