package awsemu

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// The forensic account of these tests, and the keys the fleet gains.
const (
	forensicAccount = "555566667777"
	examinerKey     = "AKIAEMUEXAMINER00001"
	shareableKeyID  = "11111111-2222-4333-8444-555555555555"
	privateKeyID    = "22222222-3333-4444-8555-666666666666"
	forensicKeyID   = "33333333-4444-4555-8666-777777777777"
	shareableKeyARN = "arn:aws:kms:us-east-1:111122223333:key/" + shareableKeyID
	forensicKeyARN  = "arn:aws:kms:us-east-1:555566667777:key/" + forensicKeyID
)

// shareablePolicy allows the prod account everything and the forensic
// account what EBS needs to copy a snapshot encrypted under the key.
const shareablePolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"ForensicCopies","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::555566667777:root"},
  "Action":["kms:Decrypt","kms:DescribeKey","kms:ReEncrypt*"],"Resource":"*"},
 {"Sid":"ForensicGrants","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::555566667777:root"},
  "Action":"kms:CreateGrant","Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}`

// forensicSeed is the test fleet with a forensic account (a user,
// examiner, and a key, alias/forensics) and two keys in prod: one that
// the forensic account may use, web-1's data volume's, and one only prod
// may use, batch-1's data volume's.
func forensicSeed(t testing.TB, change func(*Seed)) *Seed {
	t.Helper()
	seed, err := LoadSeed("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	seed.Accounts = append(seed.Accounts, SeedAccount{ID: forensicAccount, Alias: "forensic",
		Users: []SeedUser{{Name: "examiner", AccessKeys: []SeedAccessKey{{ID: examinerKey}}}},
		Regions: map[string]SeedRegion{"us-east-1": {KMSKeys: []SeedKMSKey{
			{ID: forensicKeyID, Description: "evidence", Aliases: []string{"alias/forensics"}},
		}}},
	})
	for i := range seed.Accounts {
		a := &seed.Accounts[i]
		if a.ID != prodAccount {
			continue
		}
		r := a.Regions["us-east-1"]
		r.KMSKeys = append(r.KMSKeys,
			SeedKMSKey{ID: shareableKeyID, Aliases: []string{"alias/prod-data"}, Policy: json.RawMessage(shareablePolicy)},
			SeedKMSKey{ID: privateKeyID, Aliases: []string{"alias/prod-private"}})
		for j := range r.Instances {
			in := &r.Instances[j]
			switch in.ID {
			case web1:
				in.Volumes[1].KMSKeyID = "alias/prod-data"
			case web2:
				// Encrypted by default: under aws/ebs.
				in.Volumes[0].Encrypted = true
			case batch1:
				for k := range in.Volumes {
					in.Volumes[k].Encrypted, in.Volumes[k].KMSKeyID = true, privateKeyID
				}
			}
		}
		a.Regions["us-east-1"] = r
	}
	if change != nil {
		change(seed)
	}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	return seed
}

func (e *env) examiner() aws.Config { return e.config("us-east-1", examinerKey, "", 3) }

// snapshotAll snapshots an instance's volumes as alice and returns the
// snapshot ids by volume id.
func (e *env) snapshotAll(t *testing.T, instance string) map[string]string {
	t.Helper()
	out, err := ec2.NewFromConfig(e.prod()).CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
		InstanceSpecification: &ec2types.InstanceSpecification{InstanceId: aws.String(instance)},
	})
	wantOK(t, err)
	ids := map[string]string{}
	for _, s := range out.Snapshots {
		ids[*s.VolumeId] = *s.SnapshotId
	}
	return ids
}

