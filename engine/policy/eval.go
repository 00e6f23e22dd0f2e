package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Verdict values, in the order messages list them.
var verdicts = []string{"malicious", "suspicious", "benign", "inconclusive"}

// Verdict is the normalized verdict document of a verdict package.
type Verdict struct {
	Verdict    string   // malicious | suspicious | benign | inconclusive
	Confidence *float64 // 0..1, nil when the policy gives none
	Reasons    []string // sorted when a set, in order when an array
	Summary    string
	RootCause  string
	Impact     string
}

// ResponseAction is one entry of a response package's actions. Target is
// empty when the policy leaves it to default to the primary resource.
type ResponseAction struct {
	Action string
	Target string
	Reason string
}

// EvalError is an error evaluating a policy package: OPA's own (a conflict,
// a built-in failing) or a document of the wrong shape. It names the package
// and, where known, the policy line at fault.
type EvalError struct {
	Package string
	Message string
	File    string // the rule's file (display name), when known
	Line    int
	Err     error // the underlying OPA error, if any
}

func (e *EvalError) Error() string {
	var b strings.Builder
	b.WriteString("policy ")
	b.WriteString(e.Package)
	b.WriteString(": ")
	b.WriteString(e.Message)
	// OPA's messages for conflicts already name every rule involved.
	if loc := fmt.Sprintf("%s:%d", e.File, e.Line); e.File != "" && !strings.Contains(e.Message, loc) {
		b.WriteString(" (")
		b.WriteString(loc)
		b.WriteString(")")
	}
	return b.String()
}

func (e *EvalError) Unwrap() error { return e.Err }

// Query shapes. A package is never evaluated whole (data.<pkg>): that
// evaluates every helper rule, every test rule in the package when tests
// are loaded, and every sub-package; on the realistic verdict package of
// testdata it costs half as much again and allocates twice as much
// (BenchmarkVerdictQueryShape). The verdict query binds the one required
// rule and gathers the optional ones with a comprehension, so an undefined
// optional rule leaves the query defined; one comprehension per field
// measures the same, slightly slower.
const (
	varVerdict  = "verdict"
	varOptional = "optional"
	varActions  = "actions"
)

var optionalVerdictFields = []*ast.Term{keyConfidence, keyReasons, keySummary, keyRootCause, keyImpact}

func verdictQuery(pkg ast.Ref) string {
	return fmt.Sprintf(`%s := %s.verdict; %s := {k: v | some k in ["confidence", "reasons", "summary", "root_cause", "impact"]; v := %s[k]}`,
		varVerdict, pkg, varOptional, pkg)
}

func responseQuery(pkg ast.Ref) string {
	return fmt.Sprintf("%s := %s.actions", varActions, pkg)
}

// rawTerm makes results carry OPA's terms instead of JSON-like Go values:
// decoding them ourselves is cheaper and keeps sets apart from arrays.
func rawTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

func (s *Set) prepareQuery(ctx context.Context, query string) (preparedQuery, error) {
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.Compiler(s.compiler),
		rego.Store(s.store),
		rego.Capabilities(Capabilities()),
		rego.SetRegoVersion(ast.RegoV1),
		// A built-in failing (a malformed CIDR, say) is an error naming the
		// call, not a silent undefined that changes the verdict.
		rego.StrictBuiltinErrors(true),
		rego.GenerateJSON(rawTerm),
	}
	if s.printer != nil {
		opts = append(opts, rego.EnablePrintStatements(true), rego.PrintHook(s.printer))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	return preparedQuery{pq: pq, limits: s.limits}, err
}

// preparedQuery is a prepared OPA query and the way to run it.
type preparedQuery struct {
	pq     rego.PreparedEvalQuery
	limits evalLimits
}

var noMetrics = metrics.NoOp()

