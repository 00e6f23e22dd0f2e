package testrun

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/engine/config"
)

// A scenario test file (*.test.hcl) holds run blocks and, optionally, one
// variables block whose values every run starts from:
//
//	variables {
//	  isolation_sg = "sg-0test"
//	}
//
//	run "cryptominer_is_isolated" {
//	  finding   = "testdata/findings/crypto.json"   # relative to the configuration directory
//	  facts     = "testdata/facts/crypto.json"      # optional; no facts file means empty facts
//	  variables = { isolation_sg = "sg-test" }      # optional, over the variables block
//	  expect_errors = false                         # optional: true when the plan must fail
//
//	  expect {
//	    verdict = "malicious"                       # every verdict of the plan
//	    rules   = ["ec2_compromise"]                # the rules that matched, in plan order
//	    actions = ["action.isolate[\"i-1\"]"]       # the planned addresses, exact and in order
//	  }
//	  assert {
//	    condition     = length(plan.incidents[0].actions) == 1
//	    error_message = "expected one action"
//	  }
//	}
//
// finding and facts may also be objects, written inline; they are then
// the JSON document itself. Everything but assert blocks is evaluated when
// the file loads, with var, local and the configuration's functions; a
// mistake there makes the file invalid, with a diagnostic at the mistake.
// Conditions and error messages are evaluated after the plan and see plan
// (the plan JSON of docs/plan-and-apply.md), finding (the normalized finding) and the
// run's var values.

// ScenarioSuffix marks scenario test files.
const ScenarioSuffix = ".test.hcl"

// testsDir is the directory of scenario tests besides the configuration
// directory itself.
const testsDir = "tests"

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "run", LabelNames: []string{"name"}},
		{Type: "variables"},
	},
}

var runSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "finding", Required: true},
		{Name: "facts"},
		{Name: "variables"},
		{Name: "expect_errors"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "expect"},
		{Type: "assert"},
	},
}

var expectSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "verdict"},
		{Name: "rules"},
		{Name: "actions"},
	},
}

var assertSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

// verdicts are the values expect.verdict may take (docs/policies.md).
var verdicts = []string{"malicious", "suspicious", "benign", "inconclusive"}

// testFile is a loaded scenario test file.
type testFile struct {
	name string // display name
	rel  string // slash path inside the configuration directory
	file *hcl.File
	runs []*scenario
}

// scenario is one run block, its static parts evaluated.
type scenario struct {
	name      string
	file      *testFile
	declRange hcl.Range // the block header, where failures point

	finding input
	facts   *input // nil: empty facts for every collector
	// variables are the block's values over the file's variables block.
	variables map[string]cty.Value
	// varsKey identifies variables: runs with equal keys share an engine.
	varsKey string

	expectErrors bool
	expect       expectation
	asserts      []*assertion
	// uses says which of plan and finding the asserts refer to: each
	// costs a conversion per run.
	usesPlan, usesFinding bool
}

// input is a finding or facts document: a file, or JSON written inline.
type input struct {
	path   string // relative to the configuration directory; "" when inline
	inline []byte
	rng    hcl.Range
}

// expectation is an expect block; nil fields are not checked.
type expectation struct {
	verdict *string
	rules   []string
	actions []string
	set     bool // the block is present
}

type assertion struct {
	condition    hcl.Expression
	errorMessage hcl.Expression
	declRange    hcl.Range
}

// findScenarioFiles lists *.test.hcl in the configuration directory and
// in tests/, as slash paths inside fsys, sorted.
func findScenarioFiles(fsys fs.FS) ([]string, hcl.Diagnostics) {
	var out []string
	var diags hcl.Diagnostics
	for _, dir := range []string{".", testsDir} {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			if dir == testsDir && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot list scenario tests",
				Detail:   fmt.Sprintf("Reading %s: %v.", dir, err),
			})
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ScenarioSuffix) || strings.HasPrefix(n, ".") {
				continue
			}
			out = append(out, path.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, diags
}

// loader loads scenario files against the base configuration.
type loader struct {
	cfg      *config.Config
	ctx      *hcl.EvalContext // var, local, functions
	rules    map[string]bool
	ruleList []string
}

