package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// refChecker checks the references and function calls of expressions
// against what the configuration declares, before anything is evaluated,
// so a typo is reported once, where it is, with a suggestion.
//
// A reference to something undeclared is remembered as a placeholder: the
// evaluation context then has it as an unknown value, so the expressions
// using it evaluate to unknown instead of repeating the error, and the
// decoders skip unknown values.
type refChecker struct {
	vars, locals map[string]bool
	// blocks are the names declared per referenceable block type (scope,
	// collector, action), for messages about misplaced references.
	blocks map[string]map[string]bool
	funcs  map[string]function.Function

	missingVars, missingLocals map[string]bool
	badRoots                   map[string]bool

	// usesRaw is set when a condition may read finding.raw: it names
	// it, or uses finding other than through a known attribute.
	usesRaw bool
}

func newRefChecker(funcs map[string]function.Function) *refChecker {
	return &refChecker{
		vars:          map[string]bool{},
		locals:        map[string]bool{},
		blocks:        map[string]map[string]bool{"scope": {}, "collector": {}, "action": {}},
		funcs:         funcs,
		missingVars:   map[string]bool{},
		missingLocals: map[string]bool{},
		badRoots:      map[string]bool{},
	}
}

// Roots of references in value expressions and, additionally, in
// conditions.
var (
	valueRoots     = []string{"var", "local"}
	conditionRoots = []string{"finding", "resource", "var", "local"}
)

// check checks an expression's references and function calls. In a
// condition, finding and resource are available too and their attributes
// are checked against the normalized finding's shape.
func (c *refChecker) check(expr hcl.Expression, condition bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		diags = append(diags, c.checkTraversal(t, condition)...)
	}
	if sx, ok := expr.(hclsyntax.Expression); ok {
		diags = append(diags, c.checkCalls(sx)...)
	}
	return diags
}

func (c *refChecker) checkTraversal(t hcl.Traversal, condition bool) hcl.Diagnostics {
	root := t.RootName()
	switch root {
	case "var", "local":
		name, rng, ok := stepName(t, 1)
		if !ok {
			example := "var.isolation_sg"
			if root == "local" {
				example = "local.prod_accounts"
			}
			return diagnostics(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference",
				Detail:   fmt.Sprintf("The %q object cannot be used directly; name one of its values, like %s.", root, example),
				Subject:  t.SourceRange().Ptr(),
			})
		}
		declared, missing, what := c.vars, c.missingVars, "An input variable"
		summary := "Reference to undeclared input variable"
		if root == "local" {
			declared, missing, what = c.locals, c.missingLocals, "A local value"
			summary = "Reference to undeclared local value"
		}
		if declared[name] {
			return nil
		}
		missing[name] = true
		return diagnostics(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("%s with the name %q has not been declared.%s", what, name, didYouMean(name, sortedKeys(declared))),
			Subject:  hcl.RangeBetween(t[0].SourceRange(), rng).Ptr(),
		})

	case "finding", "resource":
		if !condition {
			c.badRoots[root] = true
			return diagnostics(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference",
				Detail:   fmt.Sprintf("%s is only available in condition expressions; everything else is evaluated once, when the configuration is loaded.", root),
				Subject:  t[0].SourceRange().Ptr(),
			})
		}
		node := findingShape
		if root == "resource" {
			node = findingShape.fields["resource"]
		} else if name, _, ok := stepName(t, 1); !ok || name == "raw" {
			c.usesRaw = true
		}
		return node.check(root, t[1:])

	case "scope", "collector", "action":
		c.badRoots[root] = true
		detail := fmt.Sprintf("A %s can only be referred to from a rule's %s list.", root, listAttrFor[root])
		return diagnostics(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference",
			Detail:   detail,
			Subject:  t.SourceRange().Ptr(),
		})
	}

	c.badRoots[root] = true
	roots := valueRoots
	where := "Only var.NAME and local.NAME can be referred to here."
	if condition {
		roots = conditionRoots
		where = "A condition can refer to finding, resource, var.NAME and local.NAME."
	}
	return diagnostics(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid reference",
		Detail:   fmt.Sprintf("There is nothing named %q. %s%s", root, where, didYouMean(root, roots)),
		Subject:  t[0].SourceRange().Ptr(),
	})
}

