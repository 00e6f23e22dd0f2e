package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var digestPattern = regexp.MustCompile(`"config_digest": "sha256:[0-9a-f]{64}"`)

var update = flag.Bool("update", false, "rewrite golden files")

// cordon runs the CLI in-process and returns its exit code and output.
func cordon(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return cordonStdin(t, "", args...)
}

func cordonStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

const (
	basicConfig = "../../engine/testdata/basic"
	basicFacts  = "../../engine/testdata/basic/facts.json"
	findings    = "../../testdata/findings/"
	starter     = "../../policies"
	// noFacts is an empty facts file: plans offline, every collector
	// giving {}.
	noFacts = "testdata/nofacts.json"
)

// TestMain keeps the tests away from the machine's AWS configuration: a
// plan without -facts runs collectors, which would otherwise reach for
// credentials and the instance metadata service.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "us-east-1",
	} {
		os.Setenv(k, v)
	}
	os.Exit(m.Run())
}

// golden compares got with the named golden file, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// writeConfig writes files (name → content) into a new directory.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPlanGolden(t *testing.T) {
	tests := []struct {
		name   string
		config string
		facts  string
		files  []string
	}{
		{"basic_backdoor", basicConfig, basicFacts, []string{"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"}},
		{"basic_backdoor_no_facts", basicConfig, noFacts, []string{"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"}},
		{"basic_access_key", basicConfig, noFacts, []string{"guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json"}},
		{"basic_unmatched", basicConfig, noFacts, []string{"guardduty_boto3_GetFindings_Recon_EC2_PortProbeUnprotectedPort.json"}},
		{"basic_securityhub_benign", basicConfig, noFacts, []string{"securityhub_asff_from_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json"}},
		{"basic_several", basicConfig, basicFacts, []string{
			"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json",
			"guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json",
			"guardduty_Canary_EC2_Stateless.IntegTest_outbound_ssh.json",
			"ocsf_2004_detection_finding_from_securityhub_guardduty_CloudTrailLoggingDisabled.json",
		}},
		{"starter_backdoor", starter, noFacts, []string{"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"}},
		{"starter_iam_malicious_ip", starter, noFacts, []string{"guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json"}},
		{"starter_s3_pentest", starter, noFacts, []string{"guardduty_PenTest_S3_ParrotLinux.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"plan", "-config", tt.config, "-no-color"}
			for _, f := range tt.files {
				args = append(args, "-finding", findings+f)
			}
			if tt.facts != "" {
				args = append(args, "-facts", tt.facts)
			}
			code, out, errOut := cordon(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			golden(t, tt.name+".txt", out)

			code, out, errOut = cordon(t, append(args, "-json")...)
			if code != 0 {
				t.Fatalf("-json: exit %d\n%s", code, errOut)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("-json output is not JSON: %v", err)
			}
			// The digest changes with every edit of the policies; what it is
			// made of is tested in the engine.
			golden(t, tt.name+".json", digestPattern.ReplaceAllString(out, `"config_digest": "sha256:…"`))
		})
	}
}

