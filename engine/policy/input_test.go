package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/cordonhq/cordon/schema"
	"github.com/open-policy-agent/opa/v1/ast"
)

func TestToValue(t *testing.T) {
	ch := make(chan int)
	tests := []struct {
		name string
		in   any
		want string // Rego term
	}{
		{"nil", nil, "null"},
		{"true", true, "true"},
		{"false", false, "false"},
		{"string", "héllo \"x\"", `"héllo \"x\""`},
		{"empty string", "", `""`},
		{"json int", json.Number("3"), "3"},
		{"json big int", json.Number("123456789012345678901234567890"), "123456789012345678901234567890"},
		{"json negative", json.Number("-1"), "-1"},
		{"json float", json.Number("3.25"), "3.25"},
		{"json exponent", json.Number("1.5e3"), "1500"},
		{"json exponent out of range", json.Number("1e999999999"), `"1e999999999"`},
		{"float64", 2.5, "2.5"},
		{"float64 integral", 8.0, "8"},
		{"float64 tiny", 1e-9, "1e-9"},
		{"float32", float32(0.5), "0.5"},
		{"NaN", math.NaN(), "null"},
		{"Inf", math.Inf(1), "null"},
		{"int", 7, "7"},
		{"int64", int64(-42), "-42"},
		{"int32", int32(1000), "1000"},
		{"uint32", uint32(9), "9"},
		{"uint64", uint64(math.MaxUint64), "18446744073709551615"},
		{"array", []any{"a", json.Number("1"), nil, true, []any{}}, `["a", 1, null, true, []]`},
		{"empty array", []any{}, "[]"},
		{"object", map[string]any{"b": map[string]any{"c": []any{json.Number("2")}}, "a": "x"}, `{"a": "x", "b": {"c": [2]}}`},
		{"empty object", map[string]any{}, "{}"},
		{"string map", map[string]string{"Env": "prod", "Role": "web"}, `{"Env": "prod", "Role": "web"}`},
		{"string slice", []string{"sg-1", "sg-2"}, `["sg-1", "sg-2"]`},
		{"ast value", ast.NewArray(ast.IntNumberTerm(1)), "[1]"},
		{"ast term", ast.StringTerm("t"), `"t"`},
		{"nil ast term", (*ast.Term)(nil), "null"},
		{"struct via JSON", struct {
			A int    `json:"a"`
			B string `json:"b,omitempty"`
		}{A: 1}, `{"a": 1}`},
		{"typed map via JSON", map[string]int{"x": 1}, `{"x": 1}`},
		{"unrepresentable", ch, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToValue(tt.in)
			want := ast.MustParseTerm(tt.want).Value
			if got.Compare(want) != 0 {
				t.Errorf("ToValue(%#v) = %v, want %v", tt.in, got, want)
			}
			// The result is a well-formed value: its hash and groundness
			// agree with the same value built by OPA's parser.
			if got.Hash() != want.Hash() || !got.IsGround() {
				t.Errorf("ToValue(%#v): hash %d, want %d; ground %v", tt.in, got.Hash(), want.Hash(), got.IsGround())
			}
		})
	}
}

// TestToValueMatchesOPA compares ToValue with OPA's own conversion on the
// whole GuardDuty sample.
func TestToValueMatchesOPA(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(readTestdata(t, "guardduty_backdoor_dns.json")))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := ToValue(doc); got.Compare(want) != 0 || got.Hash() != want.Hash() {
		t.Errorf("ToValue differs from ast.InterfaceToValue:\n got %v\nwant %v", got, want)
	}
}

// jsonValue is v as encoding/json marshals it, as an OPA value: what the
// input document would be if built through JSON.
func jsonValue(t *testing.T, v any) ast.Value {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	val, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	return val
}

// TestBuildInputMatchesJSON checks BuildInput against the finding's JSON
// encoding: built field by field, it must say exactly what the JSON tags say.
func TestBuildInputMatchesJSON(t *testing.T) {
	f := testFinding(t)
	f.Actor = &schema.Actor{Type: "IAMUser", User: "alice"}
	f.Network.RemotePort = 53
	f.Network.Protocol = "UDP"
	other := schema.Resource{Type: schema.ResourceIAMRole, ID: "web-role", ARN: "arn:aws:iam::id:role/web-role",
		Tags: map[string]string{}, Details: map[string]any{"role_name": "web-role"}}
	f.Resources = append(f.Resources, other)

	facts := map[string]any{"describe": map[string]any{"state": "running", "volumes": []any{map[string]any{"size_gb": json.Number("8")}}}}
	got := BuildInput(&Input{
		Finding: f, Resource: &f.Resource, Facts: ToValue(facts),
		Scope: "prod_web", Rule: "ec2_compromise", Actions: []string{"isolate", "notify"},
	})
	want := jsonValue(t, map[string]any{
		"finding":  f,
		"resource": f.Resource,
		"facts":    facts,
		"scope":    map[string]any{"name": "prod_web"},
		"rule":     map[string]any{"name": "ec2_compromise", "actions": []string{"isolate", "notify"}},
	})
	if got.Compare(want) != 0 {
		t.Fatalf("BuildInput differs from the JSON encoding:\n got %v\nwant %v", got, want)
	}
	if got.Hash() != want.Hash() {
		t.Errorf("hash %d, want %d", got.Hash(), want.Hash())
	}

	// The primary resource is converted once and shared.
	finding := got.Get(keyFinding).Value.(ast.Object)
	res := got.Get(keyResource)
	if finding.Get(keyResource) != res {
		t.Error("input.resource and input.finding.resource are not the same term")
	}
	if finding.Get(keyResources).Value.(*ast.Array).Elem(0) != res {
		t.Error("input.finding.resources[0] is not the primary resource's term")
	}
	if finding.Get(keyResources).Value.(*ast.Array).Elem(1) == res {
		t.Error("input.finding.resources[1] is the primary resource's term")
	}
}