// eval runs the query once over input, under the Set's time and memory
// limits (limits.go): one exceeding them returns a *LimitError.
// Cancellation follows ctx without the goroutine per evaluation OPA would
// otherwise start to watch it.
func (q preparedQuery) eval(ctx context.Context, input ast.Value, opts ...rego.EvalOption) (rego.ResultSet, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluation cancelled: %w", err)
	}
	g := watchdog.watch(q.limits)
	defer watchdog.release(g)
	stop := context.AfterFunc(ctx, g.Cancel)
	defer stop()
	opts = append(opts,
		rego.EvalParsedInput(input),
		rego.EvalExternalCancel(g),
		rego.EvalMetrics(noMetrics),
	)
	rs, err := q.pq.Eval(ctx, opts...)
	if err != nil {
		if lim := g.exceeded(); lim != nil {
			return nil, lim
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("evaluation cancelled: %w", ctx.Err())
		}
	}
	return rs, err
}

// evalError wraps an OPA evaluation error with the package, keeping OPA's
// location of the failing expression.
func evalError(pkg string, err error) error {
	e := &EvalError{Package: pkg, Message: err.Error(), Err: err}
	var te *topdown.Error
	if errors.As(err, &te) {
		e.Message = te.Message
		if te.Location != nil {
			e.File, e.Line = te.Location.File, te.Location.Row
		}
	}
	e.Message = truncate(e.Message, maxMessage)
	return e
}

// maxMessage bounds OPA's error messages, which quote the values at fault:
// to_number over a ten-megabyte string says so in ten megabytes, and the
// message goes into the plan.
const maxMessage = 2000

// truncate cuts s to at most max bytes, at a rune boundary, saying so.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes more)", s[:cut], len(s)-cut)
}

// binding returns the term a query bound to name, nil when there was no
// result.
func binding(rs rego.ResultSet, name string) *ast.Term {
	if len(rs) == 0 {
		return nil
	}
	t, _ := rs[0].Bindings[name].(*ast.Term)
	return t
}

// EvalVerdict evaluates a verdict package over input and checks its document:
// verdict is required and one of the four values, the optional fields have
// their types. Errors name the package and, when one rule is to blame, its
// file and line.
func (s *Set) EvalVerdict(ctx context.Context, pkg string, input ast.Value) (*Verdict, error) {
	p, err := s.lookup(ctx, pkg)
	if err != nil {
		return nil, err
	}
	rs, err := p.verdict.eval(ctx, input)
	if err != nil {
		return nil, evalError(pkg, err)
	}
	t := binding(rs, varVerdict)
	if t == nil {
		return nil, s.undefinedVerdict(p)
	}
	var optional ast.Object
	if o := binding(rs, varOptional); o != nil {
		optional, _ = o.Value.(ast.Object)
	}
	v, bad := decodeVerdict(t, optional)
	if bad != nil {
		return nil, s.shapeError(ctx, p, p.verdict, input, bad)
	}
	return v, nil
}

func (s *Set) undefinedVerdict(p *prepared) error {
	msg := "verdict is undefined"
	if len(s.compiler.GetRulesExact(p.path.Append(ast.InternedTerm("verdict")))) == 0 {
		msg += ": the package has no verdict rule"
	} else {
		msg += ` for this input: no verdict rule applies (a default rule, such as default verdict := "inconclusive", covers every input)`
	}
	return &EvalError{Package: p.name, Message: msg}
}

// shapeError is an entry or field of the wrong shape, located at the rule
// that produced it when the trace finds one.
type shapeError struct {
	field string    // the rule at fault: verdict, reasons, actions …
	value *ast.Term // the offending value, as the rule produced it
	msg   string
}

func (s *Set) shapeError(ctx context.Context, p *prepared, q preparedQuery, input ast.Value, bad *shapeError) error {
	e := &EvalError{Package: p.name, Message: bad.msg}
	if loc := s.locate(ctx, p, q, bad.field, input, matchTerm(bad.value)); loc != nil {
		e.File, e.Line = loc.File, loc.Row
	}
	return e
}

