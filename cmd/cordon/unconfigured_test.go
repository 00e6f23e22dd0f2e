package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// The starter's webhook_url is empty until set: validate and plan warn
// that action notify is not configured, apply skips it and does the rest
// of the response, and once the variable is set the same apply delivers.
// So with the memory collector's variables (evidence_bucket,
// memory_tool_s3_uri, memory_tool_sha256): until they are set, validate
// warns naming them and the stop is withheld, saying why; set, the
// memory is acquired and the instance stopped.
func TestStarterWebhookNotSet(t *testing.T) {
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	emu := awsemu.New(seed)
	demo.SeedTriage(emu) // a miner: the response stops web-1, once its memory is acquired
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	setAWSEnv(t)
	for _, v := range []string{"webhook_url", "evidence_bucket", "memory_tool_s3_uri", "memory_tool_sha256"} {
		t.Setenv("CORDON_VAR_"+v, "")
		os.Unsetenv("CORDON_VAR_" + v)
	}

	dir := t.TempDir()
	if code, _, errOut := cordon(t, "init", dir); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	provider := "provider \"aws\" {\n  region          = \"" + demo.Region + "\"\n  endpoint        = \"" + srv.URL +
		"\"\n  assume_role_arn = \"" + demo.ResponderRoleARN + "\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "provider.hcl"), []byte(provider), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cordon(t, "validate", "-config", dir, "-no-color")
	if code != 0 || !strings.Contains(errOut, "Warning: Action not configured") ||
		!strings.Contains(errOut, "Set variable webhook_url (for example with CORDON_VAR_webhook_url") ||
		!strings.Contains(errOut, "Warning: Collector not configured") ||
		!strings.Contains(errOut, "Set variables memory_tool_s3_uri, memory_tool_sha256 and evidence_bucket (for example with CORDON_VAR_memory_tool_s3_uri") ||
		!strings.Contains(out, "valid, but there were some validation warnings") {
		t.Fatalf("validate: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = cordon(t, "validate", "-config", dir, "-json")
	var doc struct {
		Valid       bool `json:"valid"`
		Diagnostics []struct {
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || !doc.Valid ||
		len(doc.Diagnostics) != 2 || doc.Diagnostics[0].Severity != "warning" || doc.Diagnostics[1].Severity != "warning" {
		t.Fatalf("validate -json: exit %d %v\n%s", code, err, out)
	}

	code, out, errOut = cordon(t, "plan", "-config", dir, "-no-color", "-finding", web1Finding)
	if code != 0 || !strings.Contains(errOut, "Action not configured") || !strings.Contains(out, `post     = "(not set)"`) ||
		!strings.Contains(out, `# action.stop["i-0a1b2c3d4e5f67890"] withheld: rule ec2_compromise secures the volatile evidence of i-0a1b2c3d4e5f67890 before disrupting it, `+
			`and collector memory (aws_ssm_memory) has not: its memory acquisition failed: not configured: its tool_s3_uri, tool_sha256 and the evidence block's bucket are empty; `+
			`set variables memory_tool_s3_uri, memory_tool_sha256 and evidence_bucket`) {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = cordon(t, "apply", "-config", dir, "-no-color", "-auto-approve", "-json", "-finding", web1Finding)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	var res struct {
		Actions []struct {
			Address, Result, Error string
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, a := range res.Actions {
		results[strings.SplitN(a.Address, "[", 2)[0]] = a.Result + " " + a.Error
	}
	if _, stopped := results["action.stop"]; stopped || results["action.notify"] != "skipped not configured: its url is empty" ||
		!strings.HasPrefix(results["action.isolate"], "applied") {
		t.Fatalf("apply results: %v", results)
	}
	r := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	if g := r.NetworkInterfaces["eni-0d4c3b2a190817263"].Groups; len(g) != 1 || g[0] == "sg-0123456789abcdef0" {
		t.Errorf("web-1 not isolated: %v", g)
	}
	if s := r.Instances[demo.WebServerID].State; s != "running" {
		t.Errorf("web-1 is %s without its memory acquired", s)
	}
	code, out, _ = cordon(t, "state", "list", "-config", dir, "-json")
	if code != 0 || strings.Contains(out, `"failed"`) {
		t.Errorf("a skipped notification fails the incident: exit %d\n%s", code, out)
	}

	// Set, the notification goes out on the next apply of the finding.
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(hook.Close)
	t.Setenv("CORDON_VAR_webhook_url", hook.URL+"/cordon")
	t.Setenv("CORDON_VAR_evidence_bucket", demo.EvidenceBucket)
	t.Setenv("CORDON_VAR_memory_tool_s3_uri", demo.MemoryToolURI)
	t.Setenv("CORDON_VAR_memory_tool_sha256", demo.MemoryToolSHA256)
	code, _, errOut = cordon(t, "validate", "-config", dir)
	if code != 0 || errOut != "" {
		t.Errorf("validate with the variables set: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := cordon(t, "apply", "-config", dir, "-auto-approve", "-finding", web1Finding); code != 0 || got.Load() != 1 {
		t.Errorf("apply with the variables set: exit %d, %d deliveries\n%s\n%s", code, got.Load(), out, errOut)
	}
	r = emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	if s := r.Instances[demo.WebServerID].State; s != "stopped" {
		t.Errorf("web-1 is %s with its memory acquired", s)
	}
}
