package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/schema"
)

var update = flag.Bool("update", false, "rewrite golden files")

// noEnv is a Getenv with nothing set, so tests do not depend on the
// environment they run in.
func noEnv(string) (string, bool) { return "", false }

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// render formats diagnostics for test failure messages.
func render(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		pos := "(no range)"
		if d.Subject != nil {
			pos = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(&b, "\n  %s %s: %s: %s", sev, pos, d.Summary, d.Detail)
	}
	return b.String()
}

func TestLoadValid(t *testing.T) {
	dir := filepath.Join("testdata", "valid")
	cfg, diags := Load(LoadOptions{Dir: dir, Getenv: env(map[string]string{"CORDON_PG_DSN": "postgres://cordon@db/cordon"})})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(summarize(t, cfg)); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden := filepath.Join("testdata", "valid.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("loaded configuration differs from %s (go test -update rewrites it):\n%s", golden, got)
	}

	// What the golden file cannot show.
	if _, ok := cfg.Files[filepath.Join(dir, "ignored.test.hcl")]; ok {
		t.Error("a *.test.hcl file was loaded as configuration")
	}
	if len(cfg.Files) != 2 {
		t.Errorf("Files has %d entries, want cordon.hcl and rules.hcl", len(cfg.Files))
	}
	for name, c := range cfg.Collectors {
		if c.Impl == nil || c.Def == nil {
			t.Errorf("collector %s has no implementation", name)
		}
	}
	for name, a := range cfg.Actions {
		if a.Impl == nil || a.Def == nil {
			t.Errorf("action %s has no implementation", name)
		}
	}
}

