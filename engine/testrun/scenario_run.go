package testrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// ScenarioOutcome is what a run block expected and what the engine
// planned, for reporters to show side by side.
type ScenarioOutcome struct {
	Expected Expected `json:"expected"`
	Planned  Planned  `json:"planned"`
	// Mismatches names the expectations that did not hold, in the order
	// verdict, rules, actions, errors.
	Mismatches []string `json:"mismatches,omitempty"`
}

// Expected is a run's expect block and expect_errors. A nil field was not
// expected anything of; an empty list expects none.
type Expected struct {
	Verdict *string  `json:"verdict"`
	Rules   []string `json:"rules"`
	Actions []string `json:"actions"`
	Errors  bool     `json:"errors"`
}

// Planned is what the plan of a run holds, across its incidents.
type Planned struct {
	Verdicts  []PlannedVerdict     `json:"verdicts"`
	Rules     []string             `json:"rules"`
	Actions   []string             `json:"actions"`
	Errors    []plan.IncidentError `json:"errors"`
	Unmatched []string             `json:"unmatched"`
}

// PlannedVerdict is one rule's verdict.
type PlannedVerdict struct {
	Rule       string   `json:"rule"`
	Verdict    string   `json:"verdict"`
	Confidence *float64 `json:"confidence,omitempty"`
	Reasons    []string `json:"reasons"`
}

// BenchmarkResult is a benchmarked test's measurements.
type BenchmarkResult struct {
	testing.BenchmarkResult
}

// MarshalJSON gives the figures people compare.
func (b *BenchmarkResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		N           int     `json:"n"`
		NsPerOp     int64   `json:"ns_per_op"`
		AllocsPerOp int64   `json:"allocs_per_op"`
		BytesPerOp  int64   `json:"bytes_per_op"`
		Extra       any     `json:"extra,omitempty"`
		Seconds     float64 `json:"seconds"`
	}{b.N, b.NsPerOp(), b.AllocsPerOp(), b.AllocedBytesPerOp(), extraOrNil(b.Extra), b.T.Seconds()})
}

func extraOrNil(m map[string]float64) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// runScenarios loads every scenario file and runs its selected run blocks,
// one after the other: a run takes well under a millisecond once its
// engine is loaded, and running them in turn lets each keep its own
// print() output.
func (r *runner) runScenarios(ctx context.Context) ([]*FileResult, map[string]*hcl.File) {
	sources := map[string]*hcl.File{}
	paths, diags := findScenarioFiles(r.opts.FS)
	var out []*FileResult
	if diags.HasErrors() {
		out = append(out, &FileResult{File: r.displayName(testsDir), Kind: KindScenario, Diagnostics: diags})
	}
	l := newLoader(r.base.Config())
	for _, rel := range paths {
		name := r.displayName(rel)
		src, err := fs.ReadFile(r.opts.FS, rel)
		if err != nil {
			out = append(out, &FileResult{File: name, Kind: KindScenario, Diagnostics: hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Cannot read test file",
				Detail:   fmt.Sprintf("Reading %s: %v.", name, err),
			}}})
			continue
		}
		tf, diags := l.load(name, rel, src)
		if tf.file != nil {
			sources[name] = tf.file
		} else {
			sources[name] = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		}
		fr := &FileResult{File: name, Kind: KindScenario, Diagnostics: diags}
		if diags.HasErrors() {
			out = append(out, fr)
			continue
		}
		for _, s := range tf.runs {
			if !r.selected(rel, s.name) {
				continue
			}
			if err := ctx.Err(); err != nil {
				break
			}
			fr.Tests = append(fr.Tests, r.runScenario(ctx, s))
		}
		// A file -run leaves nothing of is not part of this run.
		if len(fr.Tests) > 0 || (r.filter == nil && len(fr.Diagnostics) > 0) {
			out = append(out, fr)
		}
	}
	return out, sources
}

