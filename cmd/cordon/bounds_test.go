package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanWithARejectedRecord checks cordon plan over a batch holding one
// hostile record: the record is an error naming it, the others are
// planned and shown, the exit code is 1, and no plan file is written.
func TestPlanWithARejectedRecord(t *testing.T) {
	var good bytes.Buffer
	data, err := os.ReadFile(findings + "guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&good, data); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat(`{"a":`, 9998) + "1" + strings.Repeat("}", 9998)
	batch := filepath.Join(t.TempDir(), "batch.ndjson")
	if err := os.WriteFile(batch, []byte(deep+"\n"+good.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(t.TempDir(), "batch.plan")
	want := batch + ":1:1: record 1: the record nests deeper than 100 levels"

	code, out, errOut := cordon(t, "plan", "-config", basicConfig, "-facts", basicFacts, "-finding", batch, "-no-color", "-out", planFile)
	if code != 1 || !strings.Contains(errOut, "Invalid finding") || !strings.Contains(errOut, want) {
		t.Errorf("plan: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "Backdoor:EC2/C&CActivity.B!DNS") || !strings.Contains(out, "cordon will perform the following actions") ||
		!strings.Contains(out, "(record 1 of "+batch+")") {
		t.Errorf("the plan of the other findings is not shown:\n%s", out)
	}
	if _, err := os.Stat(planFile); !os.IsNotExist(err) {
		t.Errorf("a plan with errors was written: %v", err)
	}

	code, out, _ = cordon(t, "plan", "-config", basicConfig, "-facts", basicFacts, "-finding", batch, "-json")
	var p struct {
		Incidents []json.RawMessage `json:"incidents"`
		Unmatched []struct {
			FindingID string `json:"finding_id"`
			Reason    string `json:"reason"`
		} `json:"unmatched"`
	}
	if err := json.Unmarshal([]byte(out), &p); code != 1 || err != nil || len(p.Incidents) != 1 || len(p.Unmatched) != 1 ||
		!strings.HasPrefix(p.Unmatched[0].Reason, "rejected: "+want) {
		t.Errorf("plan -json: exit %d, %v\n%s", code, err, out)
	}
}