// summarize is the part of a Config the golden file records: everything
// but the implementations, with ranges and expressions as text.
func summarize(t *testing.T, cfg *Config) map[string]any {
	t.Helper()
	source := func(expr hcl.Expression) any {
		if expr == nil {
			return nil
		}
		r := expr.Range()
		return string(r.SliceBytes(cfg.Files[r.Filename].Bytes))
	}
	value := func(v cty.Value) json.RawMessage {
		if v == cty.NilVal {
			return json.RawMessage("null")
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	vars := map[string]any{}
	for n, v := range cfg.Variables {
		vars[n] = map[string]any{
			"description": v.Description, "type": v.Type.FriendlyName(),
			"default": value(v.Default), "value": value(v.Value), "range": v.DeclRange.String(),
		}
	}
	locals := map[string]any{}
	for n, v := range cfg.Locals {
		locals[n] = value(v)
	}
	scopes := map[string]any{}
	for n, s := range cfg.Scopes {
		scopes[n] = map[string]any{
			"description": s.Description, "accounts": s.Accounts, "regions": s.Regions,
			"resource_types": s.ResourceTypes, "tags": s.Tags, "exclude_tags": s.ExcludeTags,
			"condition": source(s.Condition), "range": s.DeclRange.String(),
		}
	}
	collectors := map[string]any{}
	for n, c := range cfg.Collectors {
		collectors[n] = map[string]any{"type": c.Type, "timeout": c.Timeout.String(), "required": c.Required, "range": c.DeclRange.String()}
	}
	actions := map[string]any{}
	for n, a := range cfg.Actions {
		actions[n] = map[string]any{"type": a.Type, "config": value(a.Config), "range": a.DeclRange.String()}
	}
	var rules []any
	for _, r := range cfg.Rules {
		rules = append(rules, map[string]any{
			"name": r.Name, "description": r.Description, "scopes": r.Scopes, "sources": r.Sources,
			"finding_types": r.FindingTypes, "min_severity": r.MinSeverity, "condition": source(r.Condition),
			"collect": r.Collect, "verdict": r.Verdict, "verdict_range": r.VerdictRange.String(),
			"response": r.Response, "response_range": r.ResponseRange.String(), "actions": r.Actions,
			"approval": r.Approval, "max_actions_per_hour": r.MaxActionsPerHour, "enabled": r.Enabled,
			"range": r.DeclRange.String(),
		})
	}
	var provider any
	if p := cfg.Provider; p != nil {
		provider = map[string]any{"region": p.Region, "profile": p.Profile, "endpoint": p.Endpoint,
			"assume_role_arn": p.AssumeRoleARN, "range": p.DeclRange.String()}
	}
	var policyRange any
	if cfg.PolicyPathsRange != nil {
		policyRange = cfg.PolicyPathsRange.String()
	}
	return map[string]any{
		"dir": cfg.Dir, "digest": cfg.Digest, "policy_paths": cfg.PolicyPaths, "policy_paths_range": policyRange,
		"state":    map[string]any{"backend": cfg.State.Backend, "path": cfg.State.Path, "dsn": cfg.State.DSN},
		"provider": provider, "variables": vars, "locals": locals, "scopes": scopes,
		"collectors": collectors, "actions": actions, "rules": rules,
	}
}

// wantDiag is one expected diagnostic: severity, summary, position in
// cordon.hcl of the case's directory, and a fragment of the detail.
type wantDiag struct {
	warning   bool
	summary   string
	line, col int
	detail    string
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		dir  string
		want []wantDiag
	}{
		{"malformed", []wantDiag{{false, "Missing item separator", 3, 1, "Expected a comma"}}},
		{"unknown_block", []wantDiag{{false, "Unsupported block type", 3, 1, `Did you mean "rule"?`}}},
		{"unknown_attribute", []wantDiag{{false, "Unsupported argument", 2, 3, `Did you mean "accounts"?`}}},
		{"undeclared_scope", []wantDiag{{false, "Reference to undeclared scope", 5, 28, `A scope named "prod_wbe" has not been declared. Did you mean "prod_web"?`}}},
		{"wrong_reference_kind", []wantDiag{
			{false, "Invalid reference", 5, 14, "Expected scope.NAME, a reference to a scope block, in scopes; got collector.describe."},
			{false, "Invalid reference", 6, 34, `"describe" is a string. Write collector.describe, without quotes.`},
		}},
		{"duplicate_names", []wantDiag{{false, `Duplicate scope "web"`, 5, 1, "already declared at testdata/invalid/duplicate_names/cordon.hcl:1,1-12"}}},
		{"duplicate_locals", []wantDiag{{false, "Duplicate local value definition", 6, 3, "already defined at testdata/invalid/duplicate_locals/cordon.hcl:2,3-30"}}},
		{"unknown_collector_type", []wantDiag{{false, "Unsupported collector type", 2, 10, `Did you mean "aws_ec2_describe"? The collector types are "aws_cloudtrail_events"`}}},
		{"unknown_action_type", []wantDiag{{false, "Unsupported action type", 2, 10, `There is no action type "aws_ec2_isolation".`}}},
		{"isolate_wait_without_untrack", []wantDiag{{false, "Untracking is not on", 3, 18, "set untrack = true"}}},
		{"invalid_security_group_id", []wantDiag{{false, "Invalid security group ID", 3, 23, `"web" is not a security group ID`}}},
		{"wrong_attribute_type", []wantDiag{{false, "Incorrect attribute value type", 3, 23, `Inappropriate value for attribute "security_group_id": string required`}}},
		{"bad_enums", []wantDiag{
			{false, "Invalid source", 5, 40, `Did you mean "guardduty"?`},
			{false, "Invalid severity", 6, 26, `must be one of "informational", "low", "medium", "high" or "critical". Did you mean "high"?`},
			{false, "Invalid approval mode", 7, 26, `approval must be one of "auto" or "manual".`},
			{false, "Invalid max_actions_per_hour", 8, 26, "-1 is not a whole number of actions, 0 or more"},
			{false, "Invalid policy package", 9, 26, `without "data.": "cordon.verdict"`},
			{false, "Invalid policy package", 10, 26, `"cordon response" is not a Rego package path`},
		}},
		{"bad_accounts", []wantDiag{
			{false, "Invalid account ID", 2, 31, `"1234" is not an AWS account ID`},
			{false, "Invalid account ID", 2, 39, `"22222222222x" is not an AWS account ID`},
		}},
		{"locals_cycle", []wantDiag{{false, "Cycle in local values", 2, 3, "local.a → local.b → local.c → local.a"}}},
		{"undeclared_var", []wantDiag{{false, "Reference to undeclared input variable", 8, 23, `"isolaton_sg" has not been declared. Did you mean "isolation_sg"?`}}},
		{"required_var", []wantDiag{{false, "No value for required variable", 1, 1, "CORDON_VAR_isolation_sg"}}},
		{"condition_typo", []wantDiag{
			{false, "Unsupported attribute", 2, 23, `resource has no attribute named "detials". Did you mean "details"?`},
			{false, "Unsupported attribute", 7, 22, `finding has no attribute named "severty". Did you mean "severity"?`},
		}},
		{"file_missing", []wantDiag{{false, "Invalid function argument", 3, 26, `no file exists at "webhook_url.txt"`}}},
		{"no_files", []wantDiag{{false, "No configuration files", 0, 0, "contains no cordon configuration files"}}},
		{"condition_not_bool", []wantDiag{{false, "Invalid condition result", 5, 15, "must be true or false, not a number"}}},
		{"unknown_function", []wantDiag{
			{false, "Call to unknown function", 2, 15, `Did you mean "lower"?`},
			{false, "Call to unknown function", 7, 36, "it reads the clock"},
		}},
		{"finding_outside_condition", []wantDiag{{false, "Invalid reference", 3, 39, "finding is only available in condition expressions"}}},
		{"provider", []wantDiag{
			{false, "Unsupported provider", 1, 10, `"azure" is not supported`},
			{false, "Duplicate provider configuration", 7, 1, "already declared at testdata/invalid/provider/cordon.hcl:3,1-15"},
		}},
		{"collector_timeout", []wantDiag{
			{false, "Invalid timeout", 3, 13, `"3 minutes" is not a positive duration`},
			{false, "Unsupported argument", 8, 3, `Did you mean "timeout"?`},
		}},
		{"rule_scopes", []wantDiag{
			{false, "No scopes", 4, 12, "A rule must list at least one scope"},
			{false, "Missing required argument", 7, 23, `The argument "scopes" is required`},
			{false, "Invalid reference list", 12, 12, "scopes must be a list of references written out"},
		}},
		{"variable_default", []wantDiag{
			{false, "Invalid default value for variable", 3, 13, "element 0: a number is required"},
			{false, "Invalid type specification", 7, 13, `"strin" is not a valid type specification`},
		}},
		{"unknown_resource_type", []wantDiag{{true, "Unknown resource type", 2, 37, `Did you mean "aws_instance"?`}}},
		{"policy_path", []wantDiag{
			{false, "Policy path not found", 2, 19, `There is no "rego"`},
			{false, "Invalid policy path", 2, 27, "must be relative to the configuration directory and stay inside it"},
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.dir] = true
		t.Run(tt.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", "invalid", tt.dir)
			cfg, diags := Load(LoadOptions{Dir: dir, Getenv: noEnv})
			if cfg == nil {
				t.Fatal("Load returned no Config")
			}
			if len(diags) != len(tt.want) {
				t.Fatalf("got %d diagnostics, want %d:%s", len(diags), len(tt.want), render(diags))
			}
			for i, w := range tt.want {
				d := diags[i]
				if (d.Severity == hcl.DiagWarning) != w.warning || d.Summary != w.summary || !strings.Contains(d.Detail, w.detail) {
					t.Errorf("diagnostic %d:%s\nwant summary %q, warning %v, detail containing %q", i, render(diags[i:i+1]), w.summary, w.warning, w.detail)
				}
				if w.line == 0 {
					if d.Subject != nil {
						t.Errorf("diagnostic %d has a range, want none:%s", i, render(diags[i:i+1]))
					}
					continue
				}
				wantFile := filepath.Join(dir, "cordon.hcl")
				if d.Subject == nil || d.Subject.Filename != wantFile || d.Subject.Start.Line != w.line || d.Subject.Start.Column != w.col {
					t.Errorf("diagnostic %d:%s\nwant it at %s:%d:%d", i, render(diags[i:i+1]), wantFile, w.line, w.col)
				}
				if d.Subject != nil && cfg.Files[d.Subject.Filename] == nil {
					t.Errorf("diagnostic %d names %s, which is not in Files (no snippet)", i, d.Subject.Filename)
				}
			}
		})
	}
	// Every fixture is in the table.
	dirs, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*"))
	for _, d := range dirs {
		if !seen[filepath.Base(d)] {
			t.Errorf("fixture %s has no test case", d)
		}
	}
}

// load loads files given as a map (name → content) through an in-memory
// FS.
func load(t *testing.T, files map[string]string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	t.Helper()
	opts.FS = fstestFS(files)
	if opts.Getenv == nil {
		opts.Getenv = noEnv
	}
	return Load(opts)
}

func fstestFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

func TestLoadDefaults(t *testing.T) {
	cfg, diags := load(t, map[string]string{
		"cordon.hcl":         `scope "any" {}` + "\n" + `rule "r" { scopes = [scope.any] }`,
		"policies/a.rego":    "package a\n",
		".#cordon.hcl":       "not hcl {{",
		"cordon.hcl~":        "not hcl {{",
		"sub/nested.hcl":     "not hcl {{",
		"scenario.test.hcl":  "not hcl {{",
		"readme.md":          "not hcl {{",
		"#autosave.hcl#":     "not hcl {{",
		"collector_only.hcl": "collector \"f\" {\n  type = \"file\"\n  path = \"x.json\"\n}\n",
	}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	if !slices.Equal(cfg.PolicyPaths, []string{"policies"}) || cfg.PolicyPathsRange != nil {
		t.Errorf("PolicyPaths = %v (range %v), want the default [policies]", cfg.PolicyPaths, cfg.PolicyPathsRange)
	}
	if cfg.State.Backend != "sqlite" || cfg.State.Path != ".cordon/state.db" {
		t.Errorf("State = %+v, want the sqlite default", cfg.State)
	}
	if cfg.Provider != nil {
		t.Errorf("Provider = %+v, want nil", cfg.Provider)
	}
	r := cfg.Rules[0]
	if r.Verdict != "cordon.verdict" || r.Response != "cordon.response" || r.Approval != "auto" || !r.Enabled || r.MaxActionsPerHour != 0 {
		t.Errorf("rule defaults: %+v", r)
	}
	if r.VerdictRange != r.DeclRange || r.ResponseRange != r.DeclRange {
		t.Errorf("defaulted package ranges %v, %v; want the block's %v", r.VerdictRange, r.ResponseRange, r.DeclRange)
	}
	if c := cfg.Collectors["f"]; c.Timeout != DefaultCollectorTimeout || c.Required {
		t.Errorf("collector defaults: timeout %v, required %v", c.Timeout, c.Required)
	}
	if len(cfg.Files) != 2 {
		t.Errorf("loaded %v, want cordon.hcl and collector_only.hcl only", keys(cfg.Files))
	}

	// Without a policies directory there are no default policy paths.
	cfg, diags = load(t, map[string]string{"cordon.hcl": ""}, LoadOptions{})
	if diags.HasErrors() || cfg.PolicyPaths != nil {
		t.Errorf("PolicyPaths = %v, diagnostics:%s", cfg.PolicyPaths, render(diags))
	}
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }

func TestLoadDisplayNamesAndDigest(t *testing.T) {
	files := map[string]string{"a.hcl": `scope "x" {}`, "b.hcl": `scope "y" {}`}
	root, _ := load(t, files, LoadOptions{})
	sub, _ := load(t, files, LoadOptions{Dir: "conf"})
	if _, ok := root.Files["a.hcl"]; !ok {
		t.Errorf("Dir \".\": files %v, want bare names", keys(root.Files))
	}
	if _, ok := sub.Files[filepath.Join("conf", "a.hcl")]; !ok {
		t.Errorf("Dir \"conf\": files %v, want conf/a.hcl", keys(sub.Files))
	}
	if root.Digest != sub.Digest || !strings.HasPrefix(root.Digest, "sha256:") || len(root.Digest) != len("sha256:")+64 {
		t.Errorf("digests %q and %q: want one sha256 whatever the directory is called", root.Digest, sub.Digest)
	}
	changed, _ := load(t, map[string]string{"a.hcl": `scope "x" {}`, "b.hcl": `scope "y" { }`}, LoadOptions{})
	renamed, _ := load(t, map[string]string{"a.hcl": `scope "x" {}`, "c.hcl": `scope "y" {}`}, LoadOptions{})
	moved, _ := load(t, map[string]string{"a.hcl": `scope "x" {}scope "y" {}`, "b.hcl": ``}, LoadOptions{})
	for name, c := range map[string]*Config{"content": changed, "name": renamed, "split": moved} {
		if c.Digest == root.Digest {
			t.Errorf("changing a file's %s kept the digest", name)
		}
	}
}

func TestLoadBlocksSpreadOverFiles(t *testing.T) {
	// References work across files and in any order.
	cfg, diags := load(t, map[string]string{
		"a_rules.hcl": `rule "r" {
  scopes  = [scope.web]
  collect = [collector.d]
  actions = [action.iso]
}`,
		"b_scopes.hcl": `scope "web" { accounts = local.accounts }`,
		"c_locals.hcl": `locals { accounts = [var.account] }`,
		"d_vars.hcl":   `variable "account" { default = "123456789012" }`,
		"e_plugins.hcl": `collector "d" { type = "aws_ec2_describe" }
action "iso" {
  type              = "aws_ec2_isolate"
  security_group_id = local.sg
}
locals { sg = "sg-0123abcd" }`,
	}, LoadOptions{})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	if got := cfg.Scopes["web"].Accounts; !slices.Equal(got, []string{"123456789012"}) {
		t.Errorf("accounts = %v", got)
	}
	if got := cfg.Actions["iso"].Config.GetAttr("security_group_id").AsString(); got != "sg-0123abcd" {
		t.Errorf("security_group_id = %q", got)
	}
}

func TestLoadMoreErrors(t *testing.T) {
	// Cases that need no fixture of their own: each source gives exactly
	// the diagnostics listed (cordon.hcl, line and column).
	tests := []struct {
		name string
		src  string
		want []wantDiag
	}{
		{"duplicate cordon block", "cordon {}\ncordon {}\n", []wantDiag{{false, "Duplicate cordon block", 2, 1, "already declared at cordon.hcl:1,1-7"}}},
		{"duplicate state block", "cordon {\n  state {}\n  state {}\n}\n", []wantDiag{{false, "Duplicate state block", 3, 3, ""}}},
		{"bad backend", "cordon {\n  state { backend = \"sqlit\" }\n}\n", []wantDiag{{false, "Invalid state backend", 2, 21, `Did you mean "sqlite"?`}}},
		{"postgres without dsn", "cordon {\n  state { backend = \"postgres\" }\n}\n", []wantDiag{{false, "Missing required argument", 2, 3, "needs a dsn"}}},
		{"bad endpoint", "provider \"aws\" {\n  endpoint = \"localhost:4566\"\n}\n", []wantDiag{{false, "Invalid endpoint", 2, 14, "not an absolute http"}}},
		{"invalid name", "scope \"prod web\" {}\n", []wantDiag{{false, "Invalid scope name", 1, 7, "scope.NAME"}}},
		{"duplicate rule", "scope \"s\" {}\nrule \"r\" { scopes = [scope.s] }\nrule \"r\" { scopes = [scope.s] }\n", []wantDiag{{false, `Duplicate rule "r"`, 3, 1, ""}}},
		{"duplicate variable", "variable \"v\" { default = 1 }\nvariable \"v\" { default = 2 }\n", []wantDiag{{false, `Duplicate variable "v"`, 2, 1, ""}}},
		{"var object alone", "locals { x = var }\n", []wantDiag{{false, "Invalid reference", 1, 14, "name one of its values"}}},
		{"unknown root", "locals { x = vars.a }\n", []wantDiag{{false, "Invalid reference", 1, 14, `Did you mean "var"?`}}},
		{"undeclared local", "locals {\n  accounts = [\"1\"]\n  x = local.acounts\n}\n", []wantDiag{{false, "Reference to undeclared local value", 3, 7, `Did you mean "accounts"?`}}},
		{"scope reference outside a rule", "scope \"s\" {}\nlocals { x = scope.s }\n", []wantDiag{{false, "Invalid reference", 2, 14, "from a rule's scopes list"}}},
		{"condition root", "scope \"s\" {\n  condition = findings.id == \"x\"\n}\n", []wantDiag{{false, "Invalid reference", 2, 15, `Did you mean "finding"?`}}},
		{"nested condition attribute", "scope \"s\" {\n  condition = finding.network.remote_pot == 22\n}\n", []wantDiag{{false, "Unsupported attribute", 2, 30, `finding.network has no attribute named "remote_pot". Did you mean "remote_port"?`}}},
		{"attribute of a string", "scope \"s\" {\n  condition = finding.severity.label == \"x\"\n}\n", []wantDiag{{false, "Unsupported attribute", 2, 31, "finding.severity is a string"}}},
		{"resources element", "scope \"s\" {\n  condition = finding.resources[0].tpye == \"x\"\n}\n", []wantDiag{{false, "Unsupported attribute", 2, 35, `Did you mean "type"?`}}},
		{"condition type error", "scope \"s\" {\n  condition = finding.count + \"x\" > 1\n}\n", []wantDiag{{false, "Invalid operand", 2, 31, "a number is required"}}},
		{"condition wrong argument count", "scope \"s\" {\n  condition = startswith(finding.type) \n}\n", []wantDiag{{false, "Not enough function arguments", 2, 38, ""}}},
		{"quoted scope", "scope \"web\" {}\nrule \"r\" { scopes = [\"web\"] }\n", []wantDiag{{false, "Invalid reference", 2, 22, `"web" is a string. Write scope.web, without quotes.`}}},
		{"duplicate reference", "scope \"web\" {}\nrule \"r\" { scopes = [scope.web, scope.web] }\n", []wantDiag{{true, "Duplicate reference", 2, 33, "listed twice"}}},
		{"null element", "scope \"web\" {\n  regions = [\"us-west-2\", null]\n}\n", []wantDiag{{false, "Invalid value", 2, 27, "Element 1 of \"regions\" is null"}}},
		{"fractional max_actions_per_hour", "scope \"s\" {}\nrule \"r\" {\n  scopes = [scope.s]\n  max_actions_per_hour = 1.5\n}\n", []wantDiag{{false, "Invalid max_actions_per_hour", 4, 26, "1.5 is not a whole number"}}},
		{"collector attribute error", "collector \"f\" {\n  type = \"file\"\n  path = \"\"\n}\n", []wantDiag{{false, "Empty path", 3, 10, "needs the path of a JSON file"}}},
		{"webhook url", "action \"n\" {\n  type = \"webhook\"\n  url  = \"hooks.example.com/x\"\n}\n", []wantDiag{{false, "Invalid URL", 3, 10, "absolute http"}}},
		// Empty, a notification is declared but not configured: a warning
		// naming what to set, not an error.
		{"webhook url unset", "action \"n\" {\n  type = \"webhook\"\n  url  = env(\"UNSET\")\n}\n", []wantDiag{{true, "Action not configured", 3, 10, "Set url in the action block"}}},
		{"slack url from an unset variable", "variable \"hook\" {\n  default = \"\"\n}\naction \"n\" {\n  type = \"slack\"\n  url  = var.hook\n}\n", []wantDiag{{true, "Action not configured", 6, 10, "Set variable hook (for example with CORDON_VAR_hook"}}},
		{"failed variable does not cascade", "variable \"n\" {\n  type    = number\n  default = \"x\"\n}\naction \"i\" {\n  type              = \"aws_ec2_isolate\"\n  security_group_id = \"sg-${var.n}\"\n}\n", []wantDiag{{false, "Invalid default value for variable", 3, 13, "a number is required"}}},
		{"undeclared var does not cascade", "locals {\n  a = var.nope\n  b = upper(local.a)\n}\naction \"i\" {\n  type              = \"aws_ec2_isolate\"\n  security_group_id = local.b\n}\n", []wantDiag{{false, "Reference to undeclared input variable", 2, 7, ""}}},
		{"variable in a default", "variable \"a\" { default = \"x\" }\nvariable \"b\" { default = var.a }\n", []wantDiag{{false, "Variables not allowed", 2, 26, ""}}},
		{"not a block", "scopes = []\n", []wantDiag{{false, "Unsupported argument", 1, 1, ""}}},
		{"huge number", "cordon {\n  policy_paths = [\"x\", 1e8888888]\n}\n", []wantDiag{{false, "Number out of range", 2, 24, "64-bit float"}}},
		{"tiny number in a default", "variable \"x\" { default = \"${-1e-8888888}\" }\n", []wantDiag{{false, "Number out of range", 1, 30, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := load(t, map[string]string{"cordon.hcl": tt.src}, LoadOptions{})
			if len(diags) != len(tt.want) {
				t.Fatalf("got %d diagnostics, want %d:%s", len(diags), len(tt.want), render(diags))
			}
			for i, w := range tt.want {
				d := diags[i]
				if (d.Severity == hcl.DiagWarning) != w.warning || d.Summary != w.summary || !strings.Contains(d.Detail, w.detail) ||
					d.Subject == nil || d.Subject.Filename != "cordon.hcl" || d.Subject.Start.Line != w.line || d.Subject.Start.Column != w.col {
					t.Errorf("diagnostic %d:%s\nwant %q (warning %v) at cordon.hcl:%d:%d with detail containing %q",
						i, render(diags[i:i+1]), w.summary, w.warning, w.line, w.col, w.detail)
				}
			}
		})
	}
}

func TestLoadNoDirectory(t *testing.T) {
	cfg, diags := Load(LoadOptions{Dir: filepath.Join(t.TempDir(), "missing")})
	if !diags.HasErrors() || diags[0].Summary != "Cannot read configuration directory" {
		t.Fatalf("diagnostics:%s", render(diags))
	}
	if cfg == nil || cfg.Files == nil {
		t.Error("a Config with Files is returned even when nothing loads")
	}
}

func TestFileFunction(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cordon.hcl", `locals {
  inside  = file("sub/x.txt")
  dotted  = file("./sub/../sub/x.txt")
  outside = file("../outside.txt")
}
`)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("sub/x.txt", "inside")
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.txt"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(filepath.Dir(dir), "outside.txt")) })

	// The default FS reads outside the directory, as Terraform's file().
	cfg, diags := Load(LoadOptions{Dir: dir, Getenv: noEnv})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	for name, want := range map[string]string{"inside": "inside", "dotted": "inside", "outside": "outside"} {
		if got := cfg.Locals[name].AsString(); got != want {
			t.Errorf("local.%s = %q, want %q", name, got, want)
		}
	}

	// An FS given by the caller (the embedded starter set) cannot be left.
	_, diags = load(t, map[string]string{"cordon.hcl": `locals { x = file("../etc/passwd") }`}, LoadOptions{})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "leaves the configuration directory") {
		t.Errorf("diagnostics:%s", render(diags))
	}
	// Binary files are refused.
	_, diags = load(t, map[string]string{"cordon.hcl": `locals { x = file("bin") }`, "bin": "\xff\xfe"}, LoadOptions{})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, "not valid UTF-8") {
		t.Errorf("diagnostics:%s", render(diags))
	}
}

func TestFunctions(t *testing.T) {
	// A few functions per family, with Terraform's semantics where they
	// differ from go-cty's stdlib (length of a string, regex replace).
	tests := map[string]string{
		`length("héllo")`:                                  "5",
		`length(["a", "b"])`:                               "2",
		`length({a = 1})`:                                  "1",
		`replace("a-b-c", "-", "+")`:                       `"a+b+c"`,
		`replace("a1b22", "/[0-9]+/", "#")`:                `"a#b#"`,
		`startswith("Backdoor:EC2/x", "Backdoor:")`:        "true",
		`endswith("x.rego", ".hcl")`:                       "false",
		`strcontains("CryptoCurrency", "Curr")`:            "true",
		`env("CORDON_TEST_SET")`:                           `"yes"`,
		`env("CORDON_TEST_UNSET")`:                         `""`,
		`try(tonumber("x"), 7)`:                            "7",
		`can(regex("^i-", "i-123"))`:                       "true",
		`formatdate("YYYY-MM-DD", "2024-05-01T10:00:00Z")`: `"2024-05-01"`,
		`jsonencode(merge({a = 1}, {b = [true]}))`:         `"{\"a\":1,\"b\":[true]}"`,
		`lookup({a = "x"}, "b", "dflt")`:                   `"dflt"`,
		`join(",", sort(distinct(["b", "a", "b"])))`:       `"a,b"`,
		`upper(title("web tier"))`:                         `"WEB TIER"`,
		`max(1, 5, 3) + abs(-2)`:                           "7",
		`contains(setunion(["a"], ["b"]), "b")`:            "true",
		`tostring(tobool("true"))`:                         `"true"`,
		`csvdecode("a,b\n1,2")[0].b`:                       `"2"`,
	}
	names := sortedKeys(tests)
	var src strings.Builder
	src.WriteString("locals {\n")
	for i, expr := range names {
		fmt.Fprintf(&src, "  l%d = %s\n", i, expr)
	}
	src.WriteString("}\n")
	cfg, diags := load(t, map[string]string{"cordon.hcl": src.String()},
		LoadOptions{Getenv: env(map[string]string{"CORDON_TEST_SET": "yes"})})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	for i, expr := range names {
		v := cfg.Locals[fmt.Sprintf("l%d", i)]
		got, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tests[expr] {
			t.Errorf("%s = %s, want %s", expr, got, tests[expr])
		}
	}
}

func TestCollectorTimeouts(t *testing.T) {
	cfg, diags := load(t, map[string]string{"cordon.hcl": `
collector "triage" { type = "aws_ssm_triage" }
collector "quick" {
  type    = "aws_ssm_triage"
  timeout = "45s"
}
`}, LoadOptions{})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	if got := cfg.Collectors["triage"].Timeout; got != 3*time.Minute {
		t.Errorf("default timeout = %v, want the type's 3m", got)
	}
	if got := cfg.Collectors["quick"].Timeout; got != 45*time.Second {
		t.Errorf("timeout = %v, want 45s", got)
	}
}

func TestShapeMatchesSchema(t *testing.T) {
	// The condition checker's idea of a finding is schema's.
	if got, want := sortedKeys(findingShape.fields), slices.Sorted(slices.Values(schema.FindingKeys())); !slices.Equal(got, want) {
		t.Errorf("finding attributes %v, schema.FindingKeys() %v", got, want)
	}
	f := FindingValue(&schema.Finding{})
	for _, k := range schema.FindingKeys() {
		if !f.Type().HasAttribute(k) {
			t.Errorf("FindingValue lacks %q", k)
		}
	}
}
