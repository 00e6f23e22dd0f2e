package main

// Tests of the CLI's conventions, Terraform's and OPA's where cordon
// follows them, and of what it tells a responder on day one: a plan that
// could not investigate, an apply without access, state that reads without
// the policies, checked facts, truthful summaries, progress, JSON
// documents, findings from stdin and directories, fmt of Rego, test -run,
// grammar, and the paths the README shows.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// collectorConfig writes a configuration that describes and triages every
// instance a finding names and tags it, acting on a new emulator of the
// demo fleet through the provider block (extra is added to it). It
// returns the directory, the emulator and its server.
func collectorConfig(t *testing.T, providerExtra string) (string, *awsemu.Emulator, *httptest.Server) {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	emu := awsemu.New(seed)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	dir := writeConfig(t, map[string]string{
		"cordon.hcl": `
scope "instances" {
  resource_types = ["aws_instance"]
}

collector "describe" {
  type = "aws_ec2_describe"
}

collector "triage" {
  type    = "aws_ssm_triage"
  timeout = "20s"
}

action "tag" {
  type = "aws_ec2_tag"
}

rule "respond" {
  scopes  = [scope.instances]
  collect = [collector.describe, collector.triage]
  actions = [action.tag]
}
`,
		"provider.hcl": `
provider "aws" {
  region   = "us-west-2"
  endpoint = "` + srv.URL + `"
` + providerExtra + `
}
`,
		"policies/verdict.rego":  "package cordon.verdict\n\nverdict := \"malicious\"\n",
		"policies/response.rego": "package cordon.response\n\nactions contains {\"action\": name} if some name in input.rule.actions\n",
	})
	setAWSEnv(t)
	return dir, emu, srv
}

const assumeResponder = `  assume_role_arn = "` + demo.ResponderRoleARN + `"`

// findingAbout writes web-1's finding rewritten to be about another
// instance (and account), as a new finding.
func findingAbout(t *testing.T, instance, account string) string {
	t.Helper()
	data, err := os.ReadFile(web1Finding)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(data), demo.WebServerID, instance)
	s = strings.ReplaceAll(s, demo.ProdAccount, account)
	s = strings.ReplaceAll(s, "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7", "c3d9f2b5a4e05f7ab1d2e3f4a5b6c7d8")
	p := filepath.Join(t.TempDir(), instance+".json")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Item 1: a plan for which no collector could call AWS is refused, as
// Terraform refuses to plan with a provider that cannot configure; one
// where some collectors failed opens with a warning, carries it in its
// JSON and exits 3 with -detailed-exitcode.
func TestPlanWithoutAWSAccessFailsFast(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		setup    func(t *testing.T, srv *httptest.Server)
		cause    string
	}{
		{"emulator stopped", assumeResponder, func(t *testing.T, srv *httptest.Server) { srv.Close() }, "connection refused"},
		{"no credentials", assumeResponder, func(t *testing.T, _ *httptest.Server) {
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		}, "no AWS credentials"},
		{"credentials refused", assumeResponder, func(t *testing.T, _ *httptest.Server) {
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000001")
		}, "InvalidClientTokenId"},
		{"role that does not exist", `  assume_role_arn = "arn:aws:iam::{account}:role/cordon-nobody"`, nil, "AccessDenied"},
		{"credentials of another account", "", nil, "of account " + demo.SecurityAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, emu, srv := collectorConfig(t, tt.provider)
			if tt.setup != nil {
				tt.setup(t, srv)
			}
			code, out, errOut := cordon(t, "plan", "-config", dir, "-no-color", "-finding", web1Finding)
			if code != 1 || !strings.Contains(errOut, "No AWS access") || !strings.Contains(errOut, tt.cause) {
				t.Errorf("exit %d, want 1 with No AWS access and %q\nstdout:\n%s\nstderr:\n%s", code, tt.cause, out, errOut)
			}
			if strings.Contains(out, "Plan:") {
				t.Errorf("a plan was shown:\n%s", out)
			}
			// Fail fast: no collector called AWS once access failed.
			for _, c := range emu.Calls() {
				if !strings.HasPrefix(c.Action(), "sts:") {
					t.Errorf("a collector called %s", c.Action())
				}
			}
			// -json: the error is JSON on stdout, as validate -json's.
			code, out, _ = cordon(t, "plan", "-config", dir, "-json", "-finding", web1Finding)
			var doc struct {
				FormatVersion string `json:"format_version"`
				Valid         bool   `json:"valid"`
				ErrorCount    int    `json:"error_count"`
				Diagnostics   []struct{ Summary, Detail string }
			}
			if err := json.Unmarshal([]byte(out), &doc); code != 1 || err != nil || doc.Valid || doc.ErrorCount != 1 ||
				doc.FormatVersion != "1.0" || doc.Diagnostics[0].Summary != "No AWS access" {
				t.Errorf("plan -json: exit %d %v\n%s", code, err, out)
			}
		})
	}
}

