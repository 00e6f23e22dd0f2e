package config

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The attribute decoders below evaluate an attribute in the
// configuration's context and convert it to a Go value. Each reports
// false when there is no value to use: the attribute failed (and was
// diagnosed), is null (which means unset, as in Terraform), or depends on
// something that failed elsewhere (its value is unknown).

func (l *loader) value(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	v, diags := a.Expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || v.IsNull() {
		return cty.NilVal, false
	}
	conv, err := convert.Convert(v, ty)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Incorrect attribute value type",
			Detail:      fmt.Sprintf("Inappropriate value for attribute %q: %s.", a.Name, convertError(err)),
			Subject:     a.Expr.Range().Ptr(),
			Expression:  a.Expr,
			EvalContext: l.ctx,
		})
		return cty.NilVal, false
	}
	if !conv.IsWhollyKnown() {
		return cty.NilVal, false
	}
	// What is decoded to Go values is not shown or recorded: only action
	// attributes keep a sensitive variable's mark (see decodeAction).
	conv, _ = conv.UnmarkDeep()
	return conv, true
}

func (l *loader) stringValue(a *hcl.Attribute) (string, bool) {
	v, ok := l.value(a, cty.String)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (l *loader) boolValue(a *hcl.Attribute) (bool, bool) {
	v, ok := l.value(a, cty.Bool)
	if !ok {
		return false, false
	}
	return v.True(), true
}

func (l *loader) numberValue(a *hcl.Attribute) (*big.Float, bool) {
	v, ok := l.value(a, cty.Number)
	if !ok {
		return nil, false
	}
	return v.AsBigFloat(), true
}

// stringList decodes a list of strings; null elements are errors.
func (l *loader) stringList(a *hcl.Attribute) ([]string, bool) {
	v, ok := l.value(a, cty.List(cty.String))
	if !ok {
		return nil, false
	}
	out := make([]string, 0, v.LengthInt())
	for i, e := range v.AsValueSlice() {
		if e.IsNull() {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value",
				Detail:   fmt.Sprintf("Element %d of %q is null; every element must be a string.", i, a.Name),
				Subject:  elemRange(a.Expr, i).Ptr(),
			})
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// stringMap decodes a map of strings; null values are errors.
func (l *loader) stringMap(a *hcl.Attribute) (map[string]string, bool) {
	v, ok := l.value(a, cty.Map(cty.String))
	if !ok {
		return nil, false
	}
	out := make(map[string]string, v.LengthInt())
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value",
				Detail:   fmt.Sprintf("The value of %q in %q is null; every value must be a string.", k, a.Name),
				Subject:  a.Expr.Range().Ptr(),
			})
			return nil, false
		}
		out[k] = e.AsString()
	}
	return out, true
}

// constString decodes a string that must be a constant (a variable's
// description).
func (l *loader) constString(a *hcl.Attribute) (string, bool) {
	v, diags := a.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || v.IsNull() {
		return "", false
	}
	conv, err := convert.Convert(v, cty.String)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", a.Name, convertError(err)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return "", false
	}
	if !conv.IsKnown() {
		return "", false
	}
	return conv.AsString(), true
}

// elemRange is the range of element i of a list attribute: the element's
// own when the list is written out, else the whole expression's (a
// reference to a local, say).
func elemRange(expr hcl.Expression, i int) hcl.Range {
	if tc, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(tc.Exprs) {
		return tc.Exprs[i].Range()
	}
	return expr.Range()
}

// attrRange is the value range of a block's attribute, or the block's
// range when the attribute is not written.
func attrRange(b *hcl.Block, name string) hcl.Range {
	if sb, ok := b.Body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	return b.DefRange
}

// oneOf checks an enumerated string at rng.
func (l *loader) oneOf(what, attr, value string, allowed []string, rng hcl.Range) bool {
	for _, a := range allowed {
		if value == a {
			return true
		}
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + what,
		Detail:   fmt.Sprintf("%q is not a valid %s; %s must be one of %s.%s", value, what, attr, quotedList(allowed, "or"), didYouMean(value, allowed)),
		Subject:  rng.Ptr(),
	})
	return false
}
