package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// -forensic prints the policy of the role in the forensic account; a
// configuration without one says so, and -caller with -forensic is an
// error.
func TestIAMPolicyForensic(t *testing.T) {
	const dir = "../../engine/testdata/evidence"
	code, out, errOut := cordon(t, "iam-policy", "-config", dir, "-forensic")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var p struct {
		Statement []struct {
			Sid    string
			Action []string
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var actions []string
	for _, s := range p.Statement {
		if !strings.HasPrefix(s.Sid, "CordonForensic") {
			t.Errorf("statement %s", s.Sid)
		}
		actions = append(actions, s.Action...)
	}
	for _, want := range []string{"ec2:CopySnapshot", "ec2:CreateTags", "ec2:DescribeSnapshots", "kms:CreateGrant", "kms:ReEncryptFrom", "kms:ReEncryptTo"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("the forensic policy lacks %s:\n%s", want, out)
		}
	}
	// The responder's policy shares with the forensic account.
	code, out, _ = cordon(t, "iam-policy", "-config", dir)
	if code != 0 || !strings.Contains(out, "ec2:ModifySnapshotAttribute") || !strings.Contains(out, `"ec2:Add/userId"`) {
		t.Errorf("responder policy: exit %d\n%s", code, out)
	}

	plain, _ := emulatedConfig(t)
	code, _, errOut = cordon(t, "iam-policy", "-config", plain, "-forensic")
	if code != 1 || !strings.Contains(errOut, "names no forensic account") {
		t.Errorf("-forensic without a forensic account: exit %d\n%s", code, errOut)
	}
	code, _, errOut = cordon(t, "iam-policy", "-config", dir, "-forensic", "-caller")
	if code != 1 || !strings.Contains(errOut, "give one") {
		t.Errorf("-forensic -caller: exit %d\n%s", code, errOut)
	}
}