func TestSnapshotShareCopyAndUnshare(t *testing.T) {
	e := newEnvSeed(t, forensicSeed(t, nil))
	prod, forensic := ec2.NewFromConfig(e.prod()), ec2.NewFromConfig(e.examiner())
	snaps := e.snapshotAll(t, web1)
	data, root := snaps[web1Data], snaps[web1Root]

	desc, err := prod.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{data}})
	wantOK(t, err)
	if s := desc.Snapshots[0]; !*s.Encrypted || aws.ToString(s.KmsKeyId) != shareableKeyARN {
		t.Fatalf("data snapshot %+v: want encrypted under %s", s, shareableKeyARN)
	}

	// Not shared yet: the forensic account cannot see it.
	copyIn := func(id string) *ec2.CopySnapshotInput {
		return &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(id), SourceRegion: aws.String("us-east-1"),
			Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/forensics"), Description: aws.String("evidence of inc-1"),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
				Tags: []ec2types.Tag{{Key: aws.String("cordon:incident"), Value: aws.String("inc-1")}}}}}
	}
	_, err = forensic.CopySnapshot(ctx, copyIn(data))
	wantCode(t, err, "InvalidSnapshot.NotFound")

	for _, id := range []string{data, root} {
		_, err = prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(id),
			Attribute:              ec2types.SnapshotAttributeNameCreateVolumePermission,
			CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(forensicAccount)}}}})
		wantOK(t, err)
	}
	attr, err := prod.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(data), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission})
	wantOK(t, err)
	if len(attr.CreateVolumePermissions) != 1 || aws.ToString(attr.CreateVolumePermissions[0].UserId) != forensicAccount {
		t.Fatalf("createVolumePermission %+v", attr.CreateVolumePermissions)
	}
	// The share is authorized with the account it adds.
	calls := e.callsOf("ec2:ModifySnapshotAttribute")
	if az := calls[0].Authorizations; len(az) != 1 || az[0].Resource != "arn:aws:ec2:us-east-1::snapshot/"+data ||
		strings.Join(az[0].Context["ec2:add/userid"], ",") != forensicAccount {
		t.Errorf("authorizations %+v", az)
	}

	copies := map[string]string{}
	for _, id := range []string{data, root} {
		out, err := forensic.CopySnapshot(ctx, copyIn(id))
		wantOK(t, err)
		copies[id] = *out.SnapshotId
		if len(out.Tags) != 1 {
			t.Errorf("copy tags %+v", out.Tags)
		}
	}
	got, err := forensic.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	wantOK(t, err)
	if len(got.Snapshots) != 2 {
		t.Fatalf("forensic snapshots %+v", got.Snapshots)
	}
	for _, s := range got.Snapshots {
		if s.State != ec2types.SnapshotStateCompleted || !*s.Encrypted || aws.ToString(s.KmsKeyId) != forensicKeyARN ||
			aws.ToString(s.OwnerId) != forensicAccount || aws.ToString(s.Description) != "evidence of inc-1" {
			t.Errorf("copy %+v: want completed, encrypted under %s, owned by the forensic account", s, forensicKeyARN)
		}
	}
	// The copy's key operations were authorized for the caller: the
	// source key's and the forensic key's.
	var ops []string
	for _, az := range e.callsOf("ec2:CopySnapshot")[1].Authorizations {
		ops = append(ops, az.Action+" "+az.Resource)
	}
	for _, want := range []string{"ec2:CopySnapshot arn:aws:ec2:us-east-1::snapshot/*", "ec2:CopySnapshot arn:aws:ec2:us-east-1::snapshot/" + data,
		"ec2:CreateTags arn:aws:ec2:us-east-1::snapshot/*", "kms:Decrypt " + shareableKeyARN, "kms:ReEncryptFrom " + shareableKeyARN,
		"kms:CreateGrant " + shareableKeyARN, "kms:ReEncryptTo " + forensicKeyARN, "kms:CreateGrant " + forensicKeyARN} {
		if !strings.Contains(strings.Join(ops, "\n"), want) {
			t.Errorf("copy authorizations lack %q:\n%s", want, strings.Join(ops, "\n"))
		}
	}

	// The share removed, the copies stay and the source is not visible.
	for _, id := range []string{data, root} {
		_, err = prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(id),
			Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, OperationType: ec2types.OperationTypeRemove, UserIds: []string{forensicAccount}})
		wantOK(t, err)
	}
	attr, err = prod.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(data), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission})
	wantOK(t, err)
	if len(attr.CreateVolumePermissions) != 0 {
		t.Errorf("after removal: %+v", attr.CreateVolumePermissions)
	}
	_, err = forensic.CopySnapshot(ctx, copyIn(data))
	wantCode(t, err, "InvalidSnapshot.NotFound")
	st := e.emu.Snapshot()
	if n := len(st.Accounts[forensicAccount].Regions["us-east-1"].Snapshots); n != 2 {
		t.Errorf("forensic account holds %d snapshots, want the 2 copies", n)
	}
	if c := st.Accounts[forensicAccount].Regions["us-east-1"].Snapshots[copies[data]]; c.SourceSnapshotID != data || c.SourceAccount != prodAccount {
		t.Errorf("copy records its source as %s of %s", c.SourceSnapshotID, c.SourceAccount)
	}
}

