package config

import (
	"math"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// cty numbers are arbitrary-precision, and rendering one as a string
// writes out every digit: converting 1e8888888 to a string takes half a
// minute. Numbers beyond float64's range have no use in a configuration or
// a finding, so they are refused in configurations and variable values,
// and clamped in findings (see numberValue), before anything converts
// them.

// outOfRange reports whether f is beyond what a float64 can hold (about
// 1.8e308), or nonzero and below its smallest subnormal.
func outOfRange(f *big.Float) bool {
	if f.IsInf() || f.Sign() == 0 {
		return false
	}
	exp := f.MantExp(nil)
	return exp > 1024 || exp < -1074
}

func numberRangeError(rng hcl.Range, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Number out of range",
		Detail:   detail + " Numbers must be within the range of a 64-bit float (about ±1.8e308).",
		Subject:  rng.Ptr(),
	}
}

// checkNumberLiterals reports number literals out of range anywhere in a
// file.
func checkNumberLiterals(body hcl.Body) hcl.Diagnostics {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(sb, func(n hclsyntax.Node) hcl.Diagnostics {
		lit, ok := n.(*hclsyntax.LiteralValueExpr)
		if ok && lit.Val.Type() == cty.Number && lit.Val.IsKnown() && !lit.Val.IsNull() && outOfRange(lit.Val.AsBigFloat()) {
			diags = append(diags, numberRangeError(lit.SrcRange, "This number is too large or too small."))
		}
		return nil
	})
	return diags
}

// hasNumberOutOfRange reports whether v contains a number out of range.
func hasNumberOutOfRange(v cty.Value) bool {
	found := false
	cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if found || !v.IsKnown() || v.IsNull() {
			return false, nil
		}
		if v.Type() == cty.Number && outOfRange(v.AsBigFloat()) {
			found = true
		}
		return !found, nil
	})
	return found
}

// clampNumber replaces a number out of range with what float64 parsing
// would give: ±Inf, or zero.
func clampNumber(f *big.Float) cty.Value {
	if !outOfRange(f) {
		return cty.NumberVal(f)
	}
	if f.MantExp(nil) < 0 {
		return cty.Zero
	}
	return cty.NumberFloatVal(math.Inf(f.Sign()))
}