// listAttrFor is the rule attribute listing references of each kind.
var listAttrFor = map[string]string{"scope": "scopes", "collector": "collect", "action": "actions"}

// checkCalls reports calls of functions that do not exist, which HCL
// would otherwise only report when a condition is first evaluated.
func (c *refChecker) checkCalls(expr hclsyntax.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		call, ok := n.(*hclsyntax.FunctionCallExpr)
		if !ok {
			return nil
		}
		if _, ok := c.funcs[call.Name]; ok {
			return nil
		}
		detail := fmt.Sprintf("There is no function named %q.", call.Name)
		if why, ok := unavailableFunctions[call.Name]; ok {
			detail += fmt.Sprintf(" cordon leaves %s out because %s: conditions must give the same result for the same finding.", call.Name, why)
		} else {
			detail += didYouMean(call.Name, sortedKeys(c.funcs))
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Call to unknown function",
			Detail:   detail,
			Subject:  call.NameRange.Ptr(),
			Context:  call.Range().Ptr(),
		})
		return nil
	})
	return diags
}

// placeholders returns the undeclared names referenced so far, as unknown
// values for the evaluation context.
func (c *refChecker) placeholders(root string) map[string]cty.Value {
	missing := c.missingVars
	if root == "local" {
		missing = c.missingLocals
	}
	out := make(map[string]cty.Value, len(missing))
	for n := range missing {
		out[n] = cty.DynamicVal
	}
	return out
}

// stepName returns the name of traversal step i when it is an attribute
// (x.name) or a string index (x["name"]).
func stepName(t hcl.Traversal, i int) (string, hcl.Range, bool) {
	if i >= len(t) {
		return "", hcl.Range{}, false
	}
	switch s := t[i].(type) {
	case hcl.TraverseAttr:
		return s.Name, s.SrcRange, true
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
			return s.Key.AsString(), s.SrcRange, true
		}
	}
	return "", hcl.Range{}, false
}

// shape describes the attributes a condition can reach in the finding, so
// finding.severty is a load error instead of a failure on every finding.
type shape struct {
	// kind names the value for messages: "object", "list", "string" ….
	kind string
	// fields are an object's attributes.
	fields map[string]*shape
	// elem is a list's element.
	elem *shape
	// open allows any attribute: maps, details, the raw finding.
	open bool
}

// check walks steps (the traversal after path) through the shape.
func (s *shape) check(path string, steps hcl.Traversal) hcl.Diagnostics {
	for i, step := range steps {
		if s.open {
			return nil
		}
		switch st := step.(type) {
		case hcl.TraverseAttr, hcl.TraverseIndex:
			if idx, ok := st.(hcl.TraverseIndex); ok && idx.Key.Type() == cty.Number {
				if s.elem == nil {
					return s.notIndexable(path, idx.SrcRange)
				}
				s, path = s.elem, path+"[…]"
				continue
			}
			name, rng, ok := stepName(steps, i)
			if !ok {
				return nil
			}
			if s.fields == nil {
				return s.notIndexable(path, rng)
			}
			next, ok := s.fields[name]
			if !ok {
				return diagnostics(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unsupported attribute",
					Detail:   fmt.Sprintf("%s has no attribute named %q.%s", path, name, didYouMean(name, sortedKeys(s.fields))),
					Subject:  rng.Ptr(),
				})
			}
			s, path = next, path+"."+name
		default:
			return nil
		}
	}
	return nil
}

func (s *shape) notIndexable(path string, rng hcl.Range) hcl.Diagnostics {
	return diagnostics(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unsupported attribute",
		Detail:   fmt.Sprintf("%s is a %s; it has no attributes or elements.", path, s.kind),
		Subject:  rng.Ptr(),
	})
}

// didYouMean returns ` Did you mean "x"?` for the suggestion closest to
// given (edit distance under 3, as HCL's own suggestions), or "".
func didYouMean(given string, suggestions []string) string {
	if s := suggest(given, suggestions); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func suggest(given string, suggestions []string) string {
	best, bestDist := "", 3
	for _, s := range suggestions {
		if d := levenshtein.Distance(given, s, nil); d < bestDist {
			best, bestDist = s, d
		}
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func diagnostics(d ...*hcl.Diagnostic) hcl.Diagnostics { return d }

// quotedList renders names as "a", "b" or "c" (with conj "or").
func quotedList(names []string, conj string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}