func TestSnapshotCopyPendingThenCompleted(t *testing.T) {
	e := newEnvSeed(t, forensicSeed(t, func(s *Seed) { s.Options.SnapshotDelayCalls = 2 }))
	prod, forensic := ec2.NewFromConfig(e.prod()), ec2.NewFromConfig(e.examiner())
	src := e.snapshotAll(t, web1)[web1Root]
	// A pending snapshot cannot be copied yet.
	_, err := prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(src),
		CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(forensicAccount)}}}})
	wantOK(t, err)
	in := &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(src), SourceRegion: aws.String("us-east-1"), Encrypted: aws.Bool(true), KmsKeyId: aws.String(forensicKeyARN)}
	_, err = forensic.CopySnapshot(ctx, in)
	wantCode(t, err, "IncorrectState")
	for range 3 {
		_, err = prod.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{src}})
		wantOK(t, err)
	}
	out, err := forensic.CopySnapshot(ctx, in)
	wantOK(t, err)
	var states []string
	for range 3 {
		d, err := forensic.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*out.SnapshotId}})
		wantOK(t, err)
		states = append(states, string(d.Snapshots[0].State))
	}
	if strings.Join(states, ",") != "pending,pending,completed" {
		t.Errorf("copy states %v", states)
	}
}

func TestSnapshotCopyUnderAKeyTheForensicAccountMayNotUse(t *testing.T) {
	e := newEnvSeed(t, forensicSeed(t, func(s *Seed) { s.Options.SnapshotDelayCalls = 1 }))
	prod, forensic := ec2.NewFromConfig(e.prod()), ec2.NewFromConfig(e.examiner())
	src := e.snapshotAll(t, batch1)
	var id string
	for _, v := range src {
		id = v
	}
	_, err := prod.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}}) // completes it
	wantOK(t, err)
	_, err = prod.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	wantOK(t, err)
	// The private key is a customer managed key: the snapshot can be shared.
	_, err = prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(id),
		CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(forensicAccount)}}}})
	wantOK(t, err)
	// EC2 accepts the copy, which then fails.
	out, err := forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(id), SourceRegion: aws.String("us-east-1"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/forensics")})
	wantOK(t, err)
	var last ec2types.Snapshot
	for range 2 {
		d, err := forensic.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*out.SnapshotId}})
		wantOK(t, err)
		last = d.Snapshots[0]
	}
	if last.State != ec2types.SnapshotStateError || aws.ToString(last.StateMessage) != "Given key ID is not accessible" {
		t.Errorf("copy %s %q: want error, Given key ID is not accessible", last.State, aws.ToString(last.StateMessage))
	}
}

