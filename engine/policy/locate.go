package policy

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/print"
)

// Locate returns the file and line of the response rule that produced a
// given actions entry for this input, for errors such as "response names
// action X which rule R does not allow (policies/ec2.rego:14)". It
// re-evaluates the package with tracing, so it is slow; it belongs on error
// paths only.
func (s *Set) Locate(ctx context.Context, pkg string, input ast.Value, a ResponseAction) (file string, line int, ok bool) {
	p, err := s.lookup(ctx, pkg)
	if err != nil {
		return "", 0, false
	}
	loc := s.locate(ctx, p, p.response, "actions", input, func(t *ast.Term) bool {
		got, bad := decodeAction(t)
		return bad == nil && got == a
	})
	if loc == nil {
		return "", 0, false
	}
	return loc.File, loc.Row, true
}

// locate re-runs q over input with a tracer and returns the location of
// the first rule of the package's document field whose result matches: for
// a multi-value rule (`actions contains x if …`) the entry it contributes,
// for a single-value rule its value or an element of it.
func (s *Set) locate(ctx context.Context, p *prepared, q preparedQuery, field string, input ast.Value, match func(*ast.Term) bool) *ast.Location {
	rules := map[*ast.Rule]bool{}
	for _, r := range s.compiler.GetRulesExact(p.path.Append(ast.StringTerm(field))) {
		for ; r != nil; r = r.Else {
			rules[r] = true
		}
	}
	if len(rules) == 0 {
		return nil
	}
	t := &ruleTracer{rules: rules, match: match}
	// The evaluation already ran once; only the trace matters here, and
	// print() output must not show twice.
	_, _ = q.eval(ctx, input, rego.EvalQueryTracer(t), rego.EvalPrintHook(discardPrints{}))
	return t.found
}

// ruleTracer watches rules exit (succeed) and records the first whose
// result matches.
type ruleTracer struct {
	rules map[*ast.Rule]bool
	match func(*ast.Term) bool
	found *ast.Location
}

func (t *ruleTracer) Enabled() bool               { return t.found == nil }
func (t *ruleTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

func (t *ruleTracer) TraceEvent(e topdown.Event) {
	if t.found != nil || e.Op != topdown.ExitOp {
		return
	}
	r, ok := e.Node.(*ast.Rule)
	if !ok || !t.rules[r] {
		return
	}
	if r.Head.RuleKind() == ast.MultiValue {
		if r.Head.Key != nil && t.match(e.Plug(r.Head.Key)) {
			t.found = r.Location
		}
		return
	}
	if r.Head.Value == nil {
		return
	}
	v := e.Plug(r.Head.Value)
	if t.match(v) || t.matchElement(v) {
		t.found = r.Location
	}
}

func (t *ruleTracer) matchElement(v *ast.Term) bool {
	switch c := v.Value.(type) {
	case ast.Set:
		return c.Until(t.match)
	case *ast.Array:
		return c.Until(t.match)
	}
	return false
}

// matchTerm matches terms equal to want.
func matchTerm(want *ast.Term) func(*ast.Term) bool {
	return func(t *ast.Term) bool { return t.Equal(want) }
}

// discardPrints drops print() output.
type discardPrints struct{}

func (discardPrints) Print(print.Context, string) error { return nil }
