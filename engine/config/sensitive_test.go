package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
)

// The secret the tests below give sensitive variables: it must appear in
// no diagnostic, description or rendering.
const secret = "s3cr3t-t0ken"

const sensitiveConfig = `variable "hook" {
  type      = string
  sensitive = true
}

variable "public" {
  type    = string
  default = "https://hooks.example.com/public"
}

locals {
  hook_url = "${var.hook}/cordon"
  plain    = upper("x")
}

scope "owned" {
  condition = lookup(resource.tags, "Owner", "") == var.hook
}

action "notify" {
  type    = "webhook"
  url     = local.hook_url
  headers = { Authorization = "Bearer ${var.hook}" }
}

action "notify_public" {
  type = "webhook"
  url  = var.public
}

action "slack" {
  type = "slack"
  url  = local.hook_url
}
`

// TestSensitiveVariable checks a sensitive variable's value is marked
// wherever it flows in the configuration, is used unmarked where it is
// acted on, and is shown only as (sensitive value).
func TestSensitiveVariable(t *testing.T) {
	cfg, diags := load(t, map[string]string{"cordon.hcl": sensitiveConfig},
		LoadOptions{Getenv: env(map[string]string{"CORDON_VAR_hook": "https://hooks.example.com/" + secret})})
	if diags.HasErrors() {
		t.Fatalf("diagnostics:%s", render(diags))
	}
	v := cfg.Variables["hook"]
	if !v.Sensitive || !v.Given || v.Value.IsMarked() || v.Value.AsString() != "https://hooks.example.com/"+secret {
		t.Errorf("hook: sensitive %v, given %v, value %#v", v.Sensitive, v.Given, v.Value)
	}
	if p := cfg.Variables["public"]; p.Sensitive || p.Given {
		t.Errorf("public: sensitive %v, given %v", p.Sensitive, p.Given)
	}
	if !cfg.Locals["hook_url"].HasMark(SensitiveMark) || cfg.Locals["plain"].IsMarked() {
		t.Errorf("locals: hook_url marked %v, plain marked %v", cfg.Locals["hook_url"].IsMarked(), cfg.Locals["plain"].IsMarked())
	}

	notify := cfg.Actions["notify"]
	for _, attr := range []string{"url", "headers"} {
		if !notify.Config.GetAttr(attr).ContainsMarked() {
			t.Errorf("notify's %s is not marked sensitive", attr)
		}
	}
	for name, want := range map[string]string{"notify": SensitiveValue, "slack": SensitiveValue, "notify_public": "https://hooks.example.com/…"} {
		change := cfg.Actions[name].Impl.Describe(&actions.Request{IncidentID: "inc-1"})
		if got := change.After["post"]; got != want {
			t.Errorf("%s shows post = %v, want %q", name, got, want)
		}
	}

	// Expressions evaluated outside the configuration (scenario tests)
	// see the value unmarked.
	got, d := cfg.Variables["hook"].Value, hcl.Diagnostics(nil)
	ctx := cfg.EvalContext()
	var traversalVal cty.Value
	traversalVal, d = hcl.Traversal{hcl.TraverseRoot{Name: "var"}, hcl.TraverseAttr{Name: "hook"}}.TraverseAbs(ctx)
	if d.HasErrors() || traversalVal.IsMarked() || !traversalVal.RawEquals(got) {
		t.Errorf("EvalContext var.hook = %#v%s", traversalVal, render(d))
	}

	// A condition on it decides as any other.
	owned := cfg.Scopes["owned"].Condition
	for owner, want := range map[string]bool{"https://hooks.example.com/" + secret: true, "someone": false} {
		resource := cty.ObjectVal(map[string]cty.Value{"tags": cty.MapVal(map[string]cty.Value{"Owner": cty.StringVal(owner)})})
		ok, diags := cfg.EvalCondition(owned, cty.EmptyObjectVal, resource)
		if ok != want || diags.HasErrors() {
			t.Errorf("condition with Owner %q = %v%s, want %v", owner, ok, render(diags), want)
		}
	}
}

// TestSensitiveAttribute checks the sensitive attribute is a constant
// boolean.
func TestSensitiveAttribute(t *testing.T) {
	tests := []struct {
		value, summary, detail string
	}{
		{`"yes"`, "Invalid value for sensitive", "not a string (write true without quotes)"},
		{`1`, "Invalid value for sensitive", "not a number"},
		{`null`, "Invalid value for sensitive", "not null"},
		{`var.other`, "Variables not allowed", ""},
	}
	for _, tt := range tests {
		src := "variable \"other\" { default = true }\nvariable \"x\" {\n  default   = \"v\"\n  sensitive = " + tt.value + "\n}\n"
		_, diags := load(t, map[string]string{"cordon.hcl": src}, LoadOptions{})
		if len(diags) != 1 || diags[0].Summary != tt.summary || !strings.Contains(diags[0].Detail, tt.detail) || rangePos(diags[0].Subject) != "4:15" {
			t.Errorf("sensitive = %s:%s\nwant %q at 4:15", tt.value, render(diags), tt.summary)
		}
	}
	cfg, diags := load(t, map[string]string{"cordon.hcl": "variable \"x\" {\n  default   = \"v\"\n  sensitive = false\n}\n"}, LoadOptions{})
	if diags.HasErrors() || cfg.Variables["x"].Sensitive || cfg.Variables["x"].Given {
		t.Errorf("sensitive = false:%s", render(diags))
	}
}

