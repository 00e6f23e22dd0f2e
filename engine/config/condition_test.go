package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// webInstance is a GuardDuty Backdoor finding on an instance with a public
// address, as the schema parsers normalize it, with the original finding
// as Raw.
func webInstance(t testing.TB) *schema.Finding {
	raw, err := os.ReadFile(filepath.Join("testdata", "guardduty_backdoor_dns.json"))
	if err != nil {
		t.Fatal(err)
	}
	instance := schema.Resource{
		Type: schema.ResourceInstance, ID: "i-99999999",
		ARN:  "arn:aws:ec2:us-east-2:123456789012:instance/i-99999999",
		Tags: map[string]string{"Environment": "prod", "Role": "web-frontend"},
		Details: map[string]any{
			"instance_id": "i-99999999", "image_id": "ami-99999999", "instance_type": "c3.large",
			"instance_state": "running", "availability_zone": "us-east-2a",
			"launch_time": "2017-12-19T01:37:35Z", "public_ip": "198.51.100.0", "private_ip": "10.0.0.1",
			"subnet_id": "subnet-99999999", "vpc_id": "vpc-99999999",
			"security_groups":          []string{"sg-0web", "sg-0ssh"},
			"iam_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/web",
			"network_interfaces": []any{map[string]any{
				"id": "eni-bfcffe88", "private_ip": "10.0.0.1", "public_ip": "198.51.100.0",
				"security_groups": []any{"sg-0web", "sg-0ssh"},
			}},
		},
	}
	return &schema.Finding{
		ID: "14bd952561ab40e0b9275f648fcca0f2", Source: schema.SourceGuardDuty,
		Type:        "Backdoor:EC2/C&CActivity.B!DNS",
		Title:       "Command and Control server domain name queried by EC2 instance i-99999999.",
		Description: "EC2 instance i-99999999 is querying a domain name associated with a known Command & Control server.",
		Severity:    "high", SeverityScore: 8, Account: "123456789012", Region: "us-east-2", Partition: "aws",
		CreatedAt: "2021-08-09T09:42:27.926Z", UpdatedAt: "2021-08-09T09:42:27.926Z", Count: 4,
		Resource: instance,
		Resources: []schema.Resource{instance, {
			Type: schema.ResourceIAMRole, ID: "web-role", Tags: map[string]string{},
			Details: map[string]any{"role_name": "web-role"},
		}},
		Network: &schema.Network{Direction: "OUTBOUND", Protocol: "UDP", LocalIP: "10.0.0.1", LocalPort: 40000,
			RemoteIP: "198.51.100.53", RemotePort: 53, Domain: "guarddutyc2activityb.com"},
		Raw: raw,
	}
}

// privateInstance is an instance without a public address, tags, title,
// network or actor: every optional field absent.
func privateInstance() *schema.Finding {
	r := schema.Resource{
		Type: schema.ResourceInstance, ID: "i-0private", Tags: map[string]string{},
		Details: map[string]any{"instance_id": "i-0private", "private_ip": "10.0.0.9", "security_groups": []any{}},
	}
	return &schema.Finding{
		ID: "f-private", Source: schema.SourceOCSF, Type: "Malware", Severity: "medium", SeverityScore: 5,
		Count: 1, Resource: r, Resources: []schema.Resource{r},
	}
}

// accessKey is a Security Hub finding about an access key, with an actor.
func accessKey() *schema.Finding {
	r := schema.Resource{
		Type: schema.ResourceAccessKey, ID: "AKIAEXAMPLE", Tags: map[string]string{},
		Details: map[string]any{"access_key_id": "AKIAEXAMPLE", "user_name": "alice", "user_type": "IAMUser"},
	}
	return &schema.Finding{
		ID: "f-key", Source: schema.SourceSecurityHub, Type: "TTPs/Initial Access/UnauthorizedAccess:IAMUser-MaliciousIPCaller",
		Severity: "medium", SeverityScore: 5.5, Account: "123456789012", Region: "eu-west-1", Count: 12,
		Resource: r, Resources: []schema.Resource{r},
		Actor: &schema.Actor{Type: "IAMUser", User: "alice", AccessKeyID: "AKIAEXAMPLE", IP: "203.0.113.7"},
		Raw:   json.RawMessage(`{"Id": "f-key", "ProductFields": {"aws/guardduty/service/count": "12"}, "Resources": [{"Type": "AwsIamAccessKey"}]}`),
	}
}

