package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// allow_sample_findings is off unless a rule sets it; it takes a bool
// (a variable's too), and anything else is an error at the attribute.
func TestAllowSampleFindings(t *testing.T) {
	rule := func(attr string) string {
		return "variable \"allow\" {\n  type    = bool\n  default = false\n}\nscope \"s\" {}\nrule \"r\" {\n  scopes = [scope.s]\n" + attr + "}\n"
	}
	tests := []struct {
		name    string
		src     string
		values  map[string]cty.Value
		want    bool
		summary string // an error's, at line 8
		detail  string
	}{
		{name: "off by default", src: rule("")},
		{name: "on", src: rule("  allow_sample_findings = true\n"), want: true},
		{name: "off", src: rule("  allow_sample_findings = false\n")},
		{name: "from a variable", src: rule("  allow_sample_findings = var.allow\n"), values: map[string]cty.Value{"allow": cty.True}, want: true},
		{name: "from a string that reads as a bool", src: rule("  allow_sample_findings = \"true\"\n"), want: true},
		// null means unset, as in Terraform.
		{name: "null", src: rule("  allow_sample_findings = null\n")},
		{name: "not a bool", src: rule("  allow_sample_findings = \"yes\"\n"), summary: "Incorrect attribute value type", detail: "a bool is required"},
		{name: "a list", src: rule("  allow_sample_findings = [true]\n"), summary: "Incorrect attribute value type", detail: "bool required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := load(t, map[string]string{"cordon.hcl": tt.src}, LoadOptions{Values: tt.values})
			if tt.summary != "" {
				if len(diags) != 1 || diags[0].Severity != hcl.DiagError || diags[0].Summary != tt.summary ||
					!strings.Contains(diags[0].Detail, tt.detail) || diags[0].Subject == nil || diags[0].Subject.Start.Line != 8 {
					t.Fatalf("diagnostics:%s\nwant one %q at line 8 with detail containing %q", render(diags), tt.summary, tt.detail)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(render(diags))
			}
			if got := cfg.Rules[0].AllowSampleFindings; got != tt.want {
				t.Errorf("AllowSampleFindings = %v, want %v", got, tt.want)
			}
		})
	}
}

// Conditions see finding.sample, so a scope or rule can tell samples apart.
func TestConditionSeesSample(t *testing.T) {
	cfg, diags := load(t, map[string]string{"cordon.hcl": "scope \"s\" {\n  condition = !finding.sample\n}\n"}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(render(diags))
	}
	for _, tt := range []struct {
		additionalInfo string
		want           bool
	}{
		{`{"sample":true}`, false},
		{`{"value":"{\"sample\":true}","type":"default"}`, false},
		{`{}`, true},
	} {
		fs, err := schema.Parse("f.json", []byte(`{"id":"f","type":"Backdoor:EC2/C&CActivity.B!DNS","severity":8,"accountId":"1","region":"eu-west-1",`+
			`"resource":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-1"}},"service":{"serviceName":"guardduty","additionalInfo":`+tt.additionalInfo+`}}`))
		if err != nil {
			t.Fatal(err)
		}
		fv, rv := cfg.ConditionValues(fs[0])
		ok, d := cfg.EvalCondition(cfg.Scopes["s"].Condition, fv, rv)
		if d.HasErrors() || ok != tt.want {
			t.Errorf("additionalInfo %s: condition %v %v, want %v", tt.additionalInfo, ok, d, tt.want)
		}
	}
}
