package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

var ruleSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"}, {Name: "scopes", Required: true}, {Name: "sources"},
		{Name: "finding_types"}, {Name: "min_severity"}, {Name: "condition"},
		{Name: "collect"}, {Name: "verdict"}, {Name: "response"}, {Name: "actions"},
		{Name: "approval"}, {Name: "max_actions_per_hour"}, {Name: "allow_sample_findings"},
		{Name: "enabled"},
	},
}

var (
	findingSources = []string{schema.SourceGuardDuty, schema.SourceSecurityHub, schema.SourceOCSF}
	approvals      = []string{ApprovalAuto, ApprovalManual}
	regoPkgRx      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
	maxPerHour     = 1 << 30
)

func (l *loader) decodeRule(b *hcl.Block) {
	r := &Rule{
		Name:          b.Labels[0],
		Verdict:       DefaultVerdictPackage,
		Response:      DefaultResponsePackage,
		VerdictRange:  b.DefRange,
		ResponseRange: b.DefRange,
		Approval:      ApprovalAuto,
		Enabled:       true,
		DeclRange:     b.DefRange,
	}
	l.cfg.Rules = append(l.cfg.Rules, r)
	content, diags := b.Body.Content(ruleSchema)
	l.diags = append(l.diags, diags...)

	if a := attr(content, "description"); a != nil {
		r.Description, _ = l.stringValue(a)
	}
	if a := attr(content, "scopes"); a != nil {
		r.Scopes = l.references(a, "scope")
		if len(r.Scopes) == 0 && !hasErrorsAt(l.diags, a.Expr.Range()) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No scopes",
				Detail:   "A rule must list at least one scope, like scopes = [scope.prod_web]: scopes say where automation may act.",
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
	if a := attr(content, "collect"); a != nil {
		r.Collect = l.references(a, "collector")
	}
	if a := attr(content, "actions"); a != nil {
		r.Actions = l.references(a, "action")
	}
	if a := attr(content, "sources"); a != nil {
		if list, ok := l.stringList(a); ok {
			for i, s := range list {
				l.oneOf("source", "sources", s, findingSources, elemRange(a.Expr, i))
			}
			r.Sources = list
		}
	}
	if a := attr(content, "finding_types"); a != nil {
		if list, ok := l.stringList(a); ok {
			for i, t := range list {
				if t == "" {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid finding type",
						Detail:   "A finding type is a type or a glob, like \"Backdoor:EC2/*\"; it cannot be empty.",
						Subject:  elemRange(a.Expr, i).Ptr(),
					})
				}
			}
			r.FindingTypes = list
		}
	}
	if a := attr(content, "min_severity"); a != nil {
		if s, ok := l.stringValue(a); ok && l.oneOf("severity", "min_severity", s, schema.Severities, a.Expr.Range()) {
			r.MinSeverity = s
		}
	}
	if a := attr(content, "condition"); a != nil {
		r.Condition = a.Expr
		l.probeCondition(a.Expr)
	}
	if a := attr(content, "verdict"); a != nil {
		if s, ok := l.regoPackage(a); ok {
			r.Verdict, r.VerdictRange = s, a.Expr.Range()
		}
	}
	if a := attr(content, "response"); a != nil {
		if s, ok := l.regoPackage(a); ok {
			r.Response, r.ResponseRange = s, a.Expr.Range()
		}
	}
	if a := attr(content, "approval"); a != nil {
		if s, ok := l.stringValue(a); ok && l.oneOf("approval mode", "approval", s, approvals, a.Expr.Range()) {
			r.Approval = s
		}
	}
	if a := attr(content, "max_actions_per_hour"); a != nil {
		if n, ok := l.numberValue(a); ok {
			i, acc := n.Int64()
			if !n.IsInt() || acc != 0 || i < 0 || i > int64(maxPerHour) {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid max_actions_per_hour",
					Detail:   fmt.Sprintf("%s is not a whole number of actions, 0 or more (0 means unlimited).", n.Text('g', -1)),
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				r.MaxActionsPerHour = int(i)
			}
		}
	}
	// allow_sample_findings (default false): GuardDuty's "Generate sample
	// findings" writes findings of every type on made-up resources
	// (i-99999999, GeneratedFindingUserName); the contract lets none of
	// them plan an action that changes anything unless its rule opts in
	// here, as a rule written to exercise cordon on samples does.
	// Notifications are planned either way.
	if a := attr(content, "allow_sample_findings"); a != nil {
		if b, ok := l.boolValue(a); ok {
			r.AllowSampleFindings = b
		}
	}
	if a := attr(content, "enabled"); a != nil {
		if e, ok := l.boolValue(a); ok {
			r.Enabled = e
		}
	}
}

