package config

import (
	"strings"
	"testing"
	"time"
)

// serveFiles is a configuration with src appended to a minimal valid one.
func serveFiles(src string) map[string]string {
	return map[string]string{
		"base.hcl":        `scope "any" {}` + "\n" + `rule "r" { scopes = [scope.any] }` + "\n",
		"cordon.hcl":      src,
		"policies/a.rego": "package a\n",
	}
}

func TestSourceBlocks(t *testing.T) {
	cfg, diags := load(t, serveFiles(`
source "sqs" "guardduty_events" {
  queue_url          = "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings"
  wait               = "20s"
  visibility_timeout = "10m"
  max_messages       = 5
}

source "sqs" "local" {
  queue_url = "http://127.0.0.1:4566/123456789012/findings"
  region    = "eu-west-1"
  account   = "210987654321"
}

source "guardduty" "poll" {
  regions  = ["us-west-2", "eu-central-1"]
  interval = "5m"
  lookback = "6h"
  account  = "123456789012"
}
`), LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	want := []string{"sqs.guardduty_events", "sqs.local", "guardduty.poll"}
	if len(cfg.Sources) != len(want) {
		t.Fatalf("%d sources, want %d", len(cfg.Sources), len(want))
	}
	for i, s := range cfg.Sources {
		if s.Address() != want[i] || s.Impl == nil || s.Def == nil || s.Def.Type != s.Type {
			t.Errorf("source %d: %s (impl %T, def %v), want %s", i, s.Address(), s.Impl, s.Def, want[i])
		}
		if s.DeclRange.Filename != "cordon.hcl" {
			t.Errorf("source %s declared in %s", s.Address(), s.DeclRange.Filename)
		}
	}
	if got := cfg.Sources[0].Config.GetAttr("max_messages").AsBigFloat().String(); got != "5" {
		t.Errorf("max_messages decoded as %s", got)
	}
	if v := cfg.Sources[1].Config.GetAttr("wait"); !v.IsNull() {
		t.Errorf("an unset attribute decoded as %#v, want null", v)
	}
}

func TestSourceBlockErrors(t *testing.T) {
	const url = `queue_url = "https://sqs.us-west-2.amazonaws.com/123456789012/q"`
	tests := []struct {
		name, src string
		want      wantDiag
	}{
		{"wait over 20s", "source \"sqs\" \"x\" {\n  " + url + "\n  wait = \"30s\"\n}\n",
			wantDiag{false, "Invalid wait", 3, 10, "wait is 30s; it must be from 1s to 20s."}},
		{"wait not a duration", "source \"sqs\" \"x\" {\n  " + url + "\n  wait = \"twenty\"\n}\n",
			wantDiag{false, "Invalid duration", 3, 10, `"twenty" is not a duration`}},
		{"wait in milliseconds", "source \"sqs\" \"x\" {\n  " + url + "\n  wait = \"1500ms\"\n}\n",
			wantDiag{false, "Invalid wait", 3, 10, `AWS takes it in whole seconds, like "2s"`}},
		{"visibility over 12h", "source \"sqs\" \"x\" {\n  " + url + "\n  visibility_timeout = \"13h\"\n}\n",
			wantDiag{false, "Invalid visibility_timeout", 3, 24, "from 1s to 12h"}},
		{"max_messages 11", "source \"sqs\" \"x\" {\n  " + url + "\n  max_messages = 11\n}\n",
			wantDiag{false, "Invalid max_messages", 3, 18, "a whole number from 1 to 10, not 11"}},
		{"max_messages 2.5", "source \"sqs\" \"x\" {\n  " + url + "\n  max_messages = 2.5\n}\n",
			wantDiag{false, "Invalid max_messages", 3, 18, "not 2.5"}},
		{"queue_url not SQS", "source \"sqs\" \"x\" {\n  queue_url = \"https://hooks.slack.com/services/T0/B0\"\n}\n",
			wantDiag{false, "Invalid queue URL", 2, 15, "its path must be /ACCOUNT/QUEUE"}},
		{"queue_url an ARN", "source \"sqs\" \"x\" {\n  queue_url = \"arn:aws:sqs:us-west-2:123456789012:q\"\n}\n",
			wantDiag{false, "Invalid queue URL", 2, 15, "is not an http(s) URL"}},
		{"queue_url missing", "source \"sqs\" \"x\" {\n  wait = \"5s\"\n}\n",
			wantDiag{false, "Missing required argument", 1, 18, `The argument "queue_url" is required`}},
		{"region not a region", "source \"sqs\" \"x\" {\n  queue_url = \"http://127.0.0.1:4566/123456789012/q\"\n  region = \"moon-1\"\n}\n",
			wantDiag{false, "Invalid region", 3, 12, `"moon-1" is not an AWS region name`}},
		{"region against the URL", "source \"sqs\" \"x\" {\n  " + url + "\n  region = \"eu-west-1\"\n}\n",
			wantDiag{false, "Conflicting region", 3, 12, "The queue URL names region us-west-2"}},
		{"account not an account", "source \"sqs\" \"x\" {\n  " + url + "\n  account = \"1234\"\n}\n",
			wantDiag{false, "Invalid account ID", 3, 13, `"1234" is not an AWS account ID`}},
		{"unknown attribute", "source \"sqs\" \"x\" {\n  " + url + "\n  wiat = \"5s\"\n}\n",
			wantDiag{false, "Unsupported argument", 3, 3, `An argument named "wiat" is not expected here. Did you mean "wait"?`}},
		{"region glob", "source \"guardduty\" \"y\" {\n  regions = [\"us-west-2\", \"eu-*\"]\n}\n",
			wantDiag{false, "Invalid region", 2, 13, `"eu-*" is a glob; a source reads from the regions it names`}},
		{"unknown region", "source \"guardduty\" \"y\" {\n  regions = [\"US-West-2\"]\n}\n",
			wantDiag{false, "Invalid region", 2, 13, `"US-West-2" is not an AWS region name`}},
		{"no regions", "source \"guardduty\" \"y\" {\n  regions = []\n}\n",
			wantDiag{false, "No regions", 2, 13, "regions lists the regions to poll"}},
		{"duplicate region", "source \"guardduty\" \"y\" {\n  regions = [\"us-west-2\", \"us-west-2\"]\n}\n",
			wantDiag{false, "Duplicate region", 2, 13, "us-west-2 is listed twice."}},
		{"interval not a duration", "source \"guardduty\" \"y\" {\n  regions  = [\"us-west-2\"]\n  interval = \"soon\"\n}\n",
			wantDiag{false, "Invalid duration", 3, 14, `"soon" is not a duration`}},
		{"interval too short", "source \"guardduty\" \"y\" {\n  regions  = [\"us-west-2\"]\n  interval = \"100ms\"\n}\n",
			wantDiag{false, "Invalid interval", 3, 14, "from 1s to 24h"}},
		{"lookback past 90 days", "source \"guardduty\" \"y\" {\n  regions  = [\"us-west-2\"]\n  lookback = \"2400h\"\n}\n",
			wantDiag{false, "Invalid lookback", 3, 14, "from 1m to 2160h"}},
		{"unknown type", "source \"kafka\" \"k\" {}\n",
			wantDiag{false, "Unsupported source type", 1, 8, `There is no source type "kafka". The source types are "guardduty" and "sqs"`}},
		{"misspelled type", "source \"sqss\" \"k\" {}\n",
			wantDiag{false, "Unsupported source type", 1, 8, `Did you mean "sqs"?`}},
		{"invalid name", "source \"sqs\" \"1x\" {\n  " + url + "\n}\n",
			wantDiag{false, "Invalid source name", 1, 14, "A name must start with a letter"}},
		{"duplicate source", "source \"sqs\" \"x\" {\n  " + url + "\n}\nsource \"sqs\" \"x\" {\n  " + url + "\n}\n",
			wantDiag{false, `Duplicate source "sqs.x"`, 4, 1, "A source sqs.x was already declared at cordon.hcl:1,1-17."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOneDiag(t, tt.src, tt.want)
		})
	}
}

// checkOneDiag loads src and checks that it has exactly the diagnostic
// want, in cordon.hcl.
func checkOneDiag(t *testing.T, src string, want wantDiag) {
	t.Helper()
	_, diags := load(t, serveFiles(src), LoadOptions{})
	if len(diags) != 1 {
		t.Fatalf("got %d diagnostics, want 1:%s", len(diags), render(diags))
	}
	d := diags[0]
	if d.Summary != want.summary || !strings.Contains(d.Detail, want.detail) {
		t.Errorf("got:%s\nwant %q with detail containing %q", render(diags), want.summary, want.detail)
	}
	if d.Subject == nil || d.Subject.Filename != "cordon.hcl" || d.Subject.Start.Line != want.line || d.Subject.Start.Column != want.col {
		t.Errorf("got:%s\nwant it at cordon.hcl:%d:%d", render(diags), want.line, want.col)
	}
}

func TestServeBlock(t *testing.T) {
	cfg, diags := load(t, serveFiles(`
serve {
  dry_run          = true
  max_concurrent   = 8
  circuit_breaker  = { max_actions = 50, window = "10m" }
  approval_timeout = "2h"
}
`), LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	sv := cfg.Serve
	if !sv.DryRun || sv.MaxConcurrent != 8 || sv.ApprovalTimeout != 2*time.Hour || sv.CircuitBreaker == nil ||
		sv.CircuitBreaker.MaxActions != 50 || sv.CircuitBreaker.Window != 10*time.Minute {
		t.Errorf("serve = %+v, breaker %+v", sv, sv.CircuitBreaker)
	}
	if sv.DeclRange.Filename != "cordon.hcl" || sv.DeclRange.Start.Line != 2 {
		t.Errorf("serve declared at %s", sv.DeclRange)
	}

	// No serve block: the defaults.
	cfg, diags = load(t, serveFiles(""), LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	if sv := cfg.Serve; sv.DryRun || sv.MaxConcurrent != DefaultMaxConcurrent || sv.ApprovalTimeout != DefaultApprovalTimeout || sv.CircuitBreaker != nil {
		t.Errorf("default serve = %+v", sv)
	}
}

func TestServeBlockErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      wantDiag
	}{
		{"max_concurrent 0", "serve {\n  max_concurrent = 0\n}\n",
			wantDiag{false, "Invalid max_concurrent", 2, 20, "a whole number above zero, not 0"}},
		{"max_concurrent fraction", "serve {\n  max_concurrent = 1.5\n}\n",
			wantDiag{false, "Invalid max_concurrent", 2, 20, "not 1.5"}},
		{"dry_run not a bool", "serve {\n  dry_run = \"maybe\"\n}\n",
			wantDiag{false, "Incorrect attribute value type", 2, 13, "a bool is required"}},
		{"circuit_breaker without window", "serve {\n  circuit_breaker = { max_actions = 50 }\n}\n",
			wantDiag{false, "Incorrect attribute value type", 2, 21, `attribute "window" is required`}},
		{"circuit_breaker window null", "serve {\n  circuit_breaker = { max_actions = 50, window = null }\n}\n",
			wantDiag{false, "Invalid circuit_breaker", 2, 21, "circuit_breaker needs a window"}},
		{"circuit_breaker max_actions 0", "serve {\n  circuit_breaker = { max_actions = 0, window = \"10m\" }\n}\n",
			wantDiag{false, "Invalid circuit_breaker.max_actions", 2, 21, "not 0"}},
		{"circuit_breaker bad window", "serve {\n  circuit_breaker = { max_actions = 5, window = \"ten minutes\" }\n}\n",
			wantDiag{false, "Invalid duration", 2, 21, `"ten minutes" is not a positive duration`}},
		{"approval_timeout soon", "serve {\n  approval_timeout = \"soon\"\n}\n",
			wantDiag{false, "Invalid duration", 2, 22, `"soon" is not a positive duration`}},
		{"approval_timeout negative", "serve {\n  approval_timeout = \"-1h\"\n}\n",
			wantDiag{false, "Invalid duration", 2, 22, `"-1h" is not a positive duration`}},
		{"unknown attribute", "serve {\n  max_concurent = 2\n}\n",
			wantDiag{false, "Unsupported argument", 2, 3, `Did you mean "max_concurrent"?`}},
		{"duplicate serve block", "serve {\n  dry_run = true\n}\n\nserve {\n  dry_run = false\n}\n",
			wantDiag{false, "Duplicate serve block", 5, 1, "A serve block was already declared at cordon.hcl:1,1-6. A configuration has at most one."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkOneDiag(t, tt.src, tt.want)
		})
	}
}