func newLoader(cfg *config.Config) *loader {
	l := &loader{cfg: cfg, ctx: cfg.EvalContext(), rules: map[string]bool{}}
	for _, r := range cfg.Rules {
		l.rules[r.Name] = true
		l.ruleList = append(l.ruleList, r.Name)
	}
	return l
}

// load parses and decodes one scenario file. The file is returned even
// with errors (for its source); with errors none of its runs may run.
func (l *loader) load(name, rel string, src []byte) (*testFile, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	tf := &testFile{name: name, rel: rel, file: f}
	if diags.HasErrors() {
		return tf, diags
	}
	content, d := f.Body.Content(fileSchema)
	diags = append(diags, d...)

	var fileVars map[string]cty.Value
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type != "variables" {
			continue
		}
		if prev, dup := seen["variables"]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate variables block",
				Detail:   fmt.Sprintf("A test file has at most one variables block; the first is at %s.", prev),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		seen["variables"] = b.DefRange
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		fileVars = map[string]cty.Value{}
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			a := attrs[n]
			v, d := l.variable(n, a.NameRange, a.Expr)
			diags = append(diags, d...)
			if !d.HasErrors() {
				fileVars[n] = v
			}
		}
	}

	runNames := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type != "run" {
			continue
		}
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid run name",
				Detail:   "A run name must start with a letter or underscore and may contain only letters, digits, underscores and dashes.",
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev, dup := runNames[name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate run block",
				Detail:   fmt.Sprintf("A run named %q was already declared at %s. Run names must be unique within a file.", name, prev),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		runNames[name] = b.DefRange
		s, d := l.run(tf, b, fileVars)
		diags = append(diags, d...)
		if s != nil {
			tf.runs = append(tf.runs, s)
		}
	}
	if len(tf.runs) == 0 && !diags.HasErrors() {
		rng := hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "No run blocks",
			Detail:   "This scenario test file has no run blocks, so it tests nothing.",
			Subject:  &rng,
		})
	}
	return tf, diags
}

func (l *loader) run(tf *testFile, b *hcl.Block, fileVars map[string]cty.Value) (*scenario, hcl.Diagnostics) {
	content, diags := b.Body.Content(runSchema)
	s := &scenario{name: b.Labels[0], file: tf, declRange: hcl.RangeBetween(b.TypeRange, b.LabelRanges[0])}

	if a := content.Attributes["finding"]; a != nil {
		in, d := l.input("finding", a)
		diags = append(diags, d...)
		if in != nil {
			s.finding = *in
		}
	}
	if a := content.Attributes["facts"]; a != nil {
		in, d := l.input("facts", a)
		diags = append(diags, d...)
		s.facts = in
	}

	s.variables = make(map[string]cty.Value, len(fileVars))
	for n, v := range fileVars {
		s.variables[n] = v
	}
	if a := content.Attributes["variables"]; a != nil {
		d := l.runVariables(a, s.variables)
		diags = append(diags, d...)
	}
	s.varsKey = variablesKey(s.variables)

	if a := content.Attributes["expect_errors"]; a != nil {
		v, d := l.eval(a.Expr, cty.Bool, "expect_errors must be true or false")
		diags = append(diags, d...)
		if !d.HasErrors() {
			s.expectErrors = v.True()
		}
	}

	for _, blk := range content.Blocks {
		switch blk.Type {
		case "expect":
			if s.expect.set {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate expect block",
					Detail:   "A run has at most one expect block.",
					Subject:  blk.DefRange.Ptr(),
				})
				continue
			}
			diags = append(diags, l.expect(&s.expect, blk)...)
		case "assert":
			a, d := l.assert(blk)
			diags = append(diags, d...)
			if a != nil {
				s.asserts = append(s.asserts, a)
				for _, expr := range []hcl.Expression{a.condition, a.errorMessage} {
					for _, t := range expr.Variables() {
						s.usesPlan = s.usesPlan || t.RootName() == "plan"
						s.usesFinding = s.usesFinding || t.RootName() == "finding"
					}
				}
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return s, diags
}

// runVariables decodes a run's variables attribute into vars. An object
// written out gives each value its own range; any other expression must
// evaluate to an object or map.
func (l *loader) runVariables(a *hcl.Attribute, vars map[string]cty.Value) hcl.Diagnostics {
	invalid := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid variables",
		Detail:   "variables must be an object of variable names and values: variables = { isolation_sg = \"sg-test\" }.",
		Subject:  a.Expr.Range().Ptr(),
	}
	var diags hcl.Diagnostics
	pairs, d := hcl.ExprMap(a.Expr)
	if d.HasErrors() {
		// Not written as an object: a reference to a local, say.
		if diags = checkRefs(a.Expr, staticRoots, "variables"); diags.HasErrors() {
			return diags
		}
		v, d := a.Expr.Value(l.ctx)
		if d.HasErrors() {
			return d
		}
		if v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
			return hcl.Diagnostics{invalid}
		}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			name := k.AsString()
			cv, d := l.convertVariable(name, a.Expr.Range(), a.Expr.Range(), ev)
			diags = append(diags, d...)
			if !d.HasErrors() {
				vars[name] = cv
			}
		}
		return diags
	}
	for _, p := range pairs {
		name := hcl.ExprAsKeyword(p.Key)
		if name == "" {
			k, d := p.Key.Value(l.ctx)
			if d.HasErrors() || k.IsNull() || !k.IsKnown() || k.Type() != cty.String {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid variable name",
					Detail:   "A key of variables must be a variable name.",
					Subject:  p.Key.Range().Ptr(),
				})
				continue
			}
			name = k.AsString()
		}
		v, d := l.variable(name, p.Key.Range(), p.Value)
		diags = append(diags, d...)
		if !d.HasErrors() {
			vars[name] = v
		}
	}
	return diags
}