// runScenario plans one run block and checks the plan.
func (r *runner) runScenario(ctx context.Context, s *scenario) *TestResult {
	t := &TestResult{Name: s.name, Group: s.file.rel, File: s.file.name, Line: s.declRange.Start.Line}
	start := time.Now()
	r.prints.take() // drop anything left from loading

	errorf := func(summary string, diags hcl.Diagnostics) *TestResult {
		t.Status = Error
		t.Message = summary
		t.Diagnostics = append(t.Diagnostics, diags...)
		t.Output = r.prints.take()
		t.Duration = time.Since(start)
		return t
	}

	e, diags := r.engines.get(ctx, s.varsKey, s.variables, fmt.Sprintf("the variables of run %q (%s)", s.name, s.file.name))
	if diags.HasErrors() {
		return errorf("the configuration does not load with this run's variables", diags)
	}

	findingName, findingData, d := r.readInput(s.finding, "finding")
	if d.HasErrors() {
		return errorf("cannot read the finding", d)
	}
	ff, err := engine.SplitFindings(findingName, findingData)
	if err != nil {
		return errorf("invalid finding", hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "Invalid finding", Detail: err.Error(), Subject: s.finding.rng.Ptr(),
		}})
	}
	facts := &engine.FactsFile{Name: "(no facts)", Global: map[string]map[string]any{}}
	if s.facts != nil {
		name, data, d := r.readInput(*s.facts, "facts")
		if d.HasErrors() {
			return errorf("cannot read the facts", d)
		}
		if facts, err = e.ParseFacts(name, data); err != nil {
			return errorf("invalid facts", hcl.Diagnostics{{
				Severity: hcl.DiagError, Summary: "Invalid facts file", Detail: err.Error(), Subject: s.facts.rng.Ptr(),
			}})
		}
	}

	files := []*engine.FindingsFile{ff}
	popts := engine.PlanOptions{Facts: facts, Workers: 1}
	res, pdiags := e.Plan(ctx, files, popts)
	if pdiags.HasErrors() {
		for _, d := range pdiags {
			if d.Subject == nil && d.Severity == hcl.DiagError {
				d.Subject = s.finding.rng.Ptr()
			}
		}
		return errorf("the finding cannot be planned", pdiags)
	}
	t.Diagnostics = append(t.Diagnostics, pdiags...) // warnings: conditions that failed to evaluate
	p := res.Plan

	out := &ScenarioOutcome{Planned: planned(p), Expected: Expected{
		Verdict: s.expect.verdict, Rules: s.expect.rules, Actions: s.expect.actions, Errors: s.expectErrors,
	}}
	t.Scenario = out
	var reasons []string
	if v := s.expect.verdict; v != nil && !verdictHolds(*v, out.Planned.Verdicts) {
		out.Mismatches = append(out.Mismatches, "verdict")
		reasons = append(reasons, fmt.Sprintf("verdict %s, expected %q", describeVerdicts(out.Planned.Verdicts), *v))
	}
	if s.expect.rules != nil && !slices.Equal(s.expect.rules, out.Planned.Rules) {
		out.Mismatches = append(out.Mismatches, "rules")
		reasons = append(reasons, "matched rules differ from those expected")
	}
	if s.expect.actions != nil && !slices.Equal(s.expect.actions, out.Planned.Actions) {
		out.Mismatches = append(out.Mismatches, "actions")
		reasons = append(reasons, "planned actions differ from those expected")
	}
	switch {
	case s.expectErrors && !p.HasErrors():
		out.Mismatches = append(out.Mismatches, "errors")
		reasons = append(reasons, "the plan was expected to fail (expect_errors = true) but has no errors")
	case !s.expectErrors && p.HasErrors():
		out.Mismatches = append(out.Mismatches, "errors")
		reasons = append(reasons, "the plan has "+plural(p.Summary.Errors, "failed investigation", "failed investigations"))
	}

	if len(s.asserts) > 0 {
		failed, errored, diags := r.checkAsserts(e, s, p, findingName, findingData)
		t.Diagnostics = append(t.Diagnostics, diags...)
		if errored > 0 {
			t.Status = Error
			reasons = append(reasons, plural(errored, "assertion", "assertions")+" could not be evaluated")
		}
		if failed > 0 {
			reasons = append(reasons, fmt.Sprintf("%d of %s failed", failed, plural(len(s.asserts), "assertion", "assertions")))
		}
	}
	if len(reasons) > 0 && t.Status != Error {
		t.Status = Fail
	}
	t.Message = strings.Join(reasons, "; ")
	t.Output = r.prints.take()
	t.Duration = time.Since(start)

	if r.opts.Bench {
		t.Benchmark = r.benchmark(ctx, e, files, popts)
	}
	return t
}