// regoPackage decodes a Rego package path (verdict, response).
func (l *loader) regoPackage(a *hcl.Attribute) (string, bool) {
	s, ok := l.stringValue(a)
	if !ok {
		return "", false
	}
	if regoPkgRx.MatchString(s) && !strings.HasPrefix(s, "data.") {
		return s, true
	}
	detail := fmt.Sprintf("%q is not a Rego package path; %s names a package like \"cordon.%s\".", s, a.Name, a.Name)
	if rest, ok := strings.CutPrefix(s, "data."); ok && regoPkgRx.MatchString(rest) {
		detail = fmt.Sprintf("%s names the package as its package declaration does, without \"data.\": %q.", a.Name, rest)
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid policy package",
		Detail:   detail,
		Subject:  a.Expr.Range().Ptr(),
	})
	return "", false
}

// references decodes a rule's list of references to blocks of one kind
// (scope.X, collector.X, action.X). The references are HCL traversals,
// not values: the list must be written out, each element naming a
// declared block. A name listed twice is kept once.
func (l *loader) references(a *hcl.Attribute, kind string) []string {
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference list",
			Detail:   fmt.Sprintf("%s must be a list of references written out, like [%s.NAME].", a.Name, kind),
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil
	}
	declared := l.refs.blocks[kind]
	var out []string
	seen := map[string]bool{}
	for _, e := range exprs {
		t, diags := hcl.AbsTraversalForExpr(e)
		name, _, ok := stepName(t, 1)
		if diags.HasErrors() || len(t) != 2 || t.RootName() != kind || !ok {
			// "an action block", "a scope block".
			block := "a " + kind
			if strings.ContainsRune("aeiou", rune(kind[0])) {
				block = "an " + kind
			}
			detail := fmt.Sprintf("Expected %s.NAME, a reference to %s block, in %s.", kind, block, a.Name)
			if s, ok := stringLiteral(e); ok {
				detail = fmt.Sprintf("Expected %s.NAME, a reference to %s block, in %s; %q is a string. Write %s.%s, without quotes.", kind, block, a.Name, s, kind, s)
			} else if !diags.HasErrors() && len(t) > 0 {
				detail = fmt.Sprintf("Expected %s.NAME, a reference to %s block, in %s; got %s.", kind, block, a.Name, traversalString(t))
			}
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference",
				Detail:   detail,
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		if !declared[name] {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Reference to undeclared %s", kind),
				Detail:   fmt.Sprintf("A %s named %q has not been declared.%s", kind, name, didYouMean(name, sortedKeys(declared))),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		if seen[name] {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Duplicate reference",
				Detail:   fmt.Sprintf("%s.%s is listed twice in %s; once is enough.", kind, name, a.Name),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

// stringLiteral returns the value of a quoted string without
// interpolations.
func stringLiteral(e hcl.Expression) (string, bool) {
	t, ok := e.(*hclsyntax.TemplateExpr)
	if !ok || len(t.Parts) != 1 {
		return "", false
	}
	lit, ok := t.Parts[0].(*hclsyntax.LiteralValueExpr)
	if !ok || lit.Val.Type() != cty.String || lit.Val.IsNull() {
		return "", false
	}
	return lit.Val.AsString(), true
}

// traversalString renders a traversal as written (scope.web,
// var.x["y"]).
func traversalString(t hcl.Traversal) string {
	var b strings.Builder
	for _, step := range t {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				b.WriteString("[…]")
			}
		default:
			b.WriteString("[…]")
		}
	}
	return b.String()
}

// probeCondition evaluates a condition with a finding whose every value is
// unknown: what fails then fails for every finding, so it is a load
// error. Conditions whose references are wrong were reported already.
func (l *loader) probeCondition(expr hcl.Expression) {
	if l.refs.check(expr, true).HasErrors() {
		return
	}
	ctx := l.ctx.NewChild()
	ctx.Variables = map[string]cty.Value{"finding": probeFinding, "resource": probeResource}
	v, diags := expr.Value(ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	_, diags = conditionResult(expr, ctx, v)
	l.diags = append(l.diags, diags...)
}

func attr(content *hcl.BodyContent, name string) *hcl.Attribute {
	if content == nil {
		return nil
	}
	return content.Attributes[name]
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// hasErrorsAt reports whether an error was reported within rng.
func hasErrorsAt(diags hcl.Diagnostics, rng hcl.Range) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Subject != nil && d.Subject.Filename == rng.Filename &&
			d.Subject.Start.Byte >= rng.Start.Byte && d.Subject.End.Byte <= rng.End.Byte {
			return true
		}
	}
	return false
}
