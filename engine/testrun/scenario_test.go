package testrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
)

var (
	baseOnce sync.Once
	baseCfg  *config.Config
	baseErr  hcl.Diagnostics
)

// baseConfig is the fixture configuration scenario files are loaded
// against.
func baseConfig(t testing.TB) *config.Config {
	t.Helper()
	baseOnce.Do(func() {
		e, diags := engine.Load(context.Background(), engine.Options{Dir: "base", FS: fixture(t, "empty"), Getenv: noEnv})
		baseErr = diags
		if !diags.HasErrors() {
			baseCfg = e.Config()
		}
	})
	if baseErr.HasErrors() {
		t.Fatal(baseErr.Error())
	}
	return baseCfg
}

// TestLoadScenarioErrors checks each mistake in a scenario file is one
// diagnostic, at the mistake, saying what is wrong.
func TestLoadScenarioErrors(t *testing.T) {
	const finding = `finding = "findings/ec2_miner.json"`
	tests := []struct {
		name    string
		src     string
		line    int    // of the (first) error
		summary string // of the (first) error
		detail  string // part of its detail
	}{
		{"syntax", `run "x" {` + "\n", 1, "Unclosed configuration block", "no closing brace"},
		{"unknown block", "check \"x\" {}\n", 1, "Unsupported block type", `"check"`},
		{"unknown attribute", "run \"x\" {\n  " + finding + "\n  fact = \"x.json\"\n}\n", 3, "Unsupported argument", `Did you mean "facts"?`},
		{"missing finding", "run \"x\" {\n}\n", 1, "Missing required argument", `"finding" is required`},
		{"run without a name", "run {\n  " + finding + "\n}\n", 1, "Missing name for run", ""},
		{"invalid run name", "run \"1st\" {\n  " + finding + "\n}\n", 1, "Invalid run name", "must start with a letter"},
		{"duplicate run", "run \"x\" {\n  " + finding + "\n}\nrun \"x\" {\n  " + finding + "\n}\n", 4, "Duplicate run block", "already declared at"},
		{"finding not a string", "run \"x\" {\n  finding = 42\n}\n", 2, "Invalid finding", "path of a JSON file"},
		{"finding refers to plan", "run \"x\" {\n  finding = plan.x\n}\n", 2, "Unknown reference", "only the condition and error_message"},
		{"facts a list", "run \"x\" {\n  " + finding + "\n  facts = [1]\n}\n", 3, "Invalid facts", "path of a JSON file"},
		{"undeclared variable", "run \"x\" {\n  " + finding + "\n  variables = { isolation = \"sg-1\" }\n}\n", 3, "Undeclared variable", `Did you mean "isolation_sg"?`},
		{"variable of the wrong type", "run \"x\" {\n  " + finding + "\n  variables = { isolation_sg = [\"sg-1\"] }\n}\n", 3, "Invalid value for variable", "of type string"},
		{"variables not an object", "run \"x\" {\n  " + finding + "\n  variables = \"isolation_sg=sg-1\"\n}\n", 3, "Invalid variables", "an object of variable names"},
		{"file variables undeclared", "variables {\n  nope = 1\n}\n", 2, "Undeclared variable", `no variable "nope"`},
		{"two variables blocks", "variables {}\nvariables {}\n", 2, "Duplicate variables block", "at most one"},
		{"expect_errors not a bool", "run \"x\" {\n  " + finding + "\n  expect_errors = \"yes\"\n}\n", 3, "Invalid value", "true or false"},
		{"two expect blocks", "run \"x\" {\n  " + finding + "\n  expect {}\n  expect {}\n}\n", 4, "Duplicate expect block", "at most one"},
		{"unknown verdict", "run \"x\" {\n  " + finding + "\n  expect {\n    verdict = \"evil\"\n  }\n}\n", 4, "Invalid expected verdict", `not "evil"`},
		{"unknown rule", "run \"x\" {\n  " + finding + "\n  expect {\n    rules = [\"ec2\"]\n  }\n}\n", 4, "Unknown rule", `no rule "ec2"`},
		{"actions not a list", "run \"x\" {\n  " + finding + "\n  expect {\n    actions = \"action.stop\"\n  }\n}\n", 4, "Invalid value", "list of action addresses"},
		{"not an address", "run \"x\" {\n  " + finding + "\n  expect {\n    actions = [\"stop\"]\n  }\n}\n", 4, "Invalid action address", `action.NAME["TARGET"]`},
		{"null in actions", "run \"x\" {\n  " + finding + "\n  expect {\n    actions = [null]\n  }\n}\n", 4, "Invalid value", "list of action addresses"},
		{"unknown expect attribute", "run \"x\" {\n  " + finding + "\n  expect {\n    verdicts = [\"benign\"]\n  }\n}\n", 4, "Unsupported argument", `Did you mean "verdict"?`},
		{"assert without message", "run \"x\" {\n  " + finding + "\n  assert {\n    condition = true\n  }\n}\n", 3, "Missing required argument", `"error_message" is required`},
		{"assert refers to something unknown", "run \"x\" {\n  " + finding + "\n  assert {\n    condition     = resource.id == \"i-1\"\n    error_message = \"x\"\n  }\n}\n", 4, "Unknown reference", `There is no "resource" here`},
		{"error message refers to something unknown", "run \"x\" {\n  " + finding + "\n  assert {\n    condition     = true\n    error_message = \"${planned.summary}\"\n  }\n}\n", 5, "Unknown reference", `Did you mean "plan"?`},
	}
	l := newLoader(baseConfig(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := l.load("t.test.hcl", "t.test.hcl", []byte(tt.src))
			if !diags.HasErrors() {
				t.Fatalf("no error for:\n%s", tt.src)
			}
			d := diags[0]
			if d.Subject == nil || d.Subject.Filename != "t.test.hcl" {
				t.Fatalf("%q has no range in the file: %v", d.Summary, d.Subject)
			}
			if d.Subject.Start.Line != tt.line || d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("got line %d %q: %s\nwant line %d %q with %q", d.Subject.Start.Line, d.Summary, d.Detail, tt.line, tt.summary, tt.detail)
			}
		})
	}
}