func TestEvalCondition(t *testing.T) {
	findings := map[string]*schema.Finding{"web": webInstance(t), "private": privateInstance(), "key": accessKey()}
	tests := []struct {
		condition string
		want      map[string]bool // finding → result
		// errs are the findings for which evaluation fails (no match).
		errs map[string]string
	}{
		// Known details are null when absent; another type's details are
		// not there at all (scopes restrict resource_types, or use try).
		{condition: `resource.details.public_ip != null`, want: map[string]bool{"web": true, "private": false},
			errs: map[string]string{"key": "Unsupported attribute"}},
		{condition: `try(resource.details.public_ip != null, false)`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `finding.severity == "high" && finding.count >= 2`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `finding.severity_score > 5`, want: map[string]bool{"web": true, "private": false, "key": true}},
		{condition: `contains(resource.details.security_groups, "sg-0ssh")`, want: map[string]bool{"web": true, "private": false},
			errs: map[string]string{"key": "Unsupported attribute"}},
		{condition: `can(regex("^Backdoor:", finding.type))`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `startswith(finding.type, "Backdoor:") || strcontains(finding.type, "MaliciousIPCaller")`, want: map[string]bool{"web": true, "private": false, "key": true}},
		{condition: `finding.network.remote_port == 53`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `finding.network.remote_ip == null`, want: map[string]bool{"web": false, "private": true, "key": true}},
		{condition: `finding.actor.ip == "203.0.113.7"`, want: map[string]bool{"web": false, "private": false, "key": true}},
		{condition: `lookup(resource.tags, "Environment", "none") == "prod"`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `length(finding.resources) > 1 && finding.resources[1].type == "aws_iam_role"`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `try(finding.raw.Service.Count, 0) == 3`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `try(finding.raw.ProductFields["aws/guardduty/service/count"], "") == "12"`, want: map[string]bool{"web": false, "private": false, "key": true}},
		{condition: `contains(var.regions, finding.region)`, want: map[string]bool{"web": true, "private": false, "key": true}},
		{condition: `length(resource.details.network_interfaces) == local.one`, want: map[string]bool{"web": true},
			errs: map[string]string{"private": "Invalid function argument", "key": "Unsupported attribute"}},
		{condition: `anytrue([for r in finding.resources : r.type == "aws_iam_role"])`, want: map[string]bool{"web": true, "private": false, "key": false}},
		{condition: `contains(local.upper_regions, upper(coalesce(finding.region, "none")))`, want: map[string]bool{"web": true, "private": false, "key": true}},
		{condition: `tostring(finding.count > 3)`, want: map[string]bool{"web": true, "private": false, "key": true}},
		// Failing on some findings: a diagnostic, and no match.
		{condition: `resource.tags["Environment"] == "prod"`, want: map[string]bool{"web": true},
			errs: map[string]string{"private": "Invalid index", "key": "Invalid index"}},
		{condition: `lower(finding.title) != ""`, want: map[string]bool{"web": true},
			errs: map[string]string{"private": "Invalid function argument", "key": "Invalid function argument"}},
		{condition: `finding.title == null ? null : true`, want: map[string]bool{"web": true},
			errs: map[string]string{"private": "Invalid condition result", "key": "Invalid condition result"}},
		{condition: `finding.title`, errs: map[string]string{"web": "Invalid condition result", "private": "Invalid condition result", "key": "Invalid condition result"}},
	}
	var src strings.Builder
	src.WriteString("variable \"regions\" { default = [\"us-east-2\", \"eu-west-1\"] }\nlocals {\n  one = 1\n  upper_regions = [for r in var.regions : upper(r)]\n}\n")
	for i, tt := range tests {
		fmt.Fprintf(&src, "scope \"c%d\" {\n  condition = %s\n}\n", i, tt.condition)
	}
	cfg, diags := load(t, map[string]string{"cordon.hcl": src.String()}, LoadOptions{})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	for i, tt := range tests {
		expr := cfg.Scopes[fmt.Sprintf("c%d", i)].Condition
		for name, f := range findings {
			got, diags := cfg.EvalCondition(expr, FindingValue(f), ResourceValue(&f.Resource))
			fv, rv := cfg.ConditionValues(f)
			if got2, diags2 := cfg.EvalCondition(expr, fv, rv); got2 != got || len(diags2) != len(diags) {
				t.Errorf("%s on %s: ConditionValues gives %v%s, FindingValue %v%s", tt.condition, name, got2, render(diags2), got, render(diags))
			}
			if summary, ok := tt.errs[name]; ok {
				if got || len(diags) != 1 || diags[0].Summary != summary || diags[0].Subject == nil {
					t.Errorf("%s on %s: got %v, diagnostics:%s\nwant no match and %q with a range", tt.condition, name, got, render(diags), summary)
				}
				continue
			}
			if len(diags) > 0 {
				t.Errorf("%s on %s: unexpected diagnostics:%s", tt.condition, name, render(diags))
			}
			if got != tt.want[name] {
				t.Errorf("%s on %s = %v, want %v", tt.condition, name, got, tt.want[name])
			}
		}
	}
}

