package collectors

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/internal/awsemu"
)

const (
	forensicAccount = "555566667777"
	forensicKey     = "33333333-4444-4555-8666-777777777777"
	privateKey      = "22222222-3333-4444-8555-666666666666"
)

// withForensicAccount adds a forensic account (whose cordon-responder
// role cordon assumes, holding the alias/forensics key) and puts web-1's
// data volume under a prod key that does not let that account copy it,
// when private is set (else under the fleet's default key, which cannot
// be shared at all: the root volume alone is then copied in tests that
// snapshot only it).
func withForensicAccount(s *awsemu.Seed, private bool) {
	s.Options.SnapshotDelayCalls = 1
	s.Accounts = append(s.Accounts, awsemu.SeedAccount{ID: forensicAccount,
		Roles:   []awsemu.SeedRole{{Name: "cordon-responder", Trust: []string{"444455556666"}}},
		Regions: map[string]awsemu.SeedRegion{region: {KMSKeys: []awsemu.SeedKMSKey{{ID: forensicKey, Aliases: []string{"alias/forensics"}}}}},
	})
	for i := range s.Accounts {
		a := &s.Accounts[i]
		if a.ID != prodAccount {
			continue
		}
		r := a.Regions[region]
		r.KMSKeys = append(r.KMSKeys, awsemu.SeedKMSKey{ID: privateKey, Policy: json.RawMessage(`{"Statement":[
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)})
		for j := range r.Instances {
			if r.Instances[j].ID != web1 {
				continue
			}
			if private {
				r.Instances[j].Volumes[1].KMSKeyID = privateKey
			} else {
				r.Instances[j].Volumes[1].Encrypted = false
			}
		}
		a.Regions[region] = r
	}
}

func TestEBSAcquireCopiesToForensicAccount(t *testing.T) {
	te := newTestEnvSeed(t, func(s *awsemu.Seed) { withForensicAccount(s, false) })
	c := newAcquire(t, nil)
	if err := c.UseEvidence(Evidence{ForensicAccount: forensicAccount, KMSKeyID: forensicKey}); err != nil {
		t.Fatal(err)
	}
	req := te.request(web1)
	facts, err := c.Collect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	checkFactsSchema(t, "aws_ebs_acquire", facts)
	st := te.emu.Snapshot()
	copies := st.Accounts[forensicAccount].Regions[region].Snapshots
	if len(copies) != 2 {
		t.Fatalf("%d copies in the forensic account, want 2", len(copies))
	}
	for _, s := range facts["snapshots"].([]any) {
		m := s.(map[string]any)
		cp, _ := m["copy"].(map[string]any)
		c := copies[cp["snapshot_id"].(string)]
		if m["state"] != "completed" || cp["state"] != "completed" || c == nil || c.SourceSnapshotID != m["snapshot_id"] ||
			cp["kms_key_id"] != "arn:aws:kms:us-east-1:"+forensicAccount+":key/"+forensicKey {
			t.Errorf("snapshot %v: copy %v (%+v)", m["snapshot_id"], cp, c)
		}
		if src := st.Accounts[prodAccount].Regions[region].Snapshots[m["snapshot_id"].(string)]; len(src.CreateVolumePermissions) != 0 {
			t.Errorf("%s still shared with %v", src.ID, src.CreateVolumePermissions)
		}
	}
	// Each copy is evidence, after its source.
	var kinds []string
	for _, a := range te.artefacts() {
		kinds = append(kinds, a.Kind)
		if a.Kind == "snapshot_copy" {
			if copies[a.Name] == nil || a.Meta["source_snapshot_id"] != copies[a.Name].SourceSnapshotID || a.Meta["account"] != forensicAccount ||
				a.Meta["source_account"] != prodAccount || a.Meta["instance_id"] != web1 {
				t.Errorf("artefact %+v", a)
			}
		}
	}
	if strings.Join(kinds, ",") != "snapshot,snapshot,snapshot_copy,snapshot_copy" {
		t.Errorf("artefacts %v", kinds)
	}

	// Again: the same copies, none made.
	te.emu.ResetCalls()
	again, err := c.Collect(context.Background(), req)
	if err != nil || !jsonEqual(t, again, facts) {
		t.Errorf("second acquisition: %v\n%v\nfirst %v", err, again, facts)
	}
	if n := callsOf(te, "ec2:CopySnapshot"); n != 0 {
		t.Errorf("%d copies made again", n)
	}
}

func TestEBSAcquireCopyFails(t *testing.T) {
	te := newTestEnvSeed(t, func(s *awsemu.Seed) { withForensicAccount(s, true) })
	c := newAcquire(t, nil)
	if err := c.UseEvidence(Evidence{ForensicAccount: forensicAccount, KMSKeyID: forensicKey}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Collect(context.Background(), te.request(web1))
	want := "key arn:aws:kms:us-east-1:111122223333:key/" + privateKey + " does not allow account 555566667777 kms:CreateGrant, kms:Decrypt, kms:DescribeKey and kms:ReEncrypt*"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "the snapshots are kept") {
		t.Fatalf("Collect: %v\nwant %q", err, want)
	}
	// The root volume's copy was made; the data volume's was not, and
	// both sources are kept and kept as evidence.
	st := te.emu.Snapshot()
	if n := len(st.Accounts[forensicAccount].Regions[region].Snapshots); n != 1 {
		t.Errorf("%d copies, want the root volume's", n)
	}
	if n := len(snapshotsOf(te, web1Root, web1Data)); n != 2 {
		t.Errorf("%d source snapshots, want 2", n)
	}
	var kinds []string
	for _, a := range te.artefacts() {
		kinds = append(kinds, a.Kind)
	}
	if strings.Join(kinds, ",") != "snapshot,snapshot,snapshot_copy" {
		t.Errorf("artefacts %v", kinds)
	}
}

func TestEBSAcquireUseEvidence(t *testing.T) {
	c := newAcquire(t, nil)
	if err := c.UseEvidence(Evidence{Bucket: "cordon-evidence"}); err != nil || c.forensic != nil {
		t.Errorf("without a forensic account: %v %+v", err, c.forensic)
	}
	for _, ev := range []Evidence{{ForensicAccount: "5555", KMSKeyID: forensicKey}, {ForensicAccount: forensicAccount}} {
		if err := c.UseEvidence(ev); err == nil || !strings.Contains(err.Error(), "the evidence block") {
			t.Errorf("%+v: %v", ev, err)
		}
	}
}