// checkAsserts evaluates a run's assert blocks. Failed conditions and
// errors are diagnostics at the condition, carrying the expression and its
// context so that the values it refers to are shown.
func (r *runner) checkAsserts(e *engine.Engine, s *scenario, p *plan.Plan, findingName string, findingData []byte) (failed, errored int, diags hcl.Diagnostics) {
	planVal, findingVal := cty.NullVal(cty.DynamicPseudoType), cty.NullVal(cty.DynamicPseudoType)
	if s.usesPlan {
		var err error
		if planVal, err = planValue(p); err != nil {
			return 0, len(s.asserts), hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot convert the plan", Detail: err.Error(), Subject: s.declRange.Ptr()}}
		}
	}
	if s.usesFinding {
		// The engine parsed the finding too, but keeps it to itself.
		if fs, err := schema.Parse(findingName, findingData); err == nil && len(fs) > 0 {
			findingVal = config.FindingValue(fs[0])
		}
	}
	ctx := e.Config().EvalContext()
	ctx.Variables = map[string]cty.Value{"plan": planVal, "finding": findingVal}

	for _, a := range s.asserts {
		v, d := a.condition.Value(ctx)
		if d.HasErrors() {
			errored++
			diags = append(diags, d...)
			continue
		}
		b, err := convert.Convert(v, cty.Bool)
		if err != nil || b.IsNull() || !b.IsKnown() {
			errored++
			diags = append(diags, &hcl.Diagnostic{
				Severity:    hcl.DiagError,
				Summary:     "Invalid condition result",
				Detail:      fmt.Sprintf("A condition must be true or false, not %s.", describeValue(v)),
				Subject:     a.condition.Range().Ptr(),
				Expression:  a.condition,
				EvalContext: ctx,
			})
			continue
		}
		if b.True() {
			continue
		}
		failed++
		diags = append(diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Test assertion failed",
			Detail:      errorMessage(a.errorMessage, ctx),
			Subject:     a.condition.Range().Ptr(),
			Expression:  a.condition,
			EvalContext: ctx,
		})
	}
	return failed, errored, diags
}

// errorMessage evaluates an assert's error_message; one that does not
// evaluate to a string is shown as written, with the reason.
func errorMessage(expr hcl.Expression, ctx *hcl.EvalContext) string {
	v, d := expr.Value(ctx)
	if !d.HasErrors() {
		if s, err := convert.Convert(v, cty.String); err == nil && !s.IsNull() && s.IsKnown() {
			return s.AsString()
		}
	}
	if d.HasErrors() {
		return fmt.Sprintf("(error_message does not evaluate: %s)", d[0].Detail)
	}
	return "(error_message is not a string)"
}

func describeValue(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case !v.IsKnown():
		return "an unknown value"
	case v.Type() == cty.String:
		return fmt.Sprintf("the string %q", v.AsString())
	}
	return "a " + v.Type().FriendlyName()
}

// planValue is the plan JSON (docs/plan-and-apply.md) as an HCL value: objects and
// tuples, as jsondecode would give. The plan is encoded as `cordon plan
// -json` encodes it, so that assertions see exactly that document, and
// decoded in one pass (cty's JSON decoder takes two, and most of a run's
// time).
func planValue(p *plan.Plan) (cty.Value, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return cty.NilVal, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return cty.NilVal, err
	}
	return jsonValue(doc)
}

// jsonValue converts a decoded JSON document (with json.Number numbers).
func jsonValue(v any) (cty.Value, error) {
	switch v := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case bool:
		return cty.BoolVal(v), nil
	case string:
		return cty.StringVal(v), nil
	case json.Number:
		return cty.ParseNumberVal(v.String())
	case []any:
		if len(v) == 0 {
			return cty.EmptyTupleVal, nil
		}
		elems := make([]cty.Value, len(v))
		for i, e := range v {
			ev, err := jsonValue(e)
			if err != nil {
				return cty.NilVal, err
			}
			elems[i] = ev
		}
		return cty.TupleVal(elems), nil
	case map[string]any:
		if len(v) == 0 {
			return cty.EmptyObjectVal, nil
		}
		attrs := make(map[string]cty.Value, len(v))
		for k, e := range v {
			ev, err := jsonValue(e)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[k] = ev
		}
		return cty.ObjectVal(attrs), nil
	}
	return cty.NilVal, fmt.Errorf("unexpected JSON value %T", v)
}

// planned extracts what expect compares from a plan.
func planned(p *plan.Plan) Planned {
	out := Planned{Verdicts: []PlannedVerdict{}, Rules: []string{}, Actions: []string{}, Errors: []plan.IncidentError{}, Unmatched: []string{}}
	for _, inc := range p.Incidents {
		for _, m := range inc.Matches {
			out.Rules = append(out.Rules, m.Rule)
		}
		for _, v := range inc.Verdicts {
			out.Verdicts = append(out.Verdicts, PlannedVerdict{Rule: v.Rule, Verdict: v.Verdict, Confidence: v.Confidence, Reasons: v.Reasons})
		}
		for _, a := range inc.Actions {
			out.Actions = append(out.Actions, a.Address)
		}
		out.Errors = append(out.Errors, inc.Errors...)
	}
	for _, u := range p.Unmatched {
		out.Unmatched = append(out.Unmatched, u.FindingID+": "+u.Reason)
	}
	return out
}

