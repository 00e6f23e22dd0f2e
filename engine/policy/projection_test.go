package policy

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestRawProjection(t *testing.T) {
	tests := []struct {
		name    string
		rego    string
		print   bool
		tests   string // a _test.rego module, loaded with IncludeTests
		all     bool
		paths   []string
		wantRaw string // input.finding.raw as built; "" for absent
	}{
		{
			name:  "no reference",
			rego:  `verdict := "malicious" if input.finding.severity == "high"`,
			paths: nil,
		},
		{
			name:    "one path",
			rego:    `verdict := "malicious" if input.finding.raw.Service.Count > 1`,
			paths:   []string{"input.finding.raw.Service.Count"},
			wantRaw: `{"Service": {"Count": 3}}`,
		},
		{
			name: "iteration below a path",
			rego: `verdict := "malicious" if {
	some d in input.finding.raw.Service.Evidence.ThreatIntelligenceDetails
	d.ThreatListName != ""
}`,
			paths:   []string{"input.finding.raw.Service.Evidence.ThreatIntelligenceDetails[_]"},
			wantRaw: `{"Service": {"Evidence": {"ThreatIntelligenceDetails": [{"ThreatListName": "GeneratedFindingThreatListName", "ThreatNames": ["GeneratedFindingThreatName"]}]}}}`,
		},
		{
			name:    "array index keeps the array",
			rego:    `verdict := "malicious" if input.finding.raw.Resource.InstanceDetails.NetworkInterfaces[0].PublicIp`,
			paths:   []string{"input.finding.raw.Resource.InstanceDetails.NetworkInterfaces[_].PublicIp"},
			wantRaw: `{"Resource": {"InstanceDetails": {"NetworkInterfaces": [{"PublicIp": "198.51.100.0"}]}}}`,
		},
		{
			name: "paths merge, the wider wins",
			rego: `verdict := "malicious" if input.finding.raw.Service.Count > 1
verdict := "suspicious" if input.finding.raw.Service.Action.ActionType == "x"
verdict := "benign" if input.finding.raw.Service
verdict := "benign" if input.finding.raw.Region == "y"`,
			paths: []string{"input.finding.raw.Region", "input.finding.raw.Service"},
		},
		{
			name:    "missing key",
			rego:    `verdict := "malicious" if input.finding.raw.NoSuchKey`,
			paths:   []string{"input.finding.raw.NoSuchKey"},
			wantRaw: `{}`,
		},
		{
			name:  "import alias",
			rego:  "import input.finding.raw as r\n\nverdict := \"malicious\" if r.Service.Archived == false",
			paths: []string{"input.finding.raw.Service.Archived"},
		},
		{
			name:  "a function argument",
			rego:  "verdict := \"malicious\" if count(input.finding.raw.Resource.InstanceDetails.Tags) > 1",
			paths: []string{"input.finding.raw.Resource.InstanceDetails.Tags"},
		},
		{name: "raw whole", rego: `verdict := "malicious" if count(input.finding.raw) > 1`, all: true},
		{name: "raw with a variable key", rego: `verdict := "malicious" if { some k; input.finding.raw[k] == 3 }`, paths: []string{"input.finding.raw[_]"}},
		{name: "finding whole", rego: "f := input.finding\n\nverdict := \"malicious\" if f.raw.Service.Count > 1", all: true},
		{name: "finding with a variable key", rego: `verdict := "malicious" if { some k; input.finding[k] == "x" }`, all: true},
		{name: "input whole", rego: `verdict := "malicious" if json.marshal(input) != ""`, all: true},
		{name: "object.get on the finding", rego: `verdict := "malicious" if object.get(input.finding, ["raw", "Service"], null)`, all: true},
		{name: "walk", rego: `verdict := "malicious" if { walk(input.finding.raw.Service, [p, v]); v == 3 }`, paths: []string{"input.finding.raw.Service"}},
		{name: "print(input) kept", rego: "verdict := \"benign\" if { print(input); true }", print: true, all: true},
		{name: "print(input) compiled away", rego: "verdict := \"benign\" if { print(input); true }", paths: nil},
		{
			name:  "with targets in tests are writes",
			rego:  `verdict := "malicious" if input.finding.severity == "high"`,
			tests: "package cordon.verdict_test\n\nimport data.cordon.verdict\n\ntest_x if verdict.verdict == \"malicious\" with input as {\"finding\": {\"severity\": \"high\"}}\n\ntest_y if verdict.verdict with input.finding.raw.Service as {}\n",
			paths: nil,
		},
		{
			name:  "with values are reads",
			rego:  `verdict := "malicious" if input.finding.severity == "high"`,
			tests: "package cordon.verdict_test\n\nimport data.cordon.verdict\n\ntest_x if verdict.verdict with input.finding.severity as input.finding.raw.Severity\n",
			paths: []string{"input.finding.raw.Severity"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"p/v.rego": {Data: []byte("package cordon.verdict\n\n" + tt.rego + "\n")}}
			if tt.tests != "" {
				fsys["p/v_test.rego"] = &fstest.MapFile{Data: []byte(tt.tests)}
			}
			opts := Options{InputSchema: readTestdata(t, "input.schema.json"), IncludeTests: tt.tests != ""}
			var out bytes.Buffer
			if tt.print {
				opts.Print = &out
			}
			s, diags := Load(fsys, ".", []string{"p"}, opts)
			if diags.HasErrors() {
				t.Fatal(diagsString(diags))
			}
			all, paths := s.RawPaths()
			if all != tt.all || !reflect.DeepEqual(paths, tt.paths) {
				t.Fatalf("RawPaths() = %v, %q; want %v, %q", all, paths, tt.all, tt.paths)
			}

			f := testFinding(t)
			in := &Input{Finding: f, Facts: testFacts(), Scope: "s", Rule: "r"}
			projected := s.BuildInput(in)
			full := BuildInput(in)
			rawOf := func(in ast.Object) *ast.Term {
				f := in.Get(keyFinding)
				if f == nil {
					return nil
				}
				return f.Value.(ast.Object).Get(keyRaw)
			}
			raw := rawOf(projected)
			switch {
			case tt.all:
				if raw == nil || raw.Value.Compare(rawOf(full).Value) != 0 {
					t.Error("the whole raw finding is needed, but it differs from BuildInput's")
				}
			case len(tt.paths) == 0:
				if raw != nil {
					t.Errorf("raw is %v, want absent", raw)
				}
			case tt.wantRaw != "":
				if raw == nil || raw.Value.Compare(ast.MustParseTerm(tt.wantRaw).Value) != 0 {
					t.Errorf("raw is %v, want %s", raw, tt.wantRaw)
				}
			}
			// Whatever was cut, the policy cannot tell.
			ctx := context.Background()
			v1, err1 := s.EvalVerdict(ctx, "cordon.verdict", projected)
			v2, err2 := s.EvalVerdict(ctx, "cordon.verdict", full)
			if !reflect.DeepEqual(v1, v2) || (err1 == nil) != (err2 == nil) {
				t.Errorf("projected input gives %v, %v; full input gives %v, %v", v1, err1, v2, err2)
			}
		})
	}
}

