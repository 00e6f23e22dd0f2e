package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EvalCondition evaluates a scope's or rule's condition for one finding.
// The expression sees var, local, the functions, finding and resource
// (FindingValue and ResourceValue). A result that is not a boolean, is
// null or unknown, or an error while evaluating, is a diagnostic at the
// expression and means "no match". It never panics, whatever the finding.
func (c *Config) EvalCondition(expr hcl.Expression, finding, resource cty.Value) (ok bool, diags hcl.Diagnostics) {
	if expr == nil {
		return true, nil
	}
	var parent *hcl.EvalContext
	if c != nil {
		parent = c.evalCtx
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"finding": finding, "resource": resource},
	}
	if parent != nil {
		ctx = parent.NewChild()
		ctx.Variables = map[string]cty.Value{"finding": finding, "resource": resource}
	}
	defer func() {
		if r := recover(); r != nil {
			ok = false
			diags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Condition evaluation failed",
				Detail:   fmt.Sprintf("Internal error while evaluating the condition: %v.", r),
				Subject:  expr.Range().Ptr(),
			}}
		}
	}()
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return false, diags
	}
	if !v.IsKnown() && !v.IsNull() {
		return false, hcl.Diagnostics{{
			Severity:    hcl.DiagError,
			Summary:     "Invalid condition result",
			Detail:      "The condition's value is not known; it depends on a value that failed to evaluate.",
			Subject:     expr.Range().Ptr(),
			Expression:  expr,
			EvalContext: ctx,
		}}
	}
	return conditionResult(expr, ctx, v)
}

// conditionResult converts a condition's value to a bool. An unknown
// value is accepted (as false) so the load-time probe can check the type
// of conditions it cannot decide.
func conditionResult(expr hcl.Expression, ctx *hcl.EvalContext, v cty.Value) (bool, hcl.Diagnostics) {
	// A condition on a sensitive variable decides as any other; its value
	// is never quoted.
	sensitive := v.ContainsMarked()
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return false, hcl.Diagnostics{{
			Severity:    hcl.DiagError,
			Summary:     "Invalid condition result",
			Detail:      "The condition's value is null; it must be true or false.",
			Subject:     expr.Range().Ptr(),
			Expression:  expr,
			EvalContext: ctx,
		}}
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil {
		detail := fmt.Sprintf("The condition must be true or false, not a %s.", v.Type().FriendlyName())
		if v.Type() == cty.String && v.IsKnown() && !sensitive {
			detail = fmt.Sprintf("The condition must be true or false, not the string %q.", v.AsString())
		}
		return false, hcl.Diagnostics{{
			Severity:    hcl.DiagError,
			Summary:     "Invalid condition result",
			Detail:      detail,
			Subject:     expr.Range().Ptr(),
			Expression:  expr,
			EvalContext: ctx,
		}}
	}
	if !b.IsKnown() {
		return false, nil
	}
	if b.IsNull() {
		return false, nil
	}
	return b.True(), nil
}