func TestSnapshotShareAndCopyErrors(t *testing.T) {
	e := newEnvSeed(t, forensicSeed(t, nil))
	prod, forensic := ec2.NewFromConfig(e.prod()), ec2.NewFromConfig(e.examiner())
	webSnaps := e.snapshotAll(t, web1)
	add := func(id string, perm ec2types.CreateVolumePermission) error {
		_, err := prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(id),
			CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{perm}}})
		return err
	}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"share with a malformed account", func() error {
			return add(webSnaps[web1Root], ec2types.CreateVolumePermission{UserId: aws.String("12345")})
		}, "InvalidUserID.Malformed"},
		{"make an encrypted snapshot public", func() error {
			return add(webSnaps[web1Data], ec2types.CreateVolumePermission{Group: ec2types.PermissionGroupAll})
		}, "OperationNotPermitted"},
		{"share an unknown snapshot", func() error {
			return add("snap-0123456789abcdef0", ec2types.CreateVolumePermission{UserId: aws.String(forensicAccount)})
		}, "InvalidSnapshot.NotFound"},
		{"share another account's snapshot", func() error {
			_, err := forensic.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(webSnaps[web1Root]),
				OperationType: ec2types.OperationTypeAdd, UserIds: []string{forensicAccount}})
			return err
		}, "InvalidSnapshot.NotFound"},
		{"share without saying what", func() error {
			_, err := prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(webSnaps[web1Root])})
			return err
		}, "InvalidParameterCombination"},
		{"copy a malformed id", func() error {
			_, err := forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String("snapshot-1"), SourceRegion: aws.String("us-east-1")})
			return err
		}, "InvalidSnapshotID.Malformed"},
		{"copy with a key but not encrypted", func() error {
			_, err := forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(webSnaps[web1Root]), SourceRegion: aws.String("us-east-1"),
				KmsKeyId: aws.String(forensicKeyID)})
			return err
		}, "InvalidParameterDependency"},
		{"copy with a malformed key", func() error {
			_, err := forensic.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(webSnaps[web1Root]), SourceRegion: aws.String("us-east-1"),
				Encrypted: aws.Bool(true), KmsKeyId: aws.String("forensics")})
			return err
		}, "InvalidParameterValue"},
	}
	cases = append(cases, struct {
		name string
		call func() error
		code string
	}{"share a snapshot under aws/ebs", func() error {
		out, err := prod.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String("vol-0a1b2c3d4e5f60303")})
		wantOK(t, err)
		return add(*out.SnapshotId, ec2types.CreateVolumePermission{UserId: aws.String(forensicAccount)})
	}, "OperationNotPermitted"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func TestSnapshotCopyThrottledAndDenied(t *testing.T) {
	e := newEnvSeed(t, forensicSeed(t, nil))
	prod := ec2.NewFromConfig(e.prod())
	src := e.snapshotAll(t, web1)[web1Root]
	_, err := prod.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(src),
		OperationType: ec2types.OperationTypeAdd, UserIds: []string{forensicAccount}})
	wantOK(t, err)
	in := &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(src), SourceRegion: aws.String("us-east-1"), Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/forensics")}

	// Two throttled attempts, and the SDK's third goes through.
	e.emu.Faults().Throttle("ec2:CopySnapshot", 2)
	out, err := ec2.NewFromConfig(e.examiner()).CopySnapshot(ctx, in)
	wantOK(t, err)
	if calls := e.callsOf("ec2:CopySnapshot"); len(calls) != 3 || calls[0].ErrorCode != "RequestLimitExceeded" {
		t.Errorf("calls %+v", calls)
	}
	if *out.SnapshotId == "" {
		t.Error("no snapshot id")
	}

	// With identity policies enforced, the examiner, who holds none, may
	// not copy.
	e.emu.EnforcePolicies(true)
	_, err = ec2.NewFromConfig(e.examiner()).CopySnapshot(ctx, in)
	wantCode(t, err, "UnauthorizedOperation")
}