// TestProjectedInputSameVerdicts evaluates every package of testdata/eval
// over both inputs.
func TestProjectedInputSameVerdicts(t *testing.T) {
	s := loadEval(t, Options{})
	all, paths := s.RawPaths()
	if all || len(paths) == 0 {
		t.Fatalf("RawPaths() = %v, %q; the realistic policy reads a few paths", all, paths)
	}
	f := testFinding(t)
	in := &Input{Finding: f, Facts: testFacts(), Scope: "s", Rule: "r", Actions: []string{"isolate"}}
	projected, full := s.BuildInput(in), BuildInput(in)
	ctx := context.Background()
	for _, pkg := range s.Packages() {
		v1, err1 := s.EvalVerdict(ctx, pkg, projected)
		v2, err2 := s.EvalVerdict(ctx, pkg, full)
		if !reflect.DeepEqual(v1, v2) || errString(err1) != errString(err2) {
			t.Errorf("%s: projected %v, %v; full %v, %v", pkg, v1, err1, v2, err2)
		}
		if v1 == nil {
			v1 = &Verdict{Verdict: "malicious", Summary: "s"}
		}
		a1, err1 := s.EvalResponse(ctx, pkg, WithVerdict(projected, v1))
		a2, err2 := s.EvalResponse(ctx, pkg, WithVerdict(full, v1))
		if !reflect.DeepEqual(a1, a2) || errString(err1) != errString(err2) {
			t.Errorf("%s: projected %v, %v; full %v, %v", pkg, a1, err1, a2, err2)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