// TestPlanJSONShape checks the plan JSON keys of docs/plan-and-apply.md, which scripts
// depend on, independently of the golden files.
func TestPlanJSONShape(t *testing.T) {
	code, out, errOut := cordon(t, "plan", "-config", basicConfig, "-facts", basicFacts, "-json",
		"-finding", findings+"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any, want ...string) {
		t.Helper()
		for _, k := range want {
			if _, ok := m[k]; !ok {
				t.Errorf("missing key %q in %v", k, m)
			}
		}
	}
	keys(p, "format_version", "cordon_version", "config_digest", "incidents", "unmatched", "summary")
	if p["format_version"] != "1.0" || !strings.HasPrefix(p["config_digest"].(string), "sha256:") {
		t.Errorf("format_version/config_digest: %v %v", p["format_version"], p["config_digest"])
	}
	inc := p["incidents"].([]any)[0].(map[string]any)
	keys(inc, "id", "finding", "matches", "verdicts", "actions", "errors")
	keys(inc["finding"].(map[string]any), "id", "source", "type", "severity", "account", "region", "resource")
	keys(inc["matches"].([]any)[0].(map[string]any), "rule", "scope")
	keys(inc["verdicts"].([]any)[0].(map[string]any), "rule", "verdict", "confidence", "reasons", "root_cause")
	acts := inc["actions"].([]any)
	for _, a := range acts {
		keys(a.(map[string]any), "address", "action", "type", "phase", "target", "change", "rules", "reasons", "approval")
		keys(a.(map[string]any)["target"].(map[string]any), "type", "id", "account", "region")
		keys(a.(map[string]any)["change"].(map[string]any), "before", "after")
	}
	// Apply order: preserve, contain, acquire, disrupt, notify.
	var phases []string
	for _, a := range acts {
		phases = append(phases, a.(map[string]any)["phase"].(string))
	}
	if got := strings.Join(phases, ","); got != "preserve,contain,acquire,disrupt,notify" {
		t.Errorf("phases in order = %s", got)
	}
	// The tag action was planned by two rules and is one action.
	tag := acts[0].(map[string]any)
	if tag["address"] != `action.tag["i-99999999"]` || len(tag["rules"].([]any)) != 2 || tag["approval"] != "manual" {
		t.Errorf("merged tag action = %v", tag)
	}
	keys(p["summary"].(map[string]any), "findings", "incidents", "actions", "unmatched", "errors")
}

func TestPlanDetailedExitCode(t *testing.T) {
	code, _, errOut := cordon(t, "plan", "-config", basicConfig, "-detailed-exitcode", "-facts", noFacts,
		"-finding", findings+"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json")
	if code != 2 {
		t.Errorf("plan with actions: exit %d, want 2\n%s", code, errOut)
	}
	code, _, errOut = cordon(t, "plan", "-config", basicConfig, "-detailed-exitcode", "-facts", noFacts,
		"-finding", findings+"guardduty_boto3_GetFindings_Recon_EC2_PortProbeUnprotectedPort.json")
	if code != 0 {
		t.Errorf("plan without actions: exit %d, want 0\n%s", code, errOut)
	}
}

func TestPlanOutAndShow(t *testing.T) {
	dir := t.TempDir()
	planFile := filepath.Join(dir, "incident.plan")
	finding := findings + "guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"
	code, out, errOut := cordon(t, "plan", "-config", basicConfig, "-facts", basicFacts, "-finding", finding, "-out", planFile, "-no-color")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "cordon apply "+planFile) {
		t.Errorf("plan -out does not say how to apply:\n%s", out)
	}
	info, err := os.Stat(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("plan file mode %o, want 600", perm)
	}

	_, planJSON, _ := cordon(t, "plan", "-config", basicConfig, "-facts", basicFacts, "-finding", finding, "-json")
	code, shown, errOut := cordon(t, "show", "-json", planFile)
	if code != 0 {
		t.Fatalf("show -json: exit %d: %s", code, errOut)
	}
	if shown != planJSON {
		t.Errorf("show -json differs from plan -json:\n%s\n---\n%s", shown, planJSON)
	}
	code, human, _ := cordon(t, "show", "-no-color", planFile)
	if code != 0 || !strings.Contains(human, `# action.isolate["i-99999999"] (aws_ec2_isolate, contain)`) {
		t.Errorf("show: exit %d\n%s", code, human)
	}
}