// input decodes finding or facts: a path (a string) or an inline document
// (an object).
func (l *loader) input(what string, a *hcl.Attribute) (*input, hcl.Diagnostics) {
	diags := checkRefs(a.Expr, staticRoots, what)
	if diags.HasErrors() {
		return nil, diags
	}
	v, diags := a.Expr.Value(l.ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	rng := a.Expr.Range()
	switch {
	case v.IsNull() || !v.IsKnown():
	case v.Type() == cty.String:
		p := v.AsString()
		if p == "" {
			break
		}
		return &input{path: p, rng: rng}, nil
	case v.Type().IsObjectType() || v.Type().IsMapType() || (what == "finding" && (v.Type().IsTupleType() || v.Type().IsListType())):
		data, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + what, Detail: err.Error(), Subject: &rng}}
		}
		return &input{inline: data, rng: rng}, nil
	}
	return nil, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + what,
		Detail:   fmt.Sprintf("%s must be the path of a JSON file, relative to the configuration directory, or the document itself as an object.", what),
		Subject:  &rng,
	}}
}

// variable evaluates a value set for a variable and checks it: the
// variable must be declared, and the value convert to its type.
func (l *loader) variable(name string, nameRange hcl.Range, expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	if _, declared := l.cfg.Variables[name]; !declared {
		return cty.NilVal, l.undeclared(name, nameRange)
	}
	diags := checkRefs(expr, staticRoots, "a variable value")
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	v, diags := expr.Value(l.ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return l.convertVariable(name, nameRange, expr.Range(), v)
}

func (l *loader) convertVariable(name string, nameRange, valueRange hcl.Range, v cty.Value) (cty.Value, hcl.Diagnostics) {
	decl := l.cfg.Variables[name]
	if decl == nil {
		return cty.NilVal, l.undeclared(name, nameRange)
	}
	cv, err := convert.Convert(v, decl.Type)
	if err != nil {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("Variable %q is of type %s: %v.", name, decl.Type.FriendlyName(), err),
			Subject:  valueRange.Ptr(),
		}}
	}
	return cv, nil
}

func (l *loader) undeclared(name string, rng hcl.Range) hcl.Diagnostics {
	names := make([]string, 0, len(l.cfg.Variables))
	for n := range l.cfg.Variables {
		names = append(names, n)
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Undeclared variable",
		Detail:   fmt.Sprintf("The configuration declares no variable %q.%s", name, didYouMean(name, names)),
		Subject:  rng.Ptr(),
	}}
}

