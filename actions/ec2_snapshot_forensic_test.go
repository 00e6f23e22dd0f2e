package actions

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/evidence"
)

// The forensic account of these tests: cordon assumes its
// cordon-responder role there as in every account, and copies are
// encrypted under its alias/forensics key.
const (
	forensicAccount = "555566667777"
	shareableKey    = "11111111-2222-4333-8444-555555555555"
	privateKey      = "22222222-3333-4444-8555-666666666666"
	forensicKey     = "33333333-4444-4555-8666-777777777777"
	forensicKeyARN  = "arn:aws:kms:us-east-1:" + forensicAccount + ":key/" + forensicKey
)

// forensicSeed adds the forensic account to the fleet, and two keys to
// prod: one whose policy lets the forensic account copy what it
// encrypts (web-1's data volume's), one that does not (web-2's root
// volume's, when private is set).
func forensicSeed(private bool) func(*awsemu.Seed) {
	return func(seed *awsemu.Seed) {
		seed.Accounts = append(seed.Accounts, awsemu.SeedAccount{ID: forensicAccount, Alias: "forensic",
			Roles: []awsemu.SeedRole{{Name: "cordon-responder", Trust: []string{"444455556666"}}},
			Regions: map[string]awsemu.SeedRegion{region: {KMSKeys: []awsemu.SeedKMSKey{
				{ID: forensicKey, Aliases: []string{"alias/forensics"}},
			}}},
		})
		for i := range seed.Accounts {
			a := &seed.Accounts[i]
			if a.ID != prodAccount {
				continue
			}
			r := a.Regions[region]
			r.KMSKeys = append(r.KMSKeys,
				awsemu.SeedKMSKey{ID: shareableKey, Policy: json.RawMessage(`{"Version":"2012-10-17","Statement":[
					{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
					{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::555566667777:root"},"Action":["kms:Decrypt","kms:DescribeKey","kms:ReEncrypt*"],"Resource":"*"},
					{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::555566667777:root"},"Action":"kms:CreateGrant","Resource":"*",
					 "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`)},
				// Only DescribeKey for the forensic account: it lacks the rest.
				awsemu.SeedKMSKey{ID: privateKey, Policy: json.RawMessage(`{"Version":"2012-10-17","Statement":[
					{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
					{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::555566667777:root"},"Action":"kms:DescribeKey","Resource":"*"}]}`)})
			for j := range r.Instances {
				in := &r.Instances[j]
				switch {
				case in.ID == ec2Fleet.web1:
					in.Volumes[1].KMSKeyID = shareableKey
				case in.ID == ec2Fleet.web2 && private:
					in.Volumes[0].Encrypted, in.Volumes[0].KMSKeyID = true, privateKey
				}
			}
			a.Regions[region] = r
		}
	}
}

func newForensicEnv(t *testing.T, private bool, more func(*awsemu.Seed)) *testEnv {
	t.Helper()
	te := newTestEnvSeed(t, func(s *awsemu.Seed) {
		forensicSeed(private)(s)
		if more != nil {
			more(s)
		}
	})
	te.env.Forensic = &evidence.Forensic{Account: forensicAccount, KMSKeyID: "alias/forensics"}
	return te
}

func forensicSnapshotAction(t *testing.T) ec2Snapshot {
	a := newExecutor(t, "aws_ec2_snapshot", map[string]cty.Value{"copy_timeout": cty.StringVal("30s")}).(ec2Snapshot)
	a.poll = time.Millisecond
	return a
}

func forensicRegion(te *testEnv) *awsemu.Region {
	return te.emu.Snapshot().Accounts[forensicAccount].Regions[region]
}