// TestLoadScenario checks what a valid file decodes to: paths and inline
// documents, variables over the file's block, expectations.
func TestLoadScenario(t *testing.T) {
	src := `
variables {
  isolation_sg = "sg-file"
}

run "inline" {
  finding   = { schemaVersion = "2.0", id = "x" }
  facts     = "facts/${"miner"}.json"
  variables = { isolation_sg = "sg-run" }
  expect_errors = true

  expect {
    verdict = "benign"
    rules   = []
    actions = ["action.stop[\"i-1\"]"]
  }
  assert {
    condition     = plan.summary.errors > 0
    error_message = "errors"
  }
}

run "plain" {
  finding = "findings/ec2_miner.json"
}
`
	tf, diags := newLoader(baseConfig(t)).load("t.test.hcl", "t.test.hcl", []byte(src))
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatal(diags.Error())
	}
	if len(tf.runs) != 2 {
		t.Fatalf("%d runs", len(tf.runs))
	}
	inline, plain := tf.runs[0], tf.runs[1]
	if string(inline.finding.inline) != `{"id":"x","schemaVersion":"2.0"}` || inline.finding.path != "" {
		t.Errorf("inline finding %q / %q", inline.finding.inline, inline.finding.path)
	}
	if inline.facts == nil || inline.facts.path != "facts/miner.json" {
		t.Errorf("facts %+v", inline.facts)
	}
	if v := inline.variables["isolation_sg"]; v.AsString() != "sg-run" || !inline.expectErrors {
		t.Errorf("variables %v, expect_errors %v", inline.variables, inline.expectErrors)
	}
	if e := inline.expect; e.verdict == nil || *e.verdict != "benign" || e.rules == nil || len(e.rules) != 0 || len(e.actions) != 1 || len(inline.asserts) != 1 {
		t.Errorf("expect %+v, %d asserts", e, len(inline.asserts))
	}
	if v := plain.variables["isolation_sg"]; v.AsString() != "sg-file" || plain.facts != nil || plain.expect.set || plain.expect.rules != nil {
		t.Errorf("plain run: variables %v, facts %v, expect %+v", plain.variables, plain.facts, plain.expect)
	}
	if plain.varsKey == inline.varsKey || plain.varsKey == "" {
		t.Errorf("variables keys %q and %q", plain.varsKey, inline.varsKey)
	}
	if plain.declRange.Start.Line != 23 {
		t.Errorf("run declared at line %d", plain.declRange.Start.Line)
	}
}