func decodeVerdict(t *ast.Term, optional ast.Object) (*Verdict, *shapeError) {
	v := &Verdict{}
	s, ok := t.Value.(ast.String)
	if !ok {
		return nil, &shapeError{"verdict", t, fmt.Sprintf("verdict must be a string, one of %s; got %s", strings.Join(verdicts, ", "), describe(t))}
	}
	v.Verdict = string(s)
	if !isVerdict(v.Verdict) {
		return nil, &shapeError{"verdict", t, fmt.Sprintf("verdict %q is not one of %s", v.Verdict, strings.Join(verdicts, ", "))}
	}
	if optional == nil {
		return v, nil
	}
	for _, key := range optionalVerdictFields {
		ft := optional.Get(key)
		if ft == nil {
			continue
		}
		field := string(key.Value.(ast.String))
		switch field {
		case "confidence":
			n, ok := ft.Value.(ast.Number)
			if !ok {
				return nil, &shapeError{field, ft, "confidence must be a number between 0 and 1; got " + describe(ft)}
			}
			f, ok := n.Float64()
			if !ok || f < 0 || f > 1 {
				return nil, &shapeError{field, ft, "confidence must be between 0 and 1; got " + n.String()}
			}
			v.Confidence = &f
		case "reasons":
			reasons, bad := decodeStrings(ft, "reasons")
			if bad != nil {
				return nil, bad
			}
			v.Reasons = reasons
		default:
			str, ok := ft.Value.(ast.String)
			if !ok {
				return nil, &shapeError{field, ft, field + " must be a string; got " + describe(ft)}
			}
			switch field {
			case "summary":
				v.Summary = string(str)
			case "root_cause":
				v.RootCause = string(str)
			case "impact":
				v.Impact = string(str)
			}
		}
	}
	return v, nil
}

func isVerdict(s string) bool {
	for _, v := range verdicts {
		if s == v {
			return true
		}
	}
	return false
}

// decodeStrings decodes a set (sorted, as OPA orders sets) or an array (in
// order) of strings.
func decodeStrings(t *ast.Term, field string) ([]string, *shapeError) {
	var elems []*ast.Term
	switch c := t.Value.(type) {
	case ast.Set:
		c.Sorted().Foreach(func(e *ast.Term) { elems = append(elems, e) })
	case *ast.Array:
		c.Foreach(func(e *ast.Term) { elems = append(elems, e) })
	default:
		return nil, &shapeError{field, t, field + " must be a set or array of strings; got " + describe(t)}
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		s, ok := e.Value.(ast.String)
		if !ok {
			return nil, &shapeError{field, e, fmt.Sprintf("%s must hold only strings; got %s", field, describe(e))}
		}
		out = append(out, string(s))
	}
	return out, nil
}

// EvalResponse evaluates a response package over input and returns its
// actions, deduplicated, ordered by action, target and reason. An undefined
// actions document means no actions. Entries that are not {action, target?,
// reason?} objects of strings are errors naming the package and the rule.
//
// Whether the rule allows an action and whether the target is a resource of
// the finding is the engine's to check; Locate finds the rule for its error.
func (s *Set) EvalResponse(ctx context.Context, pkg string, input ast.Value) ([]ResponseAction, error) {
	p, err := s.lookup(ctx, pkg)
	if err != nil {
		return nil, err
	}
	rs, err := p.response.eval(ctx, input)
	if err != nil {
		return nil, evalError(pkg, err)
	}
	t := binding(rs, varActions)
	if t == nil {
		return nil, nil
	}
	out, bad := decodeActions(t)
	if bad != nil {
		return nil, s.shapeError(ctx, p, p.response, input, bad)
	}
	return out, nil
}