func TestEC2SnapshotCopiesToForensicAccount(t *testing.T) {
	te := newForensicEnv(t, false, func(s *awsemu.Seed) { s.Options.SnapshotDelayCalls = 2 })
	a := forensicSnapshotAction(t)
	req := instanceRequest(ec2Fleet.web1)
	after, changed, err := a.Apply(context.Background(), te.env, req, nil)
	if err != nil || !changed {
		t.Fatalf("Apply: changed %v, %v", changed, err)
	}
	snaps := after["snapshots"].([]any)
	if len(snaps) != 2 {
		t.Fatalf("after %v", after)
	}
	copies := forensicRegion(te).Snapshots
	for _, s := range snaps {
		m := s.(map[string]any)
		cp, _ := m["copy"].(map[string]any)
		if cp["state"] != "completed" || cp["account"] != forensicAccount || cp["region"] != region || cp["kms_key_id"] != forensicKeyARN {
			t.Errorf("copy of %s: %v", m["snapshot_id"], cp)
			continue
		}
		c := copies[cp["snapshot_id"].(string)]
		if c == nil || c.SourceSnapshotID != m["snapshot_id"] || c.SourceAccount != prodAccount || !c.Encrypted || c.KMSKeyID != forensicKeyARN ||
			c.Tags[IncidentTagKey] != req.IncidentID || c.Tags[evidence.SourceSnapshotTag] != m["snapshot_id"] {
			t.Errorf("copy in the forensic account: %+v", c)
		}
	}
	if len(copies) != 2 {
		t.Errorf("forensic account holds %d snapshots, want 2", len(copies))
	}
	// The shares are gone, the sources kept.
	for _, list := range incidentSnapshots(te) {
		for _, s := range list {
			if len(s.CreateVolumePermissions) != 0 {
				t.Errorf("snapshot %s still shared with %v", s.ID, s.CreateVolumePermissions)
			}
		}
	}
	shares := 0
	for _, c := range te.emu.Calls() {
		if c.Action() == "ec2:ModifySnapshotAttribute" {
			shares++
			if c.Account != prodAccount {
				t.Errorf("share made in %s", c.Account)
			}
		}
		if c.Action() == "ec2:CopySnapshot" && (c.Account != forensicAccount || !strings.Contains(c.Principal, "assumed-role/cordon-responder")) {
			t.Errorf("copy made by %s in %s", c.Principal, c.Account)
		}
	}
	if shares != 4 {
		t.Errorf("%d ModifySnapshotAttribute calls, want 4 (share and unshare each)", shares)
	}

	// Applying again copies nothing more and changes nothing: it only
	// makes sure the shares are gone.
	te.emu.ResetCalls()
	after2, changed, err := a.Apply(context.Background(), te.env, req, nil)
	if err != nil || changed {
		t.Fatalf("second Apply: changed %v, %v", changed, err)
	}
	if len(forensicRegion(te).Snapshots) != 2 || len(callsOf(te, "ec2:CopySnapshot")) != 0 {
		t.Errorf("second apply copied again: %d copies", len(forensicRegion(te).Snapshots))
	}
	for _, c := range callsOf(te, "ec2:ModifySnapshotAttribute") {
		if az := c.Authorizations; len(az) != 1 || az[0].Context["ec2:add/userid"] != nil {
			t.Errorf("second apply shared again: %+v", az)
		}
	}
	if b1, b2 := mustJSON(t, after), mustJSON(t, after2); b1 != b2 {
		t.Errorf("after-states differ:\n%s\n%s", b1, b2)
	}
	// It is not reversible: nothing cordon reverts deletes evidence.
	if _, ok := any(a).(Reverter); ok {
		t.Error("aws_ec2_snapshot is reversible")
	}
}

