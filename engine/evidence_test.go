package engine_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// The forensic account of testdata/evidence and its key; web-1's data
// volume is put under a prod key whose policy lets that account copy it.
const (
	forensicAccount = "444455556666"
	forensicKeyID   = "33333333-4444-4555-8666-777777777777"
	prodDataKeyID   = "11111111-2222-4333-8444-555555555555"
)

func forensicFleet(t *testing.T) *awsemu.Seed {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	seed.Options.SnapshotDelayCalls = 1
	seed.Accounts = append(seed.Accounts, awsemu.SeedAccount{ID: forensicAccount, Alias: "forensic",
		Roles:   []awsemu.SeedRole{{Name: "cordon-responder", Trust: []string{demo.SecurityAccount}}},
		Regions: map[string]awsemu.SeedRegion{demo.Region: {KMSKeys: []awsemu.SeedKMSKey{{ID: forensicKeyID, Description: "evidence"}}}},
	})
	for i := range seed.Accounts {
		a := &seed.Accounts[i]
		if a.ID != demo.ProdAccount {
			continue
		}
		r := a.Regions[demo.Region]
		r.KMSKeys = append(r.KMSKeys, awsemu.SeedKMSKey{ID: prodDataKeyID, Policy: json.RawMessage(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"},
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Decrypt","kms:DescribeKey","kms:ReEncrypt*"],"Resource":"*"},
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:CreateGrant","Resource":"*",
			 "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`)})
		for j := range r.Instances {
			for k := range r.Instances[j].Volumes {
				if r.Instances[j].Volumes[k].Encrypted {
					r.Instances[j].Volumes[k].KMSKeyID = prodDataKeyID
				}
			}
		}
		a.Regions[demo.Region] = r
	}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	return seed
}

// A response that snapshots web-1, under exactly the policies `cordon
// iam-policy` and `cordon iam-policy -forensic` print (enforced as IAM
// does): the disk acquisition and the snapshot action copy web-1's
// snapshots into the forensic account once, both ids are evidence chained
// in custody, the shares are gone, and reverting the incident leaves the
// snapshots and their copies where they are.
func TestForensicCopiesEndToEnd(t *testing.T) {
	emu := awsemu.New(forensicFleet(t))
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/evidence"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}

	responder, _ := json.Marshal(e.IAMPolicy())
	forensicPolicy, err := e.ForensicPolicy()
	if err != nil {
		t.Fatal(err)
	}
	forensic, _ := json.Marshal(forensicPolicy)
	caller, err := e.CallerPolicy()
	if err != nil {
		t.Fatal(err)
	}
	callerDoc, _ := json.Marshal(caller)
	for account, doc := range map[string][]byte{demo.ProdAccount: responder, forensicAccount: forensic} {
		if err := emu.PutInlinePolicy(strings.ReplaceAll(demo.ResponderRoleARN, "{account}", account), "cordon", string(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := emu.PutInlinePolicy("arn:aws:iam::"+demo.SecurityAccount+":user/automation/cordon", "cordon-caller", string(callerDoc)); err != nil {
		t.Fatal(err)
	}
	emu.EnforcePolicies(true)

	factory, err := awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	files, diags := engine.ReadFindings([]string{web1Findings})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{AWS: factory, KeepData: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for id, data := range res.Data {
		if msg, _ := data.Facts["disk"]["error"].(string); msg != "" {
			t.Fatalf("%s: disk acquisition failed: %s", id, msg)
		}
	}
	f := res.File(e, time.Now().UTC().Format(time.RFC3339Nano))
	if f.ID, err = plan.ID(f); err != nil {
		t.Fatal(err)
	}
	opts := engine.ApplyOptions{Store: st, AWS: factory, Owner: "test", ApproveManual: true}
	applied, err := e.Apply(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot action finds the collector's snapshots and copies:
	// nothing left to change.
	if applied.Failed() || applied.Summary.Applied != 2 {
		t.Fatalf("apply: %s\n%+v", applied.Summary, applied.Actions)
	}

	snap := emu.Snapshot()
	sources := map[string]bool{}
	for id, s := range snap.Accounts[demo.ProdAccount].Regions[demo.Region].Snapshots {
		sources[id] = true
		if len(s.CreateVolumePermissions) != 0 {
			t.Errorf("snapshot %s still shared with %v", id, s.CreateVolumePermissions)
		}
	}
	copies := snap.Accounts[forensicAccount].Regions[demo.Region].Snapshots
	if len(sources) != 2 || len(copies) != 2 {
		t.Fatalf("%d snapshots in prod and %d copies, want 2 and 2 (the action reuses the collector's)", len(sources), len(copies))
	}
	for id, c := range copies {
		if !sources[c.SourceSnapshotID] || c.State != "completed" || c.KMSKeyID != "arn:aws:kms:us-west-2:444455556666:key/"+forensicKeyID {
			t.Errorf("copy %s: %+v", id, c)
		}
	}

	// Both ids are evidence, each copy after its source, and the chain
	// verifies.
	incident := uniqueIncidents(applied)[0]
	entries, evidence, err := state.ReadCustody(context.Background(), st, incident)
	if err != nil {
		t.Fatal(err)
	}
	if b := state.VerifyCustody(entries, evidence); b != nil {
		t.Fatalf("custody: %v", b)
	}
	seen := map[string]int{}
	for i, en := range entries {
		seen[en.Kind]++
		if en.Kind != state.CustodySnapshotCopy {
			continue
		}
		var meta map[string]any
		json.Unmarshal([]byte(en.Meta), &meta)
		src, _ := meta["source_snapshot_id"].(string)
		if copies[en.Name] == nil || copies[en.Name].SourceSnapshotID != src || meta["account"] != forensicAccount {
			t.Errorf("entry %d: %s %s", en.Seq, en.Name, en.Meta)
		}
		before := false
		for _, prev := range entries[:i] {
			before = before || (prev.Kind == "snapshot" && prev.Name == src)
		}
		if !before {
			t.Errorf("copy %s is chained before its source %s", en.Name, src)
		}
	}
	if seen["snapshot"] != 2 || seen[state.CustodySnapshotCopy] != 2 {
		t.Errorf("custody kinds %v: want 2 snapshots and 2 copies, each once", seen)
	}

	// Revert: isolation and the stop are undone; snapshots and copies stay.
	rp, err := e.PlanRevert(context.Background(), st, incident)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := e.Revert(context.Background(), rp, opts)
	if err != nil || rr.Failed() {
		t.Fatalf("revert: %v %+v", err, rr.Actions)
	}
	after := emu.Snapshot()
	if n, m := len(after.Accounts[demo.ProdAccount].Regions[demo.Region].Snapshots), len(after.Accounts[forensicAccount].Regions[demo.Region].Snapshots); n != 2 || m != 2 {
		t.Errorf("after the revert: %d snapshots and %d copies, want 2 and 2", n, m)
	}
	for _, a := range rr.Actions {
		if strings.Contains(a.Address, "snapshot") {
			t.Errorf("revert acted on %s", a.Address)
		}
	}

	// Every call was allowed by the policy of its principal, as IAM
	// evaluates it, the key operations of the copies included.
	for _, c := range emu.Calls() {
		switch c.ErrorCode {
		case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException":
			t.Errorf("%s by %s was denied: %+v", c.Action(), c.Principal, c.Authorizations)
		}
		if c.ErrorCode != "" && len(c.Authorizations) == 0 {
			continue
		}
		var docs []string
		switch {
		case strings.Contains(c.Principal, ":user/"):
			docs = []string{string(callerDoc)}
		case c.Account == forensicAccount:
			docs = []string{string(forensic)}
		default:
			docs = []string{string(responder)}
		}
		if ok, why, err := awsemu.Allows(docs, c); err != nil || !ok {
			t.Errorf("%s by %s: %s %v", c.Action(), c.Principal, why, err)
		}
	}
}

// The statements the policies gain for the forensic account: sharing
// only with it, never publicly, only cordon's snapshots; and the forensic
// role's copy, tagging and key operations.
func TestForensicIAMPolicies(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/evidence"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	share := statements(e.IAMPolicy())["CordonEvidenceForensicShareShareSnapshots"]
	want := engine.IAMStatement{Sid: "CordonEvidenceForensicShareShareSnapshots", Effect: "Allow", Action: []string{"ec2:ModifySnapshotAttribute"},
		Resource: []string{"arn:aws:ec2:us-west-2::snapshot/*"}, Condition: engine.IAMCondition{
			"ForAllValues:StringEquals": {"ec2:Add/userId": {forensicAccount}, "ec2:Remove/userId": {forensicAccount}},
			"Null":                      {"ec2:Add/group": {"true"}, "ec2:ResourceTag/cordon:incident": {"false"}},
		}}
	if !jsonEqual(t, share, want) {
		t.Errorf("share statement %+v\nwant %+v", share, want)
	}
	keys := statements(e.IAMPolicy())["CordonEvidenceForensicShareReadKeys"]
	if strings.Join(keys.Resource, ",") != "arn:aws:kms:us-west-2:123456789012:key/*" {
		t.Errorf("key statement %+v", keys)
	}
	fp, err := e.ForensicPolicy()
	if err != nil {
		t.Fatal(err)
	}
	got := statements(fp)
	forensicKey := "arn:aws:kms:us-west-2:444455556666:key/" + forensicKeyID
	for sid, res := range map[string]string{
		"CordonForensicCopySnapshots": "arn:aws:ec2:us-west-2::snapshot/*", "CordonForensicCopyTagCopies": "arn:aws:ec2:us-west-2::snapshot/*",
		"CordonForensicCopyRead": "*", "CordonForensicCopySourceKeys": "arn:aws:kms:us-west-2:123456789012:key/*",
		"CordonForensicCopySourceKeyGrants": "arn:aws:kms:us-west-2:123456789012:key/*",
		"CordonForensicCopyKey":             forensicKey, "CordonForensicCopyKeyGrants": forensicKey,
	} {
		if s, ok := got[sid]; !ok || strings.Join(s.Resource, ",") != res {
			t.Errorf("%s: %+v, want on %s", sid, s, res)
		}
	}
	if c := got["CordonForensicCopyKeyGrants"].Condition; strings.Join(c["Bool"]["kms:GrantIsForAWSResource"], "") != "true" {
		t.Errorf("grants on the forensic key are not conditioned on AWS resources: %v", c)
	}
	if len(got) != 7 {
		t.Errorf("%d statements, want 7: %v", len(got), fp)
	}

	// Without a forensic account, nothing is added, and -forensic says why.
	plain := loadFS(t, `
scope "s" { resource_types = ["aws_instance"] }
action "snapshot" { type = "aws_ec2_snapshot" }
rule "r" {
  scopes  = [scope.s]
  actions = [action.snapshot]
}`)
	for sid := range statements(plain.IAMPolicy()) {
		if strings.HasPrefix(sid, "CordonEvidence") {
			t.Errorf("statement %s without a forensic account", sid)
		}
	}
	if _, err := plain.ForensicPolicy(); err == nil || !strings.Contains(err.Error(), "names no forensic account") {
		t.Errorf("ForensicPolicy without one: %v", err)
	}
}