func TestEvalConditionEdges(t *testing.T) {
	var cfg *Config
	if ok, diags := cfg.EvalCondition(nil, cty.NilVal, cty.NilVal); !ok || diags != nil {
		t.Errorf("a nil condition matches: got %v%s", ok, render(diags))
	}
	// A Config that failed to load, or a zero one, does not panic.
	expr, _ := hclExpr(t, `finding.count > 1`)
	for _, c := range []*Config{nil, {}} {
		ok, diags := c.EvalCondition(expr, FindingValue(privateInstance()), cty.DynamicVal)
		if ok || len(diags) != 0 {
			t.Errorf("got %v%s", ok, render(diags))
		}
	}
	// Values not built by FindingValue do not panic either.
	for _, v := range []cty.Value{cty.NilVal, cty.NullVal(cty.DynamicPseudoType), cty.StringVal("x"), cty.DynamicVal} {
		ok, diags := (&Config{}).EvalCondition(expr, v, v)
		if ok || !diags.HasErrors() {
			t.Errorf("finding %#v: got %v%s, want an error", v, ok, render(diags))
		}
	}
	if FindingValue(nil).IsNull() == false || ResourceValue(nil).IsNull() == false {
		t.Error("FindingValue(nil) and ResourceValue(nil) are null")
	}
}