func callsOf(te *testEnv, action string) []awsemu.Call {
	var out []awsemu.Call
	for _, c := range te.emu.Calls() {
		if c.Action() == action {
			out = append(out, c)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEC2SnapshotCopyThrottledIsRetried(t *testing.T) {
	te := newForensicEnv(t, false, nil)
	// The SDK's retryer takes these (cordon's own retry, past the SDK's
	// attempts, is tested in internal/evidence: the SDK's adaptive mode
	// slows a throttled client for seconds).
	te.emu.Faults().Throttle("ec2:CopySnapshot", 2)
	after, _, err := forensicSnapshotAction(t).Apply(context.Background(), te.env, instanceRequest(ec2Fleet.web1), nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	throttled := 0
	for _, c := range callsOf(te, "ec2:CopySnapshot") {
		if c.ErrorCode == "RequestLimitExceeded" {
			throttled++
		}
	}
	if throttled != 2 {
		t.Errorf("%d throttled copies, want 2", throttled)
	}
	if n := len(forensicRegion(te).Snapshots); n != 2 {
		t.Errorf("%d copies after the retries, want 2 (one per snapshot)", n)
	}
	for _, s := range after["snapshots"].([]any) {
		if cp := s.(map[string]any)["copy"].(map[string]any); cp["state"] != "completed" {
			t.Errorf("copy %v", cp)
		}
	}
}

func TestEC2SnapshotCopyFailures(t *testing.T) {
	tests := []struct {
		name     string
		instance string
		fault    func(*awsemu.Emulator)
		forensic *evidence.Forensic
		// want are in the error; wantCopy says a copy was started (and
		// failed) in the forensic account.
		want     []string
		wantCopy bool
	}{
		{
			name: "key policy lacks grants", instance: ec2Fleet.web2,
			want: []string{"key arn:aws:kms:us-east-1:111122223333:key/" + privateKey + " does not allow account 555566667777 kms:CreateGrant, kms:Decrypt and kms:ReEncrypt*: add",
				`"Principal":{"AWS":"arn:aws:iam::555566667777:root"}`, `"kms:GrantIsForAWSResource":"true"`, "the snapshots are kept"},
		},
		{
			// The key policy cannot be read: the copy is tried, EC2 fails
			// it, and the error says where to look.
			name: "copy fails asynchronously", instance: ec2Fleet.web2,
			fault: func(e *awsemu.Emulator) {
				e.Faults().Fail("kms:GetKeyPolicy", "*", "AccessDeniedException", "not allowed")
			},
			want:     []string{"failed: Given key ID is not accessible", "kms:CreateGrant, kms:Decrypt, kms:DescribeKey and kms:ReEncrypt*", "cordon iam-policy -forensic"},
			wantCopy: true,
		},
		{
			name: "copy refused", instance: ec2Fleet.web1,
			fault: func(e *awsemu.Emulator) {
				e.Faults().Fail("ec2:CopySnapshot", "*", "InvalidParameterValue", "The snapshot cannot be copied")
			},
			want: []string{"copying snapshot", "InvalidParameterValue", "The snapshot cannot be copied"},
		},
		{
			name: "forensic key unknown", instance: ec2Fleet.web1, forensic: &evidence.Forensic{Account: forensicAccount, KMSKeyID: "alias/nothing"},
			want: []string{"kms_key_id alias/nothing in account 555566667777, us-east-1", "NotFoundException"},
		},
		{
			name: "forensic key of another region", instance: ec2Fleet.web1,
			forensic: &evidence.Forensic{Account: forensicAccount, KMSKeyID: "arn:aws:kms:eu-west-1:" + forensicAccount + ":key/" + forensicKey},
			want:     []string{"is a key of eu-west-1, and the snapshots are in us-east-1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newForensicEnv(t, true, func(s *awsemu.Seed) { s.Options.SnapshotDelayCalls = 1 })
			if tc.forensic != nil {
				te.env.Forensic = tc.forensic
			}
			if tc.fault != nil {
				tc.fault(te.emu)
			}
			after, _, err := forensicSnapshotAction(t).Apply(context.Background(), te.env, instanceRequest(tc.instance), nil)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			// The source snapshots are kept, listed in the after-state,
			// and no longer shared.
			snaps, _ := after["snapshots"].([]any)
			taken := incidentSnapshots(te)
			if len(snaps) == 0 || len(taken) != len(snaps) {
				t.Errorf("after-state lists %d snapshots, the account has %d", len(snaps), len(taken))
			}
			for _, list := range taken {
				for _, s := range list {
					if len(s.CreateVolumePermissions) != 0 {
						t.Errorf("snapshot %s still shared with %v", s.ID, s.CreateVolumePermissions)
					}
				}
			}
			copies := forensicRegion(te).Snapshots
			if tc.wantCopy != (len(copies) > 0) {
				t.Errorf("copies in the forensic account: %d", len(copies))
			}
			for _, c := range copies {
				if c.State != "error" {
					t.Errorf("copy %s is %s", c.ID, c.State)
				}
			}
		})
	}
}

func TestEC2SnapshotCopyTimesOut(t *testing.T) {
	te := newForensicEnv(t, false, func(s *awsemu.Seed) { s.Options.SnapshotDelayCalls = 1_000_000 })
	a := newExecutor(t, "aws_ec2_snapshot", map[string]cty.Value{"copy_timeout": cty.StringVal("50ms")}).(ec2Snapshot)
	a.poll = time.Millisecond
	after, _, err := a.Apply(context.Background(), te.env, instanceRequest(ec2Fleet.web1), nil)
	if err == nil || !strings.Contains(err.Error(), "waiting for snapshots") || !strings.Contains(err.Error(), "to complete before copying them") {
		t.Fatalf("Apply: %v", err)
	}
	if n := len(after["snapshots"].([]any)); n != 2 {
		t.Errorf("after lists %d snapshots", n)
	}
	if len(callsOf(te, "ec2:ModifySnapshotAttribute")) != 0 {
		t.Error("a pending snapshot was shared")
	}
}

func TestEC2SnapshotCopyTimeoutAttribute(t *testing.T) {
	def, _ := Lookup("aws_ec2_snapshot")
	for _, v := range []string{"0s", "soon", "-1m"} {
		_, err := def.New(cty.ObjectVal(map[string]cty.Value{"tags": cty.NullVal(cty.Map(cty.String)), "copy_timeout": cty.StringVal(v)}))
		var ae *AttributeError
		if err == nil || !errorsAs(err, &ae) || ae.Attribute != "copy_timeout" {
			t.Errorf("copy_timeout %q: %v", v, err)
		}
	}
}

func errorsAs(err error, target **AttributeError) bool {
	ae, ok := err.(*AttributeError)
	if ok {
		*target = ae
	}
	return ok
}

// A snapshot encrypted under the AWS managed key cannot be shared: the
// error says what to do.
func TestEC2SnapshotCopyAWSManagedKey(t *testing.T) {
	te := newForensicEnv(t, false, func(s *awsemu.Seed) {
		for i := range s.Accounts {
			if s.Accounts[i].ID == prodAccount {
				r := s.Accounts[i].Regions[region]
				for j := range r.Instances {
					if r.Instances[j].ID == ec2Fleet.web2 {
						r.Instances[j].Volumes[0].Encrypted = true
					}
				}
				s.Accounts[i].Regions[region] = r
			}
		}
	})
	_, _, err := forensicSnapshotAction(t).Apply(context.Background(), te.env, instanceRequest(ec2Fleet.web2), nil)
	if err == nil || !strings.Contains(err.Error(), "AWS managed key") || !strings.Contains(err.Error(), "customer managed key") {
		t.Fatalf("Apply: %v", err)
	}
	out, derr := te.env.AWS.EC2(prodAccount, region).DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + IncidentTagKey), Values: []string{snapIncident}}}})
	if derr != nil || len(out.Snapshots) != 1 {
		t.Errorf("source snapshots: %v %v", out, derr)
	}
}
