package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// The apply, state and revert commands, in-process, against the emulator
// with the demo fleet: credentials come from the environment, as from the
// SDK's default chain, and the endpoint from the provider block.

const web1Finding = "../../policies/testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"

// emulatedConfig starts the emulator and writes a configuration acting on
// it (the engine's apply test configuration plus a provider block) into a
// new directory, which it returns with the emulator.
func emulatedConfig(t *testing.T) (string, *awsemu.Emulator) {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	emu := awsemu.New(seed)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for _, name := range []string{"cordon.hcl", "policies/verdict.rego", "policies/response.rego"} {
		data, err := os.ReadFile(filepath.Join("../../engine/testdata/apply", name))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hook.Close)
	t.Setenv("CORDON_VAR_webhook_url", hook.URL+"/cordon")
	provider := `
provider "aws" {
  region          = "us-west-2"
  endpoint        = "` + srv.URL + `"
  assume_role_arn = "` + demo.ResponderRoleARN + `"
}
`
	if err := os.WriteFile(filepath.Join(dir, "provider.hcl"), []byte(provider), 0o644); err != nil {
		t.Fatal(err)
	}
	setAWSEnv(t)
	return dir, emu
}

// setAWSEnv gives the SDK's default chain the demo's credentials and keeps
// it away from the machine's own AWS configuration.
func setAWSEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", demo.CordonAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", demo.CordonSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", demo.Region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")
}