func decodeActions(t *ast.Term) ([]ResponseAction, *shapeError) {
	var out []ResponseAction
	var bad *shapeError
	each := func(e *ast.Term) bool {
		a, b := decodeAction(e)
		if b != nil {
			bad = b
			return true
		}
		out = append(out, a)
		return false
	}
	switch c := t.Value.(type) {
	case ast.Set:
		out = make([]ResponseAction, 0, c.Len())
		c.Until(each)
	case *ast.Array:
		out = make([]ResponseAction, 0, c.Len())
		c.Until(each)
	default:
		return nil, &shapeError{"actions", t, "actions must be a set or array of objects; got " + describe(t)}
	}
	if bad != nil {
		return nil, bad
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Reason < b.Reason
	})
	// Deduplicate in place: equal entries are adjacent once sorted.
	n := 0
	for i, a := range out {
		if i == 0 || a != out[n-1] {
			out[n] = a
			n++
		}
	}
	return out[:n], nil
}

var (
	keyAction = ast.InternedTerm("action")
	keyTarget = ast.InternedTerm("target")
	keyReason = ast.InternedTerm("reason")
)

// decodeAction decodes one actions entry. Keys other than action, target
// and reason are errors: a misspelt "targte" would otherwise silently aim
// the action at the primary resource.
func decodeAction(e *ast.Term) (ResponseAction, *shapeError) {
	var a ResponseAction
	obj, ok := e.Value.(ast.Object)
	if !ok {
		return a, &shapeError{"actions", e, "actions entries must be objects {action, target, reason}; got " + describe(e)}
	}
	var bad *shapeError
	obj.Until(func(k, v *ast.Term) bool {
		key, _ := k.Value.(ast.String)
		var dst *string
		switch string(key) {
		case "action":
			dst = &a.Action
		case "target":
			dst = &a.Target
		case "reason":
			dst = &a.Reason
		default:
			bad = &shapeError{"actions", e, fmt.Sprintf("actions entry %s has unknown key %s; an entry has action, target and reason", show(e), show(k))}
			return true
		}
		s, ok := v.Value.(ast.String)
		if !ok {
			bad = &shapeError{"actions", e, fmt.Sprintf("actions entry %s: %s must be a string; got %s", show(e), string(key), describe(v))}
			return true
		}
		*dst = string(s)
		return false
	})
	if bad != nil {
		return a, bad
	}
	if a.Action == "" {
		return a, &shapeError{"actions", e, fmt.Sprintf("actions entry %s has no action; it must name an action block", show(e))}
	}
	return a, nil
}

// describe names a value's type and, when short, the value, for messages.
func describe(t *ast.Term) string {
	if s, ok := shortString(t, 60); ok {
		return ast.ValueName(t.Value) + " " + s
	}
	return ast.ValueName(t.Value)
}

// show renders a value for a message, or names its type when it is long.
func show(t *ast.Term) string {
	if s, ok := shortString(t, 500); ok {
		return s
	}
	return "(" + ast.ValueName(t.Value) + " too long to show)"
}

// shortString renders t if its text is at most max bytes long. Whether it
// is gets decided before rendering, by a walk that stops once it has seen
// enough: a policy's value can share its parts ([x, x], nested forty
// times), so that its text would run to terabytes although the value
// takes a few kilobytes of memory.
func shortString(t *ast.Term, max int) (string, bool) {
	budget := 2*max + 16 // over-estimates the text of scalars and separators
	if !fits(t.Value, &budget) {
		return "", false
	}
	s := t.String()
	return s, len(s) <= max
}

// fits charges a value's size to budget and reports whether it stayed
// positive, visiting no more nodes than the budget allows.
func fits(v ast.Value, budget *int) bool {
	*budget -= 2
	switch x := v.(type) {
	case ast.String:
		*budget -= len(x)
	case ast.Number:
		*budget -= len(x)
	case *ast.Array:
		for i := 0; i < x.Len() && *budget >= 0; i++ {
			fits(x.Elem(i).Value, budget)
		}
	case ast.Object:
		x.Until(func(k, v *ast.Term) bool {
			return !fits(k.Value, budget) || !fits(v.Value, budget)
		})
	case ast.Set:
		x.Until(func(e *ast.Term) bool { return !fits(e.Value, budget) })
	}
	return *budget >= 0
}