func TestPlanWithFailedCollectorsWarns(t *testing.T) {
	dir, emu, _ := collectorConfig(t, assumeResponder)
	emu.Faults().Fail("ssm:SendCommand", "*", "AccessDeniedException", "User is not authorized to perform: ssm:SendCommand")
	bastion := findingAbout(t, "i-0b7c6d5e4f3a21098", demo.ProdAccount)
	args := []string{"plan", "-config", dir, "-no-color", "-finding", web1Finding, "-finding", bastion}

	code, out, errOut := cordon(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	// The plan opens with the warning, one line for the cause the two
	// triages shared.
	wantHead := "Warning: a collector failed, so policies judged without its facts\n\n" +
		"  collector triage failed for 2 findings: AccessDeniedException: User is not authorized to perform: ssm:SendCommand\n"
	if !strings.HasPrefix(out, wantHead) {
		t.Errorf("the plan does not open with the warning:\n%s", out)
	}
	if !strings.Contains(out, "planned with 1 collector failure.") {
		t.Errorf("the summary line does not say so:\n%s", out)
	}

	code, out, _ = cordon(t, append(args, "-json")...)
	var p struct {
		Warnings []struct {
			Collector, Summary, Detail string
			Findings                   int
			Incidents                  []string
		} `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || len(p.Warnings) != 1 {
		t.Fatalf("plan -json: exit %d %v\n%s", code, err, out)
	}
	if w := p.Warnings[0]; w.Collector != "triage" || w.Findings != 2 || len(w.Incidents) != 2 || !strings.Contains(w.Detail, "AccessDeniedException") {
		t.Errorf("warning %+v", w)
	}
	if code, _, errOut := cordon(t, append(args, "-detailed-exitcode")...); code != 3 {
		t.Errorf("-detailed-exitcode: exit %d, want 3\n%s", code, errOut)
	}

	// One account cordon cannot act in, another it can: the plan is made,
	// warning of the account it could not investigate.
	emu.Faults().Clear()
	elsewhere := findingAbout(t, demo.WebServerID, "210987654321")
	args = []string{"plan", "-config", dir, "-no-color", "-detailed-exitcode", "-finding", web1Finding, "-finding", elsewhere}
	code, out, errOut = cordon(t, args...)
	if code != 3 || !strings.Contains(out, "collector describe failed for 1 finding: cannot call AWS in account 210987654321: AccessDenied") {
		t.Errorf("two accounts: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Item 2: an apply that cannot call AWS records nothing, and the plan
// stays appliable.
func TestApplyChecksAccessFirst(t *testing.T) {
	dir, emu := emulatedConfig(t)
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	t.Cleanup(hook.Close)
	t.Setenv("CORDON_VAR_webhook_url", hook.URL+"/cordon")
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000001")
	start := time.Now()
	code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 1 || !strings.Contains(errOut, "No AWS access") || !strings.Contains(errOut, "InvalidClientTokenId") {
		t.Errorf("apply without access: exit %d\n%s\n%s", code, out, errOut)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the refusal took %s", time.Since(start))
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("the webhook was called %d times", n)
	}
	for _, c := range emu.Calls() {
		if !isReadOnly(c.Operation) {
			t.Errorf("an apply without access called %s", c.Action())
		}
	}
	if _, list, _ := cordon(t, "state", "list", "-config", dir); !strings.Contains(list, "No incidents recorded.") {
		t.Errorf("the refused apply recorded something:\n%s", list)
	}

	// With access again, the same plan applies.
	t.Setenv("AWS_ACCESS_KEY_ID", demo.CordonAccessKey)
	code, out, errOut = cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 0 || !strings.Contains(out, "Apply complete! Actions: 6 applied") {
		t.Errorf("apply with access: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Item 5: the incident records never depend on the policies compiling.
func TestStateCommandsReadWithBrokenPolicies(t *testing.T) {
	dir, _ := emulatedConfig(t)
	if code, _, errOut := cordon(t, "apply", "-config", dir, "-auto-approve", "-finding", web1Finding); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	_, out, _ := cordon(t, "state", "list", "-config", dir, "-json")
	var list struct{ Incidents []struct{ ID string } }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Incidents) != 1 {
		t.Fatalf("state list: %v\n%s", err, out)
	}
	id := list.Incidents[0].ID

	// A policy being edited: it does not parse.
	verdict := filepath.Join(dir, "policies", "verdict.rego")
	f, err := os.OpenFile(verdict, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\nbroken := {\n")
	f.Close()
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding); code != 1 || !strings.Contains(errOut, "verdict.rego") {
		t.Fatalf("the policy is not broken: plan exit %d\n%s", code, errOut)
	}

	for _, args := range [][]string{
		{"state", "list", "-config", dir},
		{"state", "show", id, "-config", dir},
		{"state", "locks", "-config", dir},
		{"report", id, "-config", dir},
		{"iam-policy", "-config", dir},
		{"revert", id, "-config", dir, "-auto-approve"},
	} {
		if code, out, errOut := cordon(t, args...); code != 0 {
			t.Errorf("%s with a broken policy: exit %d\n%s\n%s", strings.Join(args[:2], " "), code, out, errOut)
		}
	}
}

// Item 6: a facts file is checked against the collectors' schemas, each
// error at its line and column, and facts of one resource given for
// another are refused or warned of.
func TestFactsFileIsChecked(t *testing.T) {
	backdoor := findings + "guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json" // about i-99999999
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "facts.json")
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	tests := []struct {
		name  string
		facts string
		code  int
		want  []string
	}{
		{"a fact of the wrong type", "{\n  \"describe\": {\"state\": 5}\n}\n", 1,
			[]string{"facts.json:2:25: describe.state must be a string, not the number 5"}},
		{"an array of the wrong items", `{"describe": {"volumes": ["vol-1"]}}`, 1,
			[]string{`facts.json:1:27: describe.volumes[0] must be an object, not the string "vol-1"`}},
		{"a fact no collector gathers", `{"describe": {"sate": "running"}}`, 1,
			[]string{`facts.json:1:15: describe.sate is not a fact of this collector (did you mean "state"?)`}},
		{"not a date", `{"describe": {"launch_time": "yesterday"}}`, 1,
			[]string{`describe.launch_time must be a date-time`}},
		{"per resource, filed under another id", `{"resources": {"i-99999999": {"describe": {"instance_id": "i-0other"}}}}`, 1,
			[]string{`facts.json:1:59: resources["i-99999999"].describe.instance_id is "i-0other": these facts describe i-0other, not i-99999999`}},
		{"for every finding, of another resource", `{"describe": {"instance_id": "i-0other", "state": "running"}}`, 0,
			[]string{"Warning: Facts describe another resource", "describe.instance_id is i-0other, but finding 14bd952561ab40e0b9275f648fcca0f2 is about aws_instance i-99999999"}},
		{"for every finding, of its resource", `{"describe": {"instance_id": "i-99999999", "state": "running"}}`, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cordon(t, "plan", "-config", basicConfig, "-no-color", "-finding", backdoor, "-facts", write(tt.facts))
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if tt.want == nil && strings.Contains(errOut, "Warning") {
				t.Errorf("unexpected warning:\n%s", errOut)
			}
		})
	}
}

// Item 7: state list counts each action once, by its latest outcome (an
// action skipped for want of approval keeps the outcome it had), says
// "no change", and keeps the history for state show.
func TestStateSummariesTellTheTruth(t *testing.T) {
	dir, emu := emulatedConfig(t)
	// The tag of a second rule needs a person's approval.
	cfg := filepath.Join(dir, "cordon.hcl")
	data, _ := os.ReadFile(cfg)
	s := strings.Replace(string(data), "actions = [action.tag, action.protect,", "actions = [action.protect,", 1)
	s += `
rule "tag_by_hand" {
  scopes   = [scope.instances]
  actions  = [action.tag]
  approval = "manual"
}
`
	os.WriteFile(cfg, []byte(s), 0o644)

	emu.Faults().Fail("ec2:ModifyNetworkInterfaceAttribute", "eni-0d4c3b2a190817263", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	for range 2 {
		if code, out, errOut := cordon(t, "apply", "-config", dir, "-auto-approve", "-no-color", "-finding", web1Finding); code != 1 {
			t.Fatalf("failed apply: exit %d\n%s\n%s", code, out, errOut)
		}
	}
	emu.Faults().Clear()
	// Approved at the prompt: the manual tag is skipped, the rest applied.
	code, out, errOut := cordonStdin(t, "yes\n", "apply", "-config", dir, "-no-color", "-finding", web1Finding)
	if code != 0 || !strings.Contains(out, "Apply complete!") || !strings.Contains(out, "needs manual approval") {
		t.Fatalf("successful apply: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, _ = cordon(t, "state", "list", "-config", dir, "-no-color")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("state list: exit %d\n%s", code, out)
	}
	row := lines[1]
	if !strings.Contains(row, "responded") || !strings.Contains(row, "3 applied, 3 no change") || strings.Contains(row, "_") {
		t.Errorf("state list row %q, want responded and 3 applied, 3 no change", row)
	}
	id := strings.Fields(row)[0]
	// The history is in state show: every attempt, in words.
	_, show, _ := cordon(t, "state", "show", id, "-config", dir, "-no-color")
	for _, want := range []string{"status    responded", `action.isolate["i-0a1b2c3d4e5f67890"] (aws_ec2_isolate, contain) FAILED`,
		"SKIPPED", "NO CHANGE"} {
		if !strings.Contains(show, want) {
			t.Errorf("state show lacks %q:\n%s", want, show)
		}
	}
	if strings.Contains(show, "NO_CHANGE") {
		t.Errorf("state show prints the enum:\n%s", show)
	}
}

// Item 11: long collectors show Terraform-style progress on a terminal,
// and nothing elsewhere or with -json.
func TestPlanProgressOnATerminal(t *testing.T) {
	dir, emu, _ := collectorConfig(t, assumeResponder)
	emu.Faults().Latency("ec2:DescribeInstances", 700*time.Millisecond)
	// The triage fails at once: only the slow describe is reported.
	emu.Faults().Fail("ssm:SendCommand", "*", "AccessDeniedException", "not allowed")
	interval := progressInterval
	progressInterval = 200 * time.Millisecond
	t.Cleanup(func() { progressInterval = interval })

	code, stderr, _ := cordonTTY(t, false, true, "plan", "-config", dir, "-no-color", "-finding", web1Finding)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	still := regexp.MustCompile(`(?m)^describe i-0a1b2c3d4e5f67890: still running \[\d+ms elapsed\]$`)
	if !still.MatchString(stderr) || !strings.Contains(stderr, "describe i-0a1b2c3d4e5f67890: done after") {
		t.Errorf("no progress on the terminal:\n%s", stderr)
	}
	// The triage, which failed at once, is never reported.
	if strings.Contains(stderr, "triage i-") {
		t.Errorf("a quick collector was reported:\n%s", stderr)
	}

	_, _, errOut := cordonStdin(t, "", "plan", "-config", dir, "-no-color", "-finding", web1Finding)
	if strings.Contains(errOut, "still running") {
		t.Errorf("progress without a terminal:\n%s", errOut)
	}
	_, stderr, _ = cordonTTY(t, false, true, "plan", "-config", dir, "-json", "-finding", web1Finding)
	if strings.Contains(stderr, "still running") {
		t.Errorf("progress with -json:\n%s", stderr)
	}
}

// Item 12: -debug shows each finding as normalized.
func TestPlanDebugShowsTheNormalizedFinding(t *testing.T) {
	code, _, errOut := cordon(t, "plan", "-config", basicConfig, "-facts", noFacts, "-debug",
		"-finding", findings+"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	i := strings.Index(errOut, "[DEBUG] finding 14bd952561ab40e0b9275f648fcca0f2 (guardduty) as normalized:\n")
	if i < 0 {
		t.Fatalf("no normalized finding on stderr:\n%s", errOut)
	}
	rest := errOut[strings.Index(errOut[i:], "\n")+i+1:]
	var f struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
		Resource struct{ Type, ID string }
		Raw      json.RawMessage `json:"raw"`
	}
	if err := json.NewDecoder(strings.NewReader(rest)).Decode(&f); err != nil || f.ID != "14bd952561ab40e0b9275f648fcca0f2" ||
		f.Severity != "high" || f.Resource.ID != "i-99999999" || f.Raw != nil {
		t.Errorf("normalized finding %+v %v\n%s", f, err, rest)
	}
}

// Item 13: flags after positional arguments, every command's common
// flags, NO_COLOR, help COMMAND, -chdir, init -force, typed help texts.
func TestFlagsWhereTheREADMEShowsThem(t *testing.T) {
	dir, _ := emulatedConfig(t)
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	code, out, errOut := cordon(t, "show", planFile, "-json", "-config", dir)
	if code != 0 || !strings.HasPrefix(out, "{\n  \"format_version\"") {
		t.Errorf("show PLANFILE -json: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cordon(t, "apply", planFile, "-json", "-config", dir)
	var res struct {
		FormatVersion string `json:"format_version"`
		Summary       struct{ Applied int }
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.FormatVersion != "1.0" || res.Summary.Applied != 6 {
		t.Errorf("apply PLANFILE -json: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	_, out, _ = cordon(t, "state", "list", "-json", "-config", dir)
	var list struct{ Incidents []struct{ ID string } }
	json.Unmarshal([]byte(out), &list)
	if len(list.Incidents) != 1 {
		t.Fatalf("state list: %s", out)
	}
	id := list.Incidents[0].ID
	db := filepath.Join(dir, ".cordon", "state.db")
	for _, args := range [][]string{
		{"state", "show", id, "-no-color", "-state", db},
		{"state", "list", "-no-color", "-state", db},
		{"state", "locks", "-no-color", "-state", db},
		{"report", id, "-no-color", "-state", db},
		{"iam-policy", "-no-color", "-json", "-config", dir},
		{"revert", id, "-auto-approve", "-no-color", "-config", dir},
		{"version", "-json", "-no-color"},
		{"validate", "-no-color", "-json", "-config", dir},
	} {
		if code, out, errOut := cordon(t, args...); code != 0 {
			t.Errorf("%s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	if code, _, errOut := cordon(t, "state", "list", "-state", db, "-config", dir); code != 1 || !strings.Contains(errOut, "alternatives") {
		t.Errorf("-state and -config: exit %d\n%s", code, errOut)
	}

	// -chdir, as Terraform's: relative paths are the directory's.
	code, out, errOut = cordon(t, "-chdir="+dir, "state", "list")
	if code != 0 || !strings.Contains(out, id) {
		t.Errorf("-chdir: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := cordon(t, "-chdir", filepath.Join(dir, "nope"), "state", "list"); code != 1 || !strings.Contains(errOut, "nope") {
		t.Errorf("-chdir to nowhere: exit %d\n%s", code, errOut)
	}
	if wd, _ := os.Getwd(); !strings.HasSuffix(wd, filepath.Join("cmd", "cordon")) {
		t.Errorf("-chdir left the process in %s", wd)
	}

	// cordon help COMMAND, on stdout, and every flag that takes a value
	// names what it takes (-finding FILE, not -finding value).
	untyped := regexp.MustCompile(`(?m)^  -\S+ (string|value|duration|int)$`)
	for name := range commands {
		if name == "serve" || name == "approve" || name == "reject" {
			continue // the daemon's
		}
		code, out, _ := cordon(t, "help", name)
		if code != 0 || !strings.Contains(out, "Usage: cordon "+name) {
			t.Errorf("help %s: exit %d\n%s", name, code, out)
		}
		if m := untyped.FindString(out); m != "" {
			t.Errorf("help %s: %q does not name its argument", name, m)
		}
	}
	for _, sub := range []string{"list", "show", "recover", "locks", "unlock"} {
		code, out, _ := cordon(t, "help", "state", sub)
		if code != 0 || !strings.Contains(out, "Usage: cordon state "+sub) {
			t.Errorf("help state %s: exit %d\n%s", sub, code, out)
		}
		if m := untyped.FindString(out); m != "" {
			t.Errorf("help state %s: %q does not name its argument", sub, m)
		}
	}
}

func TestNoColor(t *testing.T) {
	code, out, _ := cordonTTY(t, true, false, "validate", "-config", basicConfig)
	if code != 0 || !strings.Contains(out, "\x1b[32;1mSuccess!\x1b[0m") {
		t.Fatalf("validate on a terminal: exit %d %q", code, out)
	}
	t.Setenv("NO_COLOR", "1")
	code, out, _ = cordonTTY(t, true, false, "validate", "-config", basicConfig)
	if code != 0 || strings.Contains(out, "\x1b[") || !strings.Contains(out, "Success!") {
		t.Errorf("NO_COLOR: exit %d %q", code, out)
	}
}

func TestInitForceAndGitignore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ir")
	if code, _, errOut := cordon(t, "init", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	ignore, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil || !strings.Contains(string(ignore), ".cordon/\n") || !strings.Contains(string(ignore), "*.plan\n") {
		t.Errorf(".gitignore: %v\n%s", err, ignore)
	}
	os.WriteFile(filepath.Join(dir, "cordon.hcl"), []byte("# edited\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("node_modules/\n*.plan\n"), 0o644)
	code, _, errOut := cordon(t, "init", dir)
	if code != 1 || !strings.Contains(errOut, "cordon init -force") {
		t.Errorf("second init: exit %d\n%s", code, errOut)
	}
	code, out, errOut := cordon(t, "init", dir, "-force")
	if code != 0 || !strings.Contains(out, "overwrote "+filepath.Join(dir, "cordon.hcl")) {
		t.Errorf("init -force: exit %d\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cordon.hcl")); string(b) == "# edited\n" {
		t.Error("init -force did not overwrite cordon.hcl")
	}
	ignore, _ = os.ReadFile(filepath.Join(dir, ".gitignore"))
	if !strings.HasPrefix(string(ignore), "node_modules/\n*.plan\n") || strings.Count(string(ignore), "*.plan") != 1 || !strings.Contains(string(ignore), ".cordon/\n") {
		t.Errorf(".gitignore updated:\n%s", ignore)
	}
}

// Item 14: every JSON document has format_version and [] for an empty
// list, and a -json command's error is JSON on stdout.
func TestJSONDocuments(t *testing.T) {
	dir, _ := emulatedConfig(t)
	type doc = map[string]any
	get := func(args ...string) (int, doc) {
		t.Helper()
		code, out, errOut := cordon(t, args...)
		var d doc
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Errorf("%s: stdout is not one JSON document: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut)
		}
		if d["format_version"] != "1.0" {
			t.Errorf("%s: format_version %v", strings.Join(args, " "), d["format_version"])
		}
		return code, d
	}
	// Empty state.
	if _, d := get("state", "list", "-json", "-config", dir); d["incidents"] == nil {
		t.Errorf("state list of no incidents: %v", d)
	}
	if _, d := get("state", "recover", "-json", "-config", dir); d["recovered"] == nil {
		t.Errorf("state recover of nothing: %v", d)
	}
	if _, d := get("state", "locks", "-json", "-config", dir); d["locks"] == nil {
		t.Errorf("state locks of none: %v", d)
	}
	get("version", "-json")
	// Errors as JSON on stdout, in validate -json's shape.
	code, d := get("state", "show", "inc-nope", "-json", "-config", dir)
	if diags, _ := d["diagnostics"].([]any); code != 1 || d["valid"] != false || len(diags) != 1 || diags[0].(map[string]any)["summary"] != "No such incident" {
		t.Errorf("state show of an unknown incident: exit %d %v", code, d)
	}
	if code, d := get("apply", "does-not-exist.plan", "-json", "-config", dir); code != 1 || d["error_count"] != 1.0 {
		t.Errorf("apply of a missing plan: exit %d %v", code, d)
	}

	if code, d := get("apply", "-json", "-auto-approve", "-config", dir, "-finding", web1Finding); code != 0 || len(d["actions"].([]any)) != 6 {
		t.Fatalf("apply: exit %d %v", code, d)
	}
	_, d = get("state", "list", "-json", "-config", dir)
	id := d["incidents"].([]any)[0].(map[string]any)["id"].(string)
	_, d = get("state", "show", id, "-json", "-config", dir)
	for _, k := range []string{"applies", "actions", "evidence", "events", "plans"} {
		if _, ok := d[k].([]any); !ok {
			t.Errorf("state show: %s is %v, want a list", k, d[k])
		}
	}
	get("report", id, "-json", "-config", dir)
	if code, d := get("revert", id, "-json", "-auto-approve", "-config", dir); code != 0 || d["kind"] != "revert" {
		t.Errorf("revert -json: exit %d %v", code, d)
	}
	if code, d := get("revert", id, "-json", "-auto-approve", "-config", dir); code != 0 || d["actions"] == nil {
		t.Errorf("revert with nothing left: exit %d %v", code, d)
	}
	get("test", "-json", "-config", testFixture(t, "pass"))
}

// Item 15: -finding - reads standard input; -finding DIR reads every
// findings file in it, sorted.
func TestFindingsFromStdinAndDirectories(t *testing.T) {
	backdoor, err := os.ReadFile(findings + "guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cordonStdin(t, string(backdoor), "plan", "-config", basicConfig, "-facts", noFacts, "-json", "-finding", "-")
	if code != 0 || !strings.Contains(out, `"id": "14bd952561ab40e0b9275f648fcca0f2"`) {
		t.Errorf("-finding -: exit %d\n%s", code, errOut)
	}

	dir := t.TempDir()
	copyFile := func(src, name string) {
		data, err := os.ReadFile(findings + src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	copyFile("guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json", "b.json")
	copyFile("guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json", "a.jsonl")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not findings"), 0o600)
	code, out, errOut = cordon(t, "plan", "-config", basicConfig, "-facts", noFacts, "-json", "-finding", dir)
	var p struct {
		Incidents []struct{ Finding struct{ ID string } }
		Summary   struct{ Findings int }
	}
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || p.Summary.Findings != 2 || len(p.Incidents) != 2 ||
		p.Incidents[0].Finding.ID != "14bd952561ab40e0b9275f648fcca0f2" {
		t.Errorf("-finding DIR: exit %d %v %+v\n%s", code, err, p, errOut)
	}
	if code, _, errOut := cordon(t, "plan", "-config", basicConfig, "-facts", noFacts, "-finding", t.TempDir()); code != 1 || !strings.Contains(errOut, "holds no findings file") {
		t.Errorf("-finding of an empty DIR: exit %d\n%s", code, errOut)
	}
}

// Items 16 and 19: fmt formats Rego as opa fmt does, never parses it as
// HCL, and -diff prints a diff patch -p1 applies.
func TestFmtRego(t *testing.T) {
	unformattedRego := "package x\n\nallow if {   input.a==1\n}\n"
	formattedRego := "package x\n\nallow if input.a == 1\n"
	unformattedHCL := "scope \"x\" {\nregions = [\"eu-*\"]\n}"
	dir := writeConfig(t, map[string]string{"policies/x.rego": unformattedRego, "main.hcl": unformattedHCL, "policies/ok.rego": formattedRego})
	t.Chdir(dir)

	code, out, errOut := cordon(t, "fmt", "-check", "-recursive")
	if code != 3 || out != filepath.Join("main.hcl")+"\n"+filepath.Join("policies", "x.rego")+"\n" {
		t.Errorf("fmt -check: exit %d\n%s\n%s", code, out, errOut)
	}
	code, diff, _ := cordon(t, "fmt", "-check", "-diff", "-list=false", "-recursive")
	if code != 3 || !strings.Contains(diff, "--- a/policies/x.rego\n+++ b/policies/x.rego\n") || !strings.Contains(diff, "\\ No newline at end of file") {
		t.Errorf("fmt -diff: exit %d\n%s", code, diff)
	}
	if _, err := exec.LookPath("patch"); err == nil {
		cmd := exec.Command("patch", "-p1", "--batch")
		cmd.Stdin = strings.NewReader(diff)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("patch -p1: %v\n%s\n%s", err, out, diff)
		}
		if b, _ := os.ReadFile("policies/x.rego"); string(b) != formattedRego {
			t.Errorf("patched Rego:\n%s", b)
		}
		if code, out, _ := cordon(t, "fmt", "-check", "-recursive"); code != 0 {
			t.Errorf("fmt -check after patch: exit %d\n%s", code, out)
		}
	} else {
		t.Log("patch is not installed: the diff is not applied")
	}

	os.WriteFile("policies/x.rego", []byte(unformattedRego), 0o644)
	if code, _, errOut := cordon(t, "fmt", "policies/x.rego"); code != 0 {
		t.Errorf("fmt FILE.rego: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile("policies/x.rego"); string(b) != formattedRego {
		t.Errorf("formatted Rego:\n%s", b)
	}
	os.WriteFile("policies/bad.rego", []byte("package x\n\nallow if {\n"), 0o644)
	code, _, errOut = cordon(t, "fmt", "-recursive")
	if code != 1 || !strings.Contains(errOut, "policies/bad.rego line 4") || strings.Contains(errOut, "Argument or block definition required") {
		t.Errorf("fmt of invalid Rego: exit %d\n%s", code, errOut)
	}
}

// Item 17: test -run that selects nothing fails, Rego tests match as opa
// test -r matches them, and a broken policy file does not hide the other
// files' results.
func TestTestRunAndBrokenFiles(t *testing.T) {
	dir := testFixture(t, "pass")
	code, out, errOut := cordon(t, "test", "-config", dir, "-run", "nothing_is_called_this")
	if code != 1 || !strings.Contains(errOut, "No test matches -run") {
		t.Errorf("-run matching nothing: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = cordon(t, "test", "-config", dir, "-run", `^data\.fixture\.verdict_test\.test_a_miner_is_malicious$`)
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("-run by the Rego test's full name: exit %d\n%s", code, out)
	}

	// A syntax error in the verdict policy: its tests fail, the response
	// policy's run and pass.
	f, _ := os.OpenFile(filepath.Join(dir, "policies", "verdict.rego"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\nbroken := {\n")
	f.Close()
	code, out, errOut = cordon(t, "test", "-config", dir, "-no-color")
	if code != 1 || !strings.Contains(errOut, "verdict.rego") || !regexp.MustCompile(`ok +\S*policies/response_test\.rego +5 passed`).MatchString(out) {
		t.Errorf("a broken policy: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Item 18: plural and article in messages.
func TestGrammar(t *testing.T) {
	_, out, _ := cordon(t, "plan", "-config", basicConfig, "-facts", noFacts, "-no-color",
		"-finding", findings+"guardduty_boto3_GetFindings_Recon_EC2_PortProbeUnprotectedPort.json")
	if !strings.Contains(out, "1 finding unmatched.") {
		t.Errorf("plan:\n%s", out)
	}
	dir, emu := emulatedConfig(t)
	emu.Faults().Fail("ec2:ModifyNetworkInterfaceAttribute", "eni-0d4c3b2a190817263", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	_, _, errOut := cordon(t, "apply", "-config", dir, "-finding", web1Finding, "-auto-approve", "-no-color")
	if !strings.Contains(errOut, "Error: 1 action failed") {
		t.Errorf("apply:\n%s", errOut)
	}
	bad := writeConfig(t, map[string]string{"main.hcl": `
action "tag" { type = "aws_ec2_tag" }
scope "all" {}
rule "r" {
  scopes  = [scope.all]
  actions = ["tag"]
}`})
	_, _, errOut = cordon(t, "validate", "-config", bad, "-no-color")
	if !strings.Contains(errOut, "a reference to an action block") || strings.Contains(errOut, "a action") {
		t.Errorf("validate:\n%s", errOut)
	}
}

// Item 19: plan -out to a directory that does not exist fails before
// investigating; a stale saved plan names the files that changed.
func TestPlanOutAndStalePlans(t *testing.T) {
	dir, emu, _ := collectorConfig(t, assumeResponder)
	code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", filepath.Join(t.TempDir(), "nope", "x.plan"))
	if code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("plan -out to a missing directory: exit %d\n%s", code, errOut)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("it investigated first: %d AWS calls", n)
	}

	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	os.WriteFile(filepath.Join(dir, "policies", "verdict.rego"), []byte("package cordon.verdict\n\nverdict := \"benign\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "policies", "extra.rego"), []byte("package cordon.extra\n\nx := 1\n"), 0o644)
	code, _, errOut = cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 1 || !strings.Contains(errOut, "Saved plan is stale") ||
		!strings.Contains(errOut, "changed: policies/verdict.rego; added: policies/extra.rego") {
		t.Errorf("stale plan: exit %d\n%s", code, errOut)
	}
}
