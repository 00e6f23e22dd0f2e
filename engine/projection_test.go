package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/schema"
)

// TestProjectedInputAgreesOnStarter checks, for the starter policies on
// every recorded finding with every recorded facts file, that the input
// cut to what the policies read gives exactly the verdicts and responses
// of the whole input document.
func TestProjectedInputAgreesOnStarter(t *testing.T) {
	ctx := context.Background()
	e, diags := Load(ctx, Options{Dir: "../policies"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	findings, _ := filepath.Glob("../policies/testdata/findings/*.json")
	factsFiles, _ := filepath.Glob("../policies/testdata/facts/*.json")
	factsFiles = append(factsFiles, "") // and no facts at all
	compared := 0
	for _, ff := range findings {
		data, err := os.ReadFile(ff)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := schema.Parse(ff, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range parsed {
			matches, _ := e.matchFinding(f)
			for _, factsPath := range factsFiles {
				var facts *FactsFile
				if factsPath != "" {
					if facts, err = e.ReadFactsFile(factsPath); err != nil {
						t.Fatal(err)
					}
				}
				src := newFactsSource(e, facts, PlanOptions{})
				for _, m := range matches {
					obj := ast.NewObject()
					for _, name := range m.rule.cfg.Collect {
						_, v, _, err := src.get(ctx, e.cfg.Collectors[name], f, "inc-test")
						if err != nil {
							t.Fatal(err)
						}
						obj.Insert(ast.StringTerm(name), ast.NewTerm(v))
					}
					in := &policy.Input{Finding: f, Resource: &f.Resource, Facts: obj, Scope: m.scope.cfg.Name, Rule: m.rule.cfg.Name, Actions: m.rule.cfg.Actions}
					projected, full := e.policies.BuildInput(in), policy.BuildInput(in)
					v1, err1 := e.policies.EvalVerdict(ctx, m.rule.cfg.Verdict, projected)
					v2, err2 := e.policies.EvalVerdict(ctx, m.rule.cfg.Verdict, full)
					if !reflect.DeepEqual(v1, v2) || (err1 == nil) != (err2 == nil) {
						t.Errorf("%s with %s, rule %s: projected %+v %v, full %+v %v", filepath.Base(ff), filepath.Base(factsPath), m.rule.cfg.Name, v1, err1, v2, err2)
						continue
					}
					if v1 == nil {
						continue
					}
					a1, err1 := e.policies.EvalResponse(ctx, m.rule.cfg.Response, policy.WithVerdict(projected, v1))
					a2, err2 := e.policies.EvalResponse(ctx, m.rule.cfg.Response, policy.WithVerdict(full, v1))
					if !reflect.DeepEqual(a1, a2) || (err1 == nil) != (err2 == nil) {
						t.Errorf("%s with %s, rule %s: responses differ: %v / %v", filepath.Base(ff), filepath.Base(factsPath), m.rule.cfg.Name, a1, a2)
					}
					compared++
				}
			}
		}
	}
	if compared < 50 {
		t.Errorf("only %d comparisons", compared)
	}
	t.Logf("%d verdict and response pairs agree", compared)
}