// TestSensitiveValueNotAllowed checks a sensitive value is refused where it
// would be shown or recorded: collectors, and the attributes of actions
// that show or record them.
func TestSensitiveValueNotAllowed(t *testing.T) {
	tests := []struct {
		name, block, attr, detail string
	}{
		{"isolation group", `action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.s
}`, "security_group_id", "Action type aws_ec2_isolate takes no sensitive values"},
		{"derived tag", `action "tag" {
  type = "aws_ec2_tag"
  tags = { owner = lower(var.s) }
}`, "tags", "Action type aws_ec2_tag takes no sensitive values"},
		{"webhook timeout", `action "notify" {
  type    = "webhook"
  url     = "https://hooks.example.com/x"
  timeout = var.s
}`, "timeout", `only "headers", "secret" and "url" may take sensitive values`},
		{"slack channel", `action "slack" {
  type    = "slack"
  url     = "https://hooks.slack.com/services/x"
  channel = var.s
}`, "channel", `only "url" may take sensitive values`},
		{"collector", `collector "trail" {
  type     = "aws_cloudtrail_events"
  lookback = var.s
}`, "lookback", "Collectors record what they gather as facts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "variable \"s\" {\n  default   = \"sg-0" + secret + "\"\n  sensitive = true\n}\n" + tt.block + "\n"
			_, diags := load(t, map[string]string{"cordon.hcl": src}, LoadOptions{})
			if len(diags) != 1 || diags[0].Summary != "Sensitive value not allowed here" || !strings.Contains(diags[0].Detail, `"`+tt.attr+`"`) ||
				!strings.Contains(diags[0].Detail, tt.detail) || diags[0].Subject == nil || diags[0].Subject.Start.Line < 5 {
				t.Errorf("diagnostics:%s\nwant one about %s saying %q", render(diags), tt.attr, tt.detail)
			}
			if out := renderText(diags, nil); strings.Contains(out, secret) {
				t.Errorf("the diagnostic shows the value:\n%s", out)
			}
		})
	}
}

// renderText renders diagnostics as the CLI does, with snippets and the
// values of the variables an expression refers to.
func renderText(diags hcl.Diagnostics, cfg *Config) string {
	var b bytes.Buffer
	files := map[string]*hcl.File{}
	if cfg != nil {
		files = cfg.Files
	}
	hcl.NewDiagnosticTextWriter(&b, files, 0, false).WriteDiagnostics(diags)
	return b.String()
}

// TestSensitiveValueNeverInDiagnostics checks that no diagnostic shows a
// sensitive value: in its detail, its snippet, or the values of the
// variables its expression refers to.
func TestSensitiveValueNeverInDiagnostics(t *testing.T) {
	base := `variable "n" {
  type      = number
  default   = 1
  sensitive = true
}

variable "list" {
  type      = list(string)
  default   = []
  sensitive = true
}

variable "s" {
  type      = string
  default   = "x"
  sensitive = true
}
`
	tests := []struct {
		name     string
		extra    string
		env      map[string]string
		vars     []string
		varFiles []string
		summary  string
		detail   string // when checked: the whole detail
	}{
		{name: "var file value of the wrong type", varFiles: []string{`n = "` + secret + `"`}, summary: "Invalid value for input variable"},
		{name: "var file value with a reference", varFiles: []string{`s = "` + secret + `${var.x}"`}, summary: "Invalid value for input variable"},
		{name: "environment value of the wrong type", env: map[string]string{"CORDON_VAR_n": secret}, summary: "Invalid value for input variable"},
		{name: "-var that does not parse", vars: []string{"list=[\"" + secret + "\","}, summary: "Invalid value for input variable"},
		{name: "-var of the wrong type", vars: []string{`list={a="` + secret + `"}`}, summary: "Invalid value for input variable"},
		{name: "huge -var", vars: []string{"n=1e8888888"}, summary: "Number out of range"},
		{name: "invalid webhook URL", env: map[string]string{"CORDON_VAR_s": "ftp://" + secret},
			extra: "action \"notify\" {\n  type = \"webhook\"\n  url  = var.s\n}\n", summary: "Invalid URL"},
		{name: "invalid header", env: map[string]string{"CORDON_VAR_s": secret + " x"},
			extra: "action \"notify\" {\n  type    = \"webhook\"\n  url     = \"https://hooks.example.com/x\"\n  headers = { (var.s) = \"v\" }\n}\n", summary: "Invalid header name",
			detail: `"(sensitive value)" is not a valid HTTP header name.`},
		{name: "condition that is the string", env: map[string]string{"CORDON_VAR_s": secret},
			extra: "scope \"x\" {\n  condition = var.s\n}\n", summary: "Invalid condition result"},
		{name: "attribute of the wrong type", env: map[string]string{"CORDON_VAR_s": secret},
			extra: "rule \"r\" {\n  scopes  = []\n  actions = []\n  enabled = var.s\n}\n", summary: "Incorrect attribute value type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := writeVarFiles(t, tt.varFiles, ".hcl")
			cfg, diags := load(t, map[string]string{"cordon.hcl": base + tt.extra},
				LoadOptions{Vars: tt.vars, VarFiles: files, Getenv: env(tt.env)})
			found := false
			for _, d := range diags {
				found = found || d.Summary == tt.summary && (tt.detail == "" || d.Detail == tt.detail)
			}
			if !found {
				t.Fatalf("diagnostics:%s\nwant %q", render(diags), tt.summary)
			}
			for name, out := range map[string]string{"text": renderText(diags, cfg), "summaries": render(diags)} {
				if strings.Contains(out, secret) || strings.Contains(out, "8888") {
					t.Errorf("the %s show the value:\n%s", name, out)
				}
			}
		})
	}
}