func (l *loader) expect(e *expectation, b *hcl.Block) hcl.Diagnostics {
	e.set = true
	content, diags := b.Body.Content(expectSchema)
	if a := content.Attributes["verdict"]; a != nil {
		v, d := l.eval(a.Expr, cty.String, "verdict must be a string")
		diags = append(diags, d...)
		if !d.HasErrors() {
			s := v.AsString()
			if !contains(verdicts, s) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid expected verdict",
					Detail:   fmt.Sprintf("A verdict is one of %s, not %q.%s To expect that no rule matches, write rules = [].", quoteList(verdicts), s, didYouMean(s, verdicts)),
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				e.verdict = &s
			}
		}
	}
	if a := content.Attributes["rules"]; a != nil {
		rules, d := l.stringList(a.Expr, "rules must be a list of rule names")
		diags = append(diags, d...)
		for _, r := range rules {
			if !l.rules[r] {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown rule",
					Detail:   fmt.Sprintf("The configuration has no rule %q.%s", r, didYouMean(r, l.ruleList)),
					Subject:  a.Expr.Range().Ptr(),
				})
			}
		}
		if !d.HasErrors() {
			e.rules = rules
		}
	}
	if a := content.Attributes["actions"]; a != nil {
		actions, d := l.stringList(a.Expr, `actions must be a list of action addresses, such as ["action.isolate[\"i-0abc\"]"]`)
		diags = append(diags, d...)
		for _, addr := range actions {
			if !strings.HasPrefix(addr, "action.") {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid action address",
					Detail:   fmt.Sprintf(`%q is not an action address: addresses are action.NAME["TARGET"], as the plan shows them.`, addr),
					Subject:  a.Expr.Range().Ptr(),
				})
			}
		}
		if !d.HasErrors() {
			e.actions = actions
		}
	}
	return diags
}

func (l *loader) assert(b *hcl.Block) (*assertion, hcl.Diagnostics) {
	content, diags := b.Body.Content(assertSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	a := &assertion{
		condition:    content.Attributes["condition"].Expr,
		errorMessage: content.Attributes["error_message"].Expr,
		declRange:    b.DefRange,
	}
	diags = append(diags, checkRefs(a.condition, assertRoots, "a condition")...)
	diags = append(diags, checkRefs(a.errorMessage, assertRoots, "an error message")...)
	return a, diags
}

// eval evaluates a static expression and converts it to want.
func (l *loader) eval(expr hcl.Expression, want cty.Type, what string) (cty.Value, hcl.Diagnostics) {
	if diags := checkRefs(expr, staticRoots, "this attribute"); diags.HasErrors() {
		return cty.NilVal, diags
	}
	v, diags := expr.Value(l.ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	cv, err := convert.Convert(v, want)
	if err != nil || cv.IsNull() || !cv.IsWhollyKnown() {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   what + ".",
			Subject:  expr.Range().Ptr(),
		}}
	}
	return cv, nil
}

func (l *loader) stringList(expr hcl.Expression, what string) ([]string, hcl.Diagnostics) {
	v, diags := l.eval(expr, cty.List(cty.String), what)
	if diags.HasErrors() {
		return nil, diags
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid value", Detail: what + "; it holds null.", Subject: expr.Range().Ptr()}}
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

// Roots an expression may refer to.
var (
	staticRoots = []string{"var", "local"}
	assertRoots = []string{"plan", "finding", "var", "local"}
)

// checkRefs reports references to anything but roots, so that a typo in
// an assertion fails the file when it loads rather than after a plan.
func checkRefs(expr hcl.Expression, roots []string, what string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		root := t.RootName()
		if contains(roots, root) {
			continue
		}
		detail := fmt.Sprintf("There is no %q here: %s can refer to %s.%s", root, what, describeRoots(roots), didYouMean(root, roots))
		if root == "plan" || root == "finding" {
			detail = fmt.Sprintf("%s is known only after the plan: only the condition and error_message of an assert block can refer to it.", root)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown reference",
			Detail:   detail,
			Subject:  t.SourceRange().Ptr(),
		})
	}
	return diags
}

func describeRoots(roots []string) string {
	parts := make([]string, len(roots))
	for i, r := range roots {
		switch r {
		case "var", "local":
			parts[i] = r + ".NAME"
		default:
			parts[i] = r
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// variablesKey is a canonical form of a set of variable values: runs whose
// keys are equal plan with the same engine.
func variablesKey(vars map[string]cty.Value) string {
	if len(vars) == 0 {
		return ""
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		v := vars[n]
		data, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			data = []byte(v.GoString())
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

func didYouMean(have string, candidates []string) string {
	best, bestDist := "", len(have)/3+2
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if d := levenshtein.Distance(have, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