func TestApplyPlanFileStateAndRevert(t *testing.T) {
	dir, emu := emulatedConfig(t)
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}

	// A saved plan is its own approval: no prompt, even without a terminal.
	code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Apply complete! Actions: 6 applied, 0 failed, 0 drifted.") {
		t.Errorf("apply output:\n%s", out)
	}
	info, err := os.Stat(filepath.Join(dir, ".cordon", "state.db"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v %v", err, info)
	}
	if dinfo, err := os.Stat(filepath.Join(dir, ".cordon")); err != nil || dinfo.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v %v", err, dinfo)
	}
	r := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	if r.Instances["i-0a1b2c3d4e5f67890"].State != "stopped" {
		t.Errorf("web-1 is %s after apply", r.Instances["i-0a1b2c3d4e5f67890"].State)
	}

	// The same plan twice: refused, nothing changed (the access check
	// before it reads only).
	calls := len(emu.Calls())
	code, _, errOut = cordon(t, "apply", "-config", dir, planFile)
	if code != 1 || !strings.Contains(errOut, "Saved plan was already applied") {
		t.Errorf("second apply: exit %d\n%s", code, errOut)
	}
	for _, c := range emu.Calls()[calls:] {
		if !isReadOnly(c.Operation) {
			t.Errorf("a refused apply called %s", c.Action())
		}
	}

	// state list and show.
	code, out, _ = cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []struct {
			ID      string         `json:"id"`
			Status  string         `json:"status"`
			Actions map[string]int `json:"actions"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Incidents) != 1 {
		t.Fatalf("state list -json: exit %d %v\n%s", code, err, out)
	}
	inc := list.Incidents[0]
	if inc.Status != "responded" || inc.Actions["applied"] != 6 {
		t.Errorf("incident %+v", inc)
	}
	code, out, _ = cordon(t, "state", "list", "-config", dir)
	if code != 0 || !strings.Contains(out, inc.ID) || !strings.Contains(out, "malicious") {
		t.Errorf("state list:\n%s", out)
	}
	code, out, _ = cordon(t, "state", "show", "-config", dir, "-no-color", inc.ID)
	if code != 0 || !strings.Contains(out, `action.isolate["i-0a1b2c3d4e5f67890"]`) || !strings.Contains(out, "APPLIED") {
		t.Errorf("state show:\n%s", out)
	}
	if code, _, errOut := cordon(t, "state", "show", "-config", dir, "inc-nope"); code != 1 || !strings.Contains(errOut, "inc-nope") {
		t.Errorf("state show of an unknown incident: exit %d %s", code, errOut)
	}

	// revert without a terminal needs -auto-approve.
	code, _, errOut = cordon(t, "revert", "-config", dir, "-input=false", inc.ID)
	if code != 1 || !strings.Contains(errOut, "-auto-approve") {
		t.Errorf("revert -input=false: exit %d %s", code, errOut)
	}
	code, out, errOut = cordon(t, "revert", "-config", dir, "-auto-approve", "-no-color", inc.ID)
	if code != 0 || !strings.Contains(out, "Revert complete! Actions: 4 reverted, 0 failed, 0 drifted.") {
		t.Fatalf("revert: exit %d\n%s\n%s", code, out, errOut)
	}
	r = emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	if r.Instances["i-0a1b2c3d4e5f67890"].State != "running" {
		t.Errorf("web-1 is %s after revert", r.Instances["i-0a1b2c3d4e5f67890"].State)
	}
	code, out, _ = cordon(t, "revert", "-config", dir, "-auto-approve", inc.ID)
	if code != 0 || !strings.Contains(out, "no applied actions left to revert") {
		t.Errorf("second revert: exit %d\n%s", code, out)
	}
}

func TestApplyFindingsAsks(t *testing.T) {
	dir, emu := emulatedConfig(t)
	// Without a terminal and without -auto-approve, apply fails instead of
	// waiting, and changes nothing.
	code, _, errOut := cordon(t, "apply", "-config", dir, "-finding", web1Finding, "-input=false")
	if code != 1 || !strings.Contains(errOut, "-auto-approve") {
		t.Errorf("apply -input=false: exit %d %s", code, errOut)
	}
	// Anything but "yes" cancels.
	code, out, _ := cordonStdin(t, "no\n", "apply", "-config", dir, "-finding", web1Finding)
	if code != 1 || !strings.Contains(out, "Do you want to perform these actions?") || !strings.Contains(out, "Apply cancelled.") {
		t.Errorf("apply answered no: exit %d\n%s", code, out)
	}
	for _, c := range emu.Calls() {
		if !isReadOnly(c.Operation) {
			t.Errorf("a cancelled apply called %s", c.Action())
		}
	}
	code, out, errOut = cordonStdin(t, "yes\n", "apply", "-config", dir, "-finding", web1Finding, "-json")
	if code != 0 {
		t.Fatalf("apply answered yes: exit %d\n%s", code, errOut)
	}
	var res struct {
		Summary struct{ Applied, Failed int } `json:"summary"`
		Actions []struct{ Address, Result string }
	}
	// With -json, stdout is the result document only: the plan and the
	// question went to stderr.
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Summary.Applied != 6 {
		t.Errorf("apply -json: %v %+v\n%s", err, res, out)
	}
}

func TestApplyFailureExitsOne(t *testing.T) {
	dir, emu := emulatedConfig(t)
	emu.Faults().Fail("ec2:ModifyNetworkInterfaceAttribute", "eni-0d4c3b2a190817263", "UnauthorizedOperation", "You are not authorized to perform this operation.")
	code, out, errOut := cordon(t, "apply", "-config", dir, "-finding", web1Finding, "-auto-approve", "-no-color")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "UnauthorizedOperation") || !strings.Contains(out, "Skipped: an earlier action on i-0a1b2c3d4e5f67890 failed") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
}

func TestIAMPolicyCommand(t *testing.T) {
	dir, _ := emulatedConfig(t)
	code, out, errOut := cordon(t, "iam-policy", "-config", dir)
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var p struct {
		Version   string
		Statement []struct {
			Sid    string
			Action []string
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Version != "2012-10-17" || len(p.Statement) < 5 {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "ec2:ModifyNetworkInterfaceAttribute") || strings.Contains(out, "webhook") {
		t.Errorf("policy:\n%s", out)
	}
	code, out, _ = cordon(t, "iam-policy", "-config", dir, "-caller")
	if code != 0 || !strings.Contains(out, `"sts:AssumeRole"`) || !strings.Contains(out, "arn:aws:iam::*:role/cordon-responder") {
		t.Errorf("-caller: exit %d\n%s", code, out)
	}
}

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	code, out, errOut := cordon(t, "demo", "-no-color", "-state-dir", dir)
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"cordon will perform the following actions:",
		`action.isolate["i-0a1b2c3d4e5f67890"]`,
		// The verdict cites what the triage of web-1 found.
		"verdict   malicious (confidence 0.99)",
		"triage: cryptocurrency miner running: xmrig (pid 24811, user nginx, /tmp/.xm/xmrig)",
		`action.stop["i-0a1b2c3d4e5f67890"]`,
		"triage: no successful login and no session from 198.51.100.23",
		// The report's timeline merges the finding, the host and cordon.
		"==> The incident report of", "Root cause: a cryptocurrency miner (xmrig) was installed", "facts.triage",
		"GuardDuty first saw the activity",
		"Process xmrig (pid 24811) started as nginx",
		"File changed: /var/spool/cron/nginx",
		"Apply complete!",
		"security groups [sg-0123456789abcdef0] -> [sg-0e1f2a3b4c5d6e7f8]",
		"new snapshot",
		"no rule matched",
		"Revert complete!",
		"security groups [sg-0e1f2a3b4c5d6e7f8] -> [sg-0123456789abcdef0]",
		// web-1's memory is acquired before it is stopped, and the report
		// shows the image's SHA-256; the chain verifies, then breaks at
		// the entry the demo edits.
		"Memory acquired while planning, before anything is applied:",
		"  memory image s3://cordon-demo-evidence/cordon/inc-fa6dd59559fea244/i-0a1b2c3d4e5f67890/memory-",
		"All 3 incidents' chains of custody verify",
		"Incident inc-fa6dd59559fea244: the chain of custody breaks at entry ",
		"The chain of custody of 1 incident is broken.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}

	// -state-dir keeps the state, and the report the demo points to works.
	m := regexp.MustCompile(`cordon report -state (\S+) -format html -out report.html (inc-[0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo does not say how to see the report:\n%s", out)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v", info, err)
	}
	code, md, errOut := cordon(t, "report", "-state", m[1], "-format", "md", m[2])
	if code != 0 || !strings.Contains(md, "**Verdict: MALICIOUS** (confidence 0.99)") || !strings.Contains(md, "xmrig") {
		t.Errorf("report of the demo's incident: exit %d\n%s\n%s", code, md, errOut)
	}
	// The state it kept holds the demo's edit, which the report finds too.
	image := regexp.MustCompile(`memory image (s3://\S+) \(4\.0 MiB\)\n    SHA-256 ([0-9a-f]{64})`).FindStringSubmatch(out)
	if image == nil || !strings.Contains(md, image[1]) || !strings.Contains(md, image[2]) ||
		!strings.Contains(md, "The chain of custody is broken at entry ") || !strings.Contains(md, image[1]+"): edited: its hash does not match its content") {
		t.Errorf("the report of the kept state does not show the memory image %q or the edit:\n%s", image, md)
	}
}

func isReadOnly(op string) bool {
	for _, p := range []string{"Describe", "Get", "List", "AssumeRole"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}