// verdictHolds reports whether every verdict planned is want, and there is
// at least one.
func verdictHolds(want string, vs []PlannedVerdict) bool {
	if len(vs) == 0 {
		return false
	}
	for _, v := range vs {
		if v.Verdict != want {
			return false
		}
	}
	return true
}

func describeVerdicts(vs []PlannedVerdict) string {
	if len(vs) == 0 {
		return "none (no rule reached a verdict)"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%q", v.Verdict)
		if len(vs) > 1 {
			parts[i] += " (rule " + v.Rule + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// readInput returns a finding or facts document and the name errors give
// it. Paths are relative to the configuration directory.
func (r *runner) readInput(in input, what string) (string, []byte, hcl.Diagnostics) {
	if in.inline != nil {
		return fmt.Sprintf("%s:%d (inline %s)", in.rng.Filename, in.rng.Start.Line, what), in.inline, nil
	}
	var (
		name string
		data []byte
		err  error
	)
	if r.osFS {
		name = filepath.FromSlash(in.path)
		if !filepath.IsAbs(name) {
			name = r.displayName(in.path)
		}
		data, err = os.ReadFile(name)
	} else {
		rel := path.Clean(filepath.ToSlash(in.path))
		name = r.displayName(rel)
		if !fs.ValidPath(rel) {
			err = fmt.Errorf("the path must stay inside the configuration directory")
		} else {
			data, err = fs.ReadFile(r.opts.FS, rel)
		}
	}
	if err != nil {
		detail := fmt.Sprintf("Reading %s: %v.", name, unwrapPathError(err))
		if errors.Is(err, fs.ErrNotExist) {
			detail = fmt.Sprintf("%s does not exist. Paths in scenario tests are relative to the configuration directory (%s).", name, r.opts.Dir)
		}
		return name, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read " + what + " file",
			Detail:   detail,
			Subject:  in.rng.Ptr(),
		}}
	}
	return name, data, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// benchmark measures planning a run's finding, as the run planned it.
func (r *runner) benchmark(ctx context.Context, e *engine.Engine, files []*engine.FindingsFile, opts engine.PlanOptions) *BenchmarkResult {
	initTesting()
	res := testing.Benchmark(func(b *testing.B) {
		if r.opts.BenchMem {
			b.ReportAllocs()
		}
		for b.Loop() {
			e.Plan(ctx, files, opts)
		}
	})
	r.prints.take()
	return &BenchmarkResult{res}
}

var initOnce sync.Once

// initTesting sets up the testing package's flags, which
// testing.Benchmark reads, once, outside `go test` too.
func initTesting() { initOnce.Do(testing.Init) }

// engineCache holds one engine per distinct set of run variables, loaded
// on first use: the configuration is compiled once per variables value,
// not once per run.
type engineCache struct {
	load func(ctx context.Context, vars map[string]cty.Value, source string) (*engine.Engine, hcl.Diagnostics)

	mu    sync.Mutex
	m     map[string]*engineEntry
	loads int // configurations loaded for variables, for tests
}

type engineEntry struct {
	once  sync.Once
	e     *engine.Engine
	diags hcl.Diagnostics
}

func (c *engineCache) get(ctx context.Context, key string, vars map[string]cty.Value, source string) (*engine.Engine, hcl.Diagnostics) {
	c.mu.Lock()
	ent := c.m[key]
	if ent == nil {
		ent = &engineEntry{}
		c.m[key] = ent
	}
	c.mu.Unlock()
	ent.once.Do(func() {
		if ent.e != nil {
			return
		}
		c.mu.Lock()
		c.loads++
		c.mu.Unlock()
		ent.e, ent.diags = c.load(ctx, vars, source)
	})
	return ent.e, ent.diags
}

func (r *runner) loadEngine(ctx context.Context, vars map[string]cty.Value, source string) (*engine.Engine, hcl.Diagnostics) {
	return engine.Load(ctx, r.engineOptions(vars, source))
}

// engineOptions are the options every engine of a run is loaded with.
func (r *runner) engineOptions(vars map[string]cty.Value, source string) engine.Options {
	opts := engine.Options{
		Dir:          r.opts.Dir,
		Vars:         r.opts.Vars,
		VarFiles:     r.opts.VarFiles,
		Getenv:       r.opts.Getenv,
		Values:       vars,
		ValuesSource: source,
		Debug:        r.prints,
	}
	if !r.osFS {
		opts.FS = r.opts.FS
	}
	return opts
}

// printSink collects the policies' print() output of the scenario running
// now (scenarios run one at a time).
type printSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *printSink) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

// take returns what was printed since the last take.
func (p *printSink) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.buf.String()
	p.buf.Reset()
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