// FuzzLoadScenario checks any file loads to runs or diagnostics, never a
// panic, and that errors always point into the file.
func FuzzLoadScenario(f *testing.F) {
	for _, seed := range []string{
		"run \"x\" {\n  finding = \"findings/ec2_miner.json\"\n}\n",
		"variables {\n  isolation_sg = \"sg-1\"\n}\nrun \"x\" {\n  finding = { a = 1 }\n  variables = { isolation_sg = 2 }\n  expect {\n    verdict = \"benign\"\n    actions = []\n  }\n  assert {\n    condition = plan.x\n    error_message = \"${finding.id}\"\n  }\n}\n",
		"run \"x\" { finding = var.isolation_sg }",
		"run \"x\" {\n  finding = local.nope[0]\n  expect_errors = null\n}\n",
		"run \"\" {}\nrun {}\n",
		"#",
		"",
	} {
		f.Add([]byte(seed))
	}
	cfg := baseConfig(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		l := newLoader(cfg)
		tf, diags := l.load("f.test.hcl", "f.test.hcl", src)
		if tf == nil {
			t.Fatal("nil file")
		}
		for _, d := range diags {
			if d.Severity == hcl.DiagError && d.Subject != nil && d.Subject.Filename != "f.test.hcl" {
				t.Errorf("diagnostic about %s: %s", d.Subject.Filename, d.Summary)
			}
		}
		if !diags.HasErrors() {
			for _, s := range tf.runs {
				if s.finding.path == "" && s.finding.inline == nil {
					t.Errorf("run %s has no finding", s.name)
				}
			}
		}
	})
}

// BenchmarkScenarioRun measures one run block of the starter: read the
// recorded finding and facts, plan through the whole engine, compare with
// expect and evaluate three assertions. The engine is loaded once, as
// `cordon test` loads it.
func BenchmarkScenarioRun(b *testing.B) {
	ctx := context.Background()
	rep := func() *runner {
		e, diags := engine.Load(ctx, engine.Options{Dir: "../../policies", Getenv: noEnv})
		if diags.HasErrors() {
			b.Fatal(diags.Error())
		}
		r := &runner{opts: Options{Dir: "../../policies"}, osFS: true, base: e, prints: &printSink{}}
		r.engines = &engineCache{load: r.loadEngine, m: map[string]*engineEntry{"": {e: e}}}
		return r
	}()
	src, err := os.ReadFile("../../policies/tests/ec2_compromise.test.hcl")
	if err != nil {
		b.Fatal(err)
	}
	tf, diags := newLoader(rep.base.Config()).load("ec2_compromise.test.hcl", "tests/ec2_compromise.test.hcl", src)
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	var s *scenario
	for _, r := range tf.runs {
		if r.name == "cryptominer_is_contained" {
			s = r
		}
	}
	if s == nil {
		b.Fatal("no run cryptominer_is_contained")
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if tr := rep.runScenario(ctx, s); tr.Status != Pass {
			b.Fatal(fmt.Sprint(tr.Status, ": ", tr.Message, tr.Diagnostics.Error()))
		}
	}
	cpu.report(b)
}

// BenchmarkStarter measures `cordon test` on the starter policies and
// their scenarios, in process: load, compile, every Rego test and every
// scenario.
func BenchmarkStarter(b *testing.B) {
	cpu := startCPU()
	for b.Loop() {
		rep, err := Run(context.Background(), Options{Dir: "../../policies", Getenv: noEnv})
		if err != nil || !rep.OK() {
			b.Fatalf("%v %s", err, rep.Counts())
		}
	}
	cpu.report(b)
}

// cpuMeter measures a benchmark loop's process CPU time.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{start: t, ok: ok}
}

// report adds cpu-ns/op to the benchmark's results, where the platform
// can tell.
func (m cpuMeter) report(b *testing.B) {
	if end, ok := processCPU(); ok && m.ok && b.N > 0 {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}

// TestPlanValue checks assertions see the plan JSON exactly: the value
// converts back to the document `cordon plan -json` writes.
func TestPlanValue(t *testing.T) {
	rep := run(t, "pass", Options{Run: "miner_is_contained"})
	if !rep.OK() {
		t.Fatal(rep.Counts())
	}
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "pass", FS: fixture(t, "pass"), Getenv: noEnv})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ff, err := engine.SplitFindings("f", mustReadFixture(t, "base/findings/ec2_miner.json"))
	if err != nil {
		t.Fatal(err)
	}
	facts, err := e.ParseFacts("x", mustReadFixture(t, "base/facts/miner.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, diags := e.Plan(context.Background(), []*engine.FindingsFile{ff}, engine.PlanOptions{Facts: facts})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	v, err := planValue(res.Plan)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.Plan.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the plan value is not the plan JSON:\n%s\nwant:\n%s", got, buf.Bytes())
	}
}

func mustReadFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