func TestKMSDescribeKeyAndPolicy(t *testing.T) {
	e := newEnvSeed(t, forensicSeed(t, nil))
	prod, forensic := kms.NewFromConfig(e.prod()), kms.NewFromConfig(e.examiner())

	d, err := prod.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/prod-data")})
	wantOK(t, err)
	if m := d.KeyMetadata; aws.ToString(m.Arn) != shareableKeyARN || string(m.KeyManager) != "CUSTOMER" || !m.Enabled || aws.ToString(m.AWSAccountId) != prodAccount {
		t.Errorf("metadata %+v", m)
	}
	p, err := prod.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(shareableKeyID)})
	wantOK(t, err)
	if !strings.Contains(aws.ToString(p.Policy), "ForensicGrants") {
		t.Errorf("policy %s", aws.ToString(p.Policy))
	}
	// The forensic account may describe the shared key by ARN, but not
	// read its policy (no cross-account GetKeyPolicy), nor touch the
	// private key.
	_, err = forensic.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(shareableKeyARN)})
	wantOK(t, err)
	_, err = forensic.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(shareableKeyARN)})
	wantCode(t, err, "NotFoundException")
	_, err = forensic.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:111122223333:key/" + privateKeyID)})
	wantCode(t, err, "AccessDeniedException")
	_, err = forensic.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/nothing")})
	wantCode(t, err, "NotFoundException")
	_, err = prod.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:111122223333")})
	wantCode(t, err, "InvalidArnException")

	// The fleet's default-encrypted volume uses the AWS managed key.
	d, err = prod.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
	wantOK(t, err)
	if string(d.KeyMetadata.KeyManager) != "AWS" {
		t.Errorf("aws/ebs is managed by %s", d.KeyMetadata.KeyManager)
	}

	e.emu.Faults().ServerError("kms:DescribeKey", 1)
	_, err = kms.NewFromConfig(e.config("us-east-1", aliceKey, "", 1)).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(shareableKeyID)})
	wantCode(t, err, "KMSInternalException")
}

func TestSeedKMSKeyErrors(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Seed)
		want   string
	}{
		{"key on an unencrypted volume", func(s *Seed) { setVolumeKey(s, 0, false, shareableKeyID) }, `kms_key_id needs "encrypted": true`},
		{"unknown key", func(s *Seed) { setVolumeKey(s, 1, true, "alias/none") }, `key "alias/none" is not defined`},
		{"key of another account", func(s *Seed) { setVolumeKey(s, 1, true, forensicKeyARN) }, "is not of account 111122223333"},
		{"reserved alias", func(s *Seed) { setProdKey(s, func(k *SeedKMSKey) { k.Aliases = []string{"alias/aws/ebs"} }) }, "reserved for AWS managed keys"},
		{"bad key id", func(s *Seed) { setProdKey(s, func(k *SeedKMSKey) { k.ID = "key-1" }) }, "is not a KMS key id"},
		{"policy without principal", func(s *Seed) {
			setProdKey(s, func(k *SeedKMSKey) {
				k.Policy = json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
			})
		}, "exactly one of Principal and NotPrincipal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seed, err := LoadSeed("testdata/fleet.json")
			if err != nil {
				t.Fatal(err)
			}
			seed.Accounts = append(seed.Accounts, SeedAccount{ID: forensicAccount,
				Regions: map[string]SeedRegion{"us-east-1": {KMSKeys: []SeedKMSKey{{ID: forensicKeyID}}}}})
			setProdKey(seed, func(*SeedKMSKey) {})
			tc.change(seed)
			err = seed.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// setProdKey adds the shareable key to prod's us-east-1 (once) and lets
// change edit it.
func setProdKey(s *Seed, change func(*SeedKMSKey)) {
	for i := range s.Accounts {
		if s.Accounts[i].ID != prodAccount {
			continue
		}
		r := s.Accounts[i].Regions["us-east-1"]
		if len(r.KMSKeys) == 0 {
			r.KMSKeys = []SeedKMSKey{{ID: shareableKeyID}}
		}
		change(&r.KMSKeys[0])
		s.Accounts[i].Regions["us-east-1"] = r
	}
}

// setVolumeKey sets web-1's volume i's encryption and key.
func setVolumeKey(s *Seed, i int, encrypted bool, key string) {
	for a := range s.Accounts {
		r, ok := s.Accounts[a].Regions["us-east-1"]
		if !ok {
			continue
		}
		for j := range r.Instances {
			if r.Instances[j].ID == web1 {
				r.Instances[j].Volumes[i].Encrypted, r.Instances[j].Volumes[i].KMSKeyID = encrypted, key
			}
		}
	}
}