func TestEvalConditionConcurrently(t *testing.T) {
	// Matching runs findings in parallel against one Config.
	expr, cfg := hclExpr(t, `resource.details.public_ip != null && can(regex("^Backdoor", finding.type))`)
	findings := []*schema.Finding{webInstance(t), privateInstance(), accessKey()}
	want := []bool{true, false, false}
	done := make(chan error)
	for w := 0; w < 4; w++ {
		go func() {
			for i := 0; i < 50; i++ {
				for j, f := range findings {
					fv, rv := cfg.ConditionValues(f)
					if got, _ := cfg.EvalCondition(expr, fv, rv); got != want[j] {
						done <- fmt.Errorf("finding %d: got %v", j, got)
						return
					}
				}
			}
			done <- nil
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestConditionValues(t *testing.T) {
	f := webInstance(t)
	for _, tt := range []struct {
		condition string
		raw       bool
	}{
		{`finding.severity == "high"`, false},
		{`resource.details.public_ip != null && finding.resource.id != ""`, false},
		{`try(finding.raw.Service.Count, 0) > 1`, true},
		{`finding["raw"] != null`, true},
		{`length(keys(finding)) > 1`, true},
		{`anytrue([for k, v in finding : k == "x"])`, true},
	} {
		_, cfg := hclExpr(t, tt.condition)
		fv, rv := cfg.ConditionValues(f)
		if got := !fv.GetAttr("raw").IsNull(); got != tt.raw {
			t.Errorf("%s: raw converted = %v, want %v", tt.condition, got, tt.raw)
		}
		if !rv.RawEquals(fv.GetAttr("resource")) || !rv.RawEquals(ResourceValue(&f.Resource)) {
			t.Errorf("%s: the resource value is the finding's primary resource", tt.condition)
		}
	}
	var nilCfg *Config
	if fv, _ := nilCfg.ConditionValues(f); fv.GetAttr("raw").IsNull() {
		t.Error("without a configuration, raw is converted")
	}
}

func hclExpr(t *testing.T, src string) (hcl.Expression, *Config) {
	t.Helper()
	cfg, diags := load(t, map[string]string{"cordon.hcl": "scope \"s\" {\n  condition = " + src + "\n}\n"}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("diagnostics:%s", render(diags))
	}
	return cfg.Scopes["s"].Condition, cfg
}

func TestFindingValue(t *testing.T) {
	f := FindingValue(privateInstance())
	for _, attr := range []string{"title", "description", "account", "region", "partition", "created_at", "updated_at"} {
		if v := f.GetAttr(attr); !v.IsNull() || v.Type() != cty.String {
			t.Errorf("finding.%s = %#v, want a null string", attr, v)
		}
	}
	for _, attr := range []string{"direction", "remote_ip", "remote_port", "domain"} {
		if !f.GetAttr("network").GetAttr(attr).IsNull() {
			t.Errorf("finding.network.%s is not null for a finding without network", attr)
		}
	}
	if !f.GetAttr("actor").GetAttr("user").IsNull() || !f.GetAttr("raw").IsNull() {
		t.Error("actor.user and raw are null")
	}
	details := f.GetAttr("resource").GetAttr("details")
	for _, k := range schema.DetailKeys(schema.ResourceInstance) {
		if !details.Type().HasAttribute(k) {
			t.Errorf("details lack %q", k)
		}
	}
	if !details.GetAttr("public_ip").IsNull() || details.GetAttr("private_ip").AsString() != "10.0.0.9" {
		t.Errorf("details = %#v", details)
	}

	w := FindingValue(webInstance(t))
	if got := w.GetAttr("raw").GetAttr("Service").GetAttr("Count"); !got.RawEquals(cty.NumberIntVal(3)) {
		t.Errorf("raw.Service.Count = %#v", got)
	}
	if got := w.GetAttr("network").GetAttr("local_port"); !got.RawEquals(cty.NumberIntVal(40000)) {
		t.Errorf("network.local_port = %#v", got)
	}
	if got := w.GetAttr("severity_score"); !got.RawEquals(cty.NumberFloatVal(8)) {
		t.Errorf("severity_score = %#v", got)
	}
	sgs := w.GetAttr("resource").GetAttr("details").GetAttr("security_groups")
	if sgs.LengthInt() != 2 || sgs.Index(cty.NumberIntVal(1)).AsString() != "sg-0ssh" {
		t.Errorf("security_groups = %#v", sgs)
	}
	if !w.GetAttr("resources").Index(cty.NumberIntVal(0)).RawEquals(w.GetAttr("resource")) {
		t.Error("resources[0] is the primary resource")
	}
}

func TestJSONValue(t *testing.T) {
	type point struct {
		X int `json:"x"`
	}
	tests := []struct {
		in   any
		want cty.Value
	}{
		{json.Number("12"), cty.NumberIntVal(12)},
		{json.Number("1.5e3"), cty.NumberFloatVal(1500)},
		{json.Number("123456789012345678901234567890"), cty.MustParseNumberVal("123456789012345678901234567890")},
		{json.Number("bogus"), cty.StringVal("bogus")},
		{json.Number("1e8888888"), cty.PositiveInfinity},
		{json.Number("-1e8888888"), cty.NegativeInfinity},
		{json.Number("1e-8888888"), cty.Zero},
		{int32(7), cty.NumberIntVal(7)},
		{uint8(7), cty.NumberIntVal(7)},
		{float32(0.5), cty.NumberFloatVal(0.5)},
		{[]int{1}, cty.TupleVal([]cty.Value{cty.NumberIntVal(1)})},
		{map[string]int{"a": 1}, cty.ObjectVal(map[string]cty.Value{"a": cty.NumberIntVal(1)})},
		{map[int]int{1: 1}, cty.ObjectVal(map[string]cty.Value{"1": cty.NumberIntVal(1)})},
		{point{3}, cty.ObjectVal(map[string]cty.Value{"x": cty.NumberIntVal(3)})},
		{&point{3}, cty.ObjectVal(map[string]cty.Value{"x": cty.NumberIntVal(3)})},
		{(*point)(nil), cty.NullVal(cty.DynamicPseudoType)},
		{[]string(nil), cty.EmptyTupleVal},
		{map[string]any{}, cty.EmptyObjectVal},
		{json.RawMessage(`{"a": [1, "b"]}`), cty.ObjectVal(map[string]cty.Value{"a": cty.TupleVal([]cty.Value{cty.NumberIntVal(1), cty.StringVal("b")})})},
		{make(chan int), cty.UnknownVal(cty.String)}, // any string: no JSON form
	}
	for _, tt := range tests {
		got := jsonValue(tt.in, 0)
		if !tt.want.IsKnown() {
			if got.Type() != tt.want.Type() {
				t.Errorf("jsonValue(%#v) = %#v, want a %s", tt.in, got, tt.want.Type().FriendlyName())
			}
			continue
		}
		if tt.want.IsNull() {
			if !got.IsNull() {
				t.Errorf("jsonValue(%#v) = %#v, want null", tt.in, got)
			}
			continue
		}
		if !got.RawEquals(tt.want) && !got.Equals(tt.want).True() {
			t.Errorf("jsonValue(%#v) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	// A cyclic value ends in null rather than recursing forever.
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	if v := jsonValue(cyclic, 0); v.IsNull() {
		t.Error("the outer value converts")
	}
}

// BenchmarkEvalCondition measures what matching costs per finding and
// condition: converting the finding (with its raw GuardDuty JSON) and
// evaluating a typical scope condition.
func BenchmarkEvalCondition(b *testing.B) {
	f := webInstance(b)
	f.Decoded() // the parser keeps the decoded raw finding
	cfg, diags := Load(LoadOptions{FS: fstestFS(map[string]string{"cordon.hcl": `
variable "ports" { default = [22, 3389] }
scope "web" {
  condition = resource.details.public_ip != null && lookup(resource.tags, "Environment", "") == "prod" && !contains(var.ports, coalesce(finding.network.local_port, 0))
}
`}), Getenv: noEnv})
	if diags.HasErrors() {
		b.Fatal(render(diags))
	}
	expr := cfg.Scopes["web"].Condition
	b.Run("convert+eval", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ok, diags := cfg.EvalCondition(expr, FindingValue(f), ResourceValue(&f.Resource))
			if !ok || diags != nil {
				b.Fatal(ok, render(diags))
			}
		}
	})
	b.Run("ConditionValues+eval", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fv, rv := cfg.ConditionValues(f)
			if ok, diags := cfg.EvalCondition(expr, fv, rv); !ok || diags != nil {
				b.Fatal(ok, render(diags))
			}
		}
	})
	fv, rv := FindingValue(f), ResourceValue(&f.Resource)
	b.Run("eval", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, _ := cfg.EvalCondition(expr, fv, rv); !ok {
				b.Fatal("no match")
			}
		}
	})
	b.Run("FindingValue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			FindingValue(f)
		}
	})
}