func TestBadInput(t *testing.T) {
	truncated := filepath.Join(t.TempDir(), "truncated.plan")
	{
		full := filepath.Join(t.TempDir(), "full.plan")
		if code, _, errOut := cordon(t, "plan", "-config", basicConfig, "-out", full, "-facts", noFacts,
			"-finding", findings+"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"); code != 0 {
			t.Fatal(errOut)
		}
		data, _ := os.ReadFile(full)
		os.WriteFile(truncated, data[:len(data)/2], 0o600)
	}
	foreign := filepath.Join(t.TempDir(), "foreign.plan")
	os.WriteFile(foreign, []byte(`{"format_version": "1.0"}`), 0o600)
	empty := filepath.Join(t.TempDir(), "empty.json")
	os.WriteFile(empty, nil, 0o600)
	unknownShape := filepath.Join(t.TempDir(), "unknown.json")
	os.WriteFile(unknownShape, []byte(`{"alert": "something", "when": "now"}`), 0o600)
	badFacts := filepath.Join(t.TempDir(), "facts.json")
	os.WriteFile(badFacts, []byte(`{"descrbe": {}}`), 0o600)
	backdoor := findings + "guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"

	validHCL := `
action "tag" { type = "aws_ec2_tag" }
scope "all" {}
rule "r" {
  scopes  = [scope.all]
  actions = [action.tag]
}
`
	validRego := "package cordon.verdict\n\nverdict := \"benign\"\n"
	validResponse := "package cordon.response\n\nactions := []\n"

	tests := []struct {
		name       string
		files      map[string]string // a config directory; empty: use args as given
		args       []string
		wantCode   int
		wantStderr []string
	}{
		{
			name:       "malformed HCL",
			files:      map[string]string{"main.hcl": "scope \"x\" {\n  accounts = [\n}\n"},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"main.hcl line 3", "Error:"},
		},
		{
			name: "unknown reference",
			files: map[string]string{"main.hcl": `
action "tag" { type = "aws_ec2_tag" }
scope "all" {}
rule "r" {
  scopes  = [scope.al]
  actions = [action.tag]
}`, "policies/v.rego": validRego, "policies/r.rego": validResponse},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"main.hcl line 5", "undeclared scope", `Did you mean "all"?`},
		},
		{
			name: "wrong attribute type",
			files: map[string]string{"main.hcl": `
action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = ["sg-1"]
}`},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"main.hcl line 4", "Incorrect attribute value type"},
		},
		{
			name: "a placeholder security group id",
			files: map[string]string{"main.hcl": `
action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0isolation"
}`},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"main.hcl line 4", "security_group_id", "Invalid security group ID"},
		},
		{
			name:       "unknown action type",
			files:      map[string]string{"main.hcl": "action \"x\" {\n  type = \"aws_ec2_isolat\"\n}\n"},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"main.hcl line 2", "aws_ec2_isolate"},
		},
		{
			name:       "rego that fails to compile",
			files:      map[string]string{"main.hcl": validHCL, "policies/v.rego": "package cordon.verdict\n\nverdict := x\n", "policies/r.rego": validResponse},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"v.rego line 3"},
		},
		{
			name:       "rego typo against the schema",
			files:      map[string]string{"main.hcl": validHCL, "policies/v.rego": "package cordon.verdict\n\nverdict := \"benign\" if {\n\tinput.finding.severty == \"low\"\n}\n", "policies/r.rego": validResponse},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"v.rego line 4", "severty"},
		},
		{
			name:       "rego using http.send",
			files:      map[string]string{"main.hcl": validHCL, "policies/v.rego": "package cordon.verdict\n\nverdict := http.send({\"method\": \"get\", \"url\": \"http://x\"}).body\n", "policies/r.rego": validResponse},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"v.rego line 3", "http.send"},
		},
		{
			name:       "missing policy package",
			files:      map[string]string{"main.hcl": validHCL, "policies/v.rego": validRego},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{"main.hcl line 4", "cordon.response"},
		},
		{
			name:       "no configuration files",
			files:      map[string]string{"README": "nothing here"},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{".hcl"},
		},
		{
			name:       "response naming a disallowed action",
			args:       []string{"plan", "-config", "../../engine/testdata/disallowed", "-finding", findings + "guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json"},
			wantCode:   1,
			wantStderr: []string{"no plan file was written"},
		},
		{
			name:       "finding of unknown shape",
			args:       []string{"plan", "-config", basicConfig, "-finding", unknownShape},
			wantCode:   1,
			wantStderr: []string{unknownShape, "GuardDuty"},
		},
		{
			name:       "empty findings file",
			args:       []string{"plan", "-config", basicConfig, "-finding", empty},
			wantCode:   1,
			wantStderr: []string{empty, "empty"},
		},
		{
			name:       "CloudTrail record",
			args:       []string{"plan", "-config", basicConfig, "-finding", findings + "cloudtrail_StopLogging.json"},
			wantCode:   1,
			wantStderr: []string{"cloudtrail_StopLogging.json", "CloudTrail"},
		},
		{
			name:       "missing findings file",
			args:       []string{"plan", "-config", basicConfig, "-finding", "does-not-exist.json"},
			wantCode:   1,
			wantStderr: []string{"does-not-exist.json"},
		},
		{
			name:       "no findings",
			args:       []string{"plan", "-config", basicConfig},
			wantCode:   1,
			wantStderr: []string{"-finding"},
		},
		{
			name:       "facts file of the wrong shape",
			args:       []string{"plan", "-config", basicConfig, "-finding", backdoor, "-facts", badFacts},
			wantCode:   1,
			wantStderr: []string{badFacts, "descrbe", `did you mean "describe"`},
		},
		{
			name:       "truncated plan file",
			args:       []string{"show", truncated},
			wantCode:   1,
			wantStderr: []string{truncated, "truncated"},
		},
		{
			name:       "foreign plan file",
			args:       []string{"show", foreign},
			wantCode:   1,
			wantStderr: []string{foreign, "not a cordon plan file"},
		},
		{
			name:       "unknown flag",
			args:       []string{"plan", "-bogus"},
			wantCode:   1,
			wantStderr: []string{"flag provided but not defined: -bogus", "Usage: cordon plan"},
		},
		{
			name:       "unknown command",
			args:       []string{"plna"},
			wantCode:   1,
			wantStderr: []string{`unknown command "plna"`, "Commands:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			out := filepath.Join(t.TempDir(), "out.plan")
			if tt.files != nil {
				dir := writeConfig(t, tt.files)
				args = append([]string{args[0], "-config", dir}, args[1:]...)
			}
			if args[0] == "plan" {
				args = append(args, "-out", out)
			}
			code, _, errOut := cordon(t, args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, errOut)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a plan file was written despite the error")
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	dir := writeConfig(t, map[string]string{"main.hcl": "scope \"x\" {\n  regions = 5\n}\n"})
	code, out, _ := cordon(t, "validate", "-json", "-config", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var v struct {
		Valid       bool `json:"valid"`
		ErrorCount  int  `json:"error_count"`
		Diagnostics []struct {
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
			Range    struct {
				Filename string `json:"filename"`
				Start    struct{ Line, Column int }
			} `json:"range"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if v.Valid || v.ErrorCount != 1 || len(v.Diagnostics) != 1 {
		t.Fatalf("validate -json = %+v", v)
	}
	d := v.Diagnostics[0]
	if d.Severity != "error" || !strings.HasSuffix(d.Range.Filename, "main.hcl") || d.Range.Start.Line != 2 || d.Range.Start.Column != 13 {
		t.Errorf("diagnostic = %+v", d)
	}

	code, out, _ = cordon(t, "validate", "-json", "-config", basicConfig)
	if code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Errorf("valid config: exit %d\n%s", code, out)
	}
}

func TestFmt(t *testing.T) {
	unformatted := "scope \"x\" {\nregions = [\"eu-*\"]\n  description=\"d\"\n}\n"
	formatted := "scope \"x\" {\n  regions     = [\"eu-*\"]\n  description = \"d\"\n}\n"
	dir := writeConfig(t, map[string]string{"main.hcl": unformatted, "sub/other.hcl": unformatted, "ok.hcl": formatted})

	code, out, _ := cordon(t, "fmt", "-check", dir)
	if code != 3 || !strings.Contains(out, "main.hcl") || strings.Contains(out, "other.hcl") || strings.Contains(out, "ok.hcl") {
		t.Errorf("fmt -check: exit %d, listed:\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "main.hcl")); string(b) != unformatted {
		t.Error("fmt -check wrote the file")
	}
	code, out, _ = cordon(t, "fmt", "-check", "-diff", "-recursive", dir)
	if code != 3 || !strings.Contains(out, "other.hcl") || !strings.Contains(out, "+  regions     = [\"eu-*\"]") {
		t.Errorf("fmt -check -diff -recursive: exit %d\n%s", code, out)
	}
	code, _, _ = cordon(t, "fmt", dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "main.hcl")); code != 0 || string(b) != formatted {
		t.Errorf("fmt: exit %d, file:\n%s", code, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/other.hcl")); string(b) != unformatted {
		t.Error("fmt without -recursive formatted a subdirectory")
	}
	if code, _, _ = cordon(t, "fmt", "-check", dir); code != 0 {
		t.Errorf("fmt -check after fmt: exit %d", code)
	}
	code, out, _ = cordonStdin(t, unformatted, "fmt", "-")
	if code != 0 || out != formatted {
		t.Errorf("fmt -: exit %d\n%s", code, out)
	}

	bad := writeConfig(t, map[string]string{"bad.hcl": "scope \"x\" {\n"})
	code, _, errOut := cordon(t, "fmt", bad)
	if code != 1 || !strings.Contains(errOut, "bad.hcl") {
		t.Errorf("fmt of malformed HCL: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(bad, "bad.hcl")); string(b) != "scope \"x\" {\n" {
		t.Error("fmt rewrote a file that does not parse")
	}
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ir")
	code, out, errOut := cordon(t, "init", dir)
	if code != 0 {
		t.Fatalf("init: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, filepath.Join(dir, "cordon.hcl")) {
		t.Errorf("init output does not list cordon.hcl:\n%s", out)
	}
	if code, _, errOut := cordon(t, "validate", "-config", dir); code != 0 {
		t.Errorf("validate of an initialized directory: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := cordon(t, "fmt", "-check", "-recursive", dir); code != 0 {
		t.Errorf("the starter files are not formatted: exit %d\n%s", code, errOut)
	}
	// A second init must not overwrite a team's edits.
	os.WriteFile(filepath.Join(dir, "cordon.hcl"), []byte("# edited\n"), 0o644)
	code, _, errOut = cordon(t, "init", dir)
	if code != 1 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Errorf("second init: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cordon.hcl")); string(b) != "# edited\n" {
		t.Error("init overwrote cordon.hcl")
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := cordon(t, "version")
	if code != 0 || !strings.HasPrefix(out, "cordon v") {
		t.Errorf("version: exit %d %q", code, out)
	}
	code, out, _ = cordon(t, "-help")
	if code != 0 || !strings.Contains(out, "plan") {
		t.Errorf("-help: exit %d %q", code, out)
	}
	// -help prints to stdout, as Terraform's does; so does cordon help.
	code, out, _ = cordon(t, "plan", "-help")
	if code != 0 || !strings.Contains(out, "-detailed-exitcode") {
		t.Errorf("plan -help: exit %d %q", code, out)
	}
	code, helpOut, _ := cordon(t, "help", "plan")
	if code != 0 || helpOut != out {
		t.Errorf("help plan: exit %d, and not plan -help's output:\n%s", code, helpOut)
	}
	// Double-dash flags work too (Go's flag package).
	code, _, errOut := cordon(t, "validate", "--config", basicConfig)
	if code != 0 {
		t.Errorf("--config: exit %d %s", code, errOut)
	}
	if code, _, _ := cordon(t); code != 1 {
		t.Errorf("no command: exit %d, want 1", code)
	}
}