func TestBuildInputEdges(t *testing.T) {
	minimal := &schema.Finding{ID: "f-1", Source: "ocsf", Type: "t", Severity: "low", SeverityScore: 2.5, Count: 1}
	tests := []struct {
		name string
		in   *Input
		want string
	}{
		{
			// Empty optional fields are absent; nil collections the schema
			// requires are empty; no raw means no raw key.
			name: "minimal finding",
			in:   &Input{Finding: minimal, Scope: "s", Rule: "r"},
			want: `{
				"finding": {"id": "f-1", "source": "ocsf", "type": "t", "severity": "low", "severity_score": 2.5, "count": 1,
					"resource": {"type": "", "id": "", "tags": {}, "details": {}}, "resources": []},
				"resource": {"type": "", "id": "", "tags": {}, "details": {}},
				"facts": {}, "scope": {"name": "s"}, "rule": {"name": "r", "actions": []}}`,
		},
		{
			name: "empty network and actor objects",
			in: &Input{Finding: &schema.Finding{ID: "f", Source: "guardduty", Type: "t", Severity: "high", SeverityScore: 8,
				Network: &schema.Network{}, Actor: &schema.Actor{IP: "203.0.113.9"}}},
			want: `{
				"finding": {"id": "f", "source": "guardduty", "type": "t", "severity": "high", "severity_score": 8, "count": 0,
					"resource": {"type": "", "id": "", "tags": {}, "details": {}}, "resources": [],
					"network": {}, "actor": {"ip": "203.0.113.9"}},
				"resource": {"type": "", "id": "", "tags": {}, "details": {}},
				"facts": {}, "scope": {"name": ""}, "rule": {"name": "", "actions": []}}`,
		},
		{
			name: "a resource other than the finding's",
			in: &Input{Finding: minimal, Resource: &schema.Resource{Type: "aws_iam_user", ID: "bob", ARN: "arn:x"},
				Facts: ast.MustParseTerm(`{"c": {"error": "boom"}}`).Value, Actions: []string{"a"}},
			want: `{
				"finding": {"id": "f-1", "source": "ocsf", "type": "t", "severity": "low", "severity_score": 2.5, "count": 1,
					"resource": {"type": "", "id": "", "tags": {}, "details": {}}, "resources": []},
				"resource": {"type": "aws_iam_user", "id": "bob", "arn": "arn:x", "tags": {}, "details": {}},
				"facts": {"c": {"error": "boom"}}, "scope": {"name": ""}, "rule": {"name": "", "actions": ["a"]}}`,
		},
		{
			name: "no finding",
			in:   &Input{Scope: "s"},
			want: `{"facts": {}, "scope": {"name": "s"}, "rule": {"name": "", "actions": []}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildInput(tt.in)
			want := ast.MustParseTerm(tt.want).Value
			if got.Compare(want) != 0 {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestWithVerdict(t *testing.T) {
	base := testInput(t)
	baseString := base.String()
	tests := []struct {
		name string
		v    *Verdict
		want string
	}{
		{"full", &Verdict{Verdict: "malicious", Confidence: ptr(0.8), Reasons: []string{"b", "a"}, Summary: "s", RootCause: "rc", Impact: "i"},
			`{"verdict": "malicious", "confidence": 0.8, "reasons": ["b", "a"], "summary": "s", "root_cause": "rc", "impact": "i"}`},
		{"minimal", &Verdict{Verdict: "benign"}, `{"verdict": "benign", "reasons": []}`},
		{"zero confidence is kept", &Verdict{Verdict: "benign", Confidence: ptr(0.0)}, `{"verdict": "benign", "confidence": 0, "reasons": []}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WithVerdict(base, tt.v)
			if v := got.Get(keyVerdict); v == nil || v.Value.Compare(ast.MustParseTerm(tt.want).Value) != 0 {
				t.Errorf("verdict %v, want %s", v, tt.want)
			}
			if got.Len() != base.Len()+1 {
				t.Errorf("%d keys, want %d", got.Len(), base.Len()+1)
			}
			// base's terms are shared, and base itself is unchanged.
			for _, k := range base.Keys() {
				if got.Get(k) != base.Get(k) {
					t.Errorf("%v is not shared with base", k)
				}
			}
			if base.String() != baseString {
				t.Error("WithVerdict modified base")
			}
			// A second verdict replaces the first.
			again := WithVerdict(got, &Verdict{Verdict: "inconclusive"})
			if again.Len() != got.Len() || again.Get(keyVerdict).Value.(ast.Object).Get(keyVerdict).Value.Compare(ast.String("inconclusive")) != 0 {
				t.Errorf("re-applying a verdict: %v", again.Get(keyVerdict))
			}
		})
	}
}
