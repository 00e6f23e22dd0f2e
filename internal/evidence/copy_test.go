package evidence

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
)

const (
	prodAccount     = "111122223333"
	forensicAccount = "555566667777"
	region          = "us-east-1"
	web1            = "i-0a1b2c3d4e5f60101"
)

// newCopierEnv serves the emulator's test fleet with a forensic account
// and returns a Copier of prod's us-east-1 snapshots whose clients make
// attempts attempts per call (the SDK's retries), and the emulator.
func newCopierEnv(t *testing.T, attempts int) (*Copier, *awsemu.Emulator) {
	t.Helper()
	seed, err := awsemu.LoadSeed("../awsemu/testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	seed.Accounts = append(seed.Accounts, awsemu.SeedAccount{ID: forensicAccount,
		Roles:   []awsemu.SeedRole{{Name: "cordon-responder", Trust: []string{"444455556666"}}},
		Regions: map[string]awsemu.SeedRegion{region: {KMSKeys: []awsemu.SeedKMSKey{{Aliases: []string{"alias/forensics"}}}}},
	})
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	emu := awsemu.New(seed)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	f, err := awsclient.New(context.Background(), awsclient.Options{
		Region: region, Endpoint: srv.URL, AssumeRoleARN: "arn:aws:iam::{account}:role/cordon-responder",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAEMUCORDON0000001", "emulator/secret/cordon/000000000000000000", ""),
		MaxAttempts: attempts, MaxBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCopier(f, Forensic{Account: forensicAccount, KMSKeyID: "alias/forensics"}, "inc-1", prodAccount, region)
	c.Poll, c.MaxPoll = time.Millisecond, 5*time.Millisecond
	return c, emu
}

// rootSnapshot snapshots web-1's root volume, tagged as cordon tags it.
func rootSnapshot(t *testing.T, c *Copier) Source {
	t.Helper()
	out, err := c.Source.CreateSnapshot(context.Background(), &ec2.CreateSnapshotInput{VolumeId: aws.String("vol-0a1b2c3d4e5f60301"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot,
			Tags: []ec2types.Tag{{Key: aws.String(IncidentTag), Value: aws.String("inc-1")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return Source{SnapshotID: *out.SnapshotId, VolumeID: "vol-0a1b2c3d4e5f60301", InstanceID: web1}
}

// With the SDK's retries off, throttled and failing calls are retried
// by the copier itself, and make one copy.
func TestCopyAllRetriesBeyondTheSDK(t *testing.T) {
	c, emu := newCopierEnv(t, 1)
	src := rootSnapshot(t, c)
	// Few throttles: after each, the SDK's adaptive mode slows the client
	// for real (its token bucket), which is right for AWS but slow here.
	emu.Faults().Throttle("ec2:CopySnapshot", 1)
	emu.Faults().ServerError("ec2:ModifySnapshotAttribute", 2)
	emu.Faults().ServerError("ec2:CopySnapshot", 1)
	emu.Faults().ServerError("ec2:DescribeSnapshots", 2)
	copies, err := c.CopyAll(context.Background(), []Source{src})
	if err != nil {
		t.Fatalf("CopyAll: %v", err)
	}
	if len(copies) != 1 || copies[0].State != "completed" || copies[0].SnapshotID == "" || copies[0].Error != "" || copies[0].Shared {
		t.Fatalf("copies %+v", copies)
	}
	st := emu.Snapshot()
	if n := len(st.Accounts[forensicAccount].Regions[region].Snapshots); n != 1 {
		t.Errorf("%d copies, want 1", n)
	}
	if p := st.Accounts[prodAccount].Regions[region].Snapshots[src.SnapshotID].CreateVolumePermissions; len(p) != 0 {
		t.Errorf("still shared with %v", p)
	}
	if copies[0].KMSKeyID == "" || !strings.HasPrefix(copies[0].KMSKeyID, "arn:aws:kms:us-east-1:"+forensicAccount+":key/") {
		t.Errorf("key %q: want the ARN of alias/forensics", copies[0].KMSKeyID)
	}
}

// A copy EC2 failed (found by the tags of an earlier run) is made again;
// a finished one is reused.
func TestCopyAllReusesCopies(t *testing.T) {
	c, emu := newCopierEnv(t, 3)
	src := rootSnapshot(t, c)
	first, err := c.CopyAll(context.Background(), []Source{src})
	if err != nil {
		t.Fatal(err)
	}
	// A run interrupted after the copy, before the unshare, left the
	// share: the next run removes it.
	if err := c.share(context.Background(), src.SnapshotID, true); err != nil {
		t.Fatal(err)
	}
	again, err := c.CopyAll(context.Background(), []Source{src})
	if err != nil {
		t.Fatal(err)
	}
	if p := emu.Snapshot().Accounts[prodAccount].Regions[region].Snapshots[src.SnapshotID].CreateVolumePermissions; len(p) != 0 {
		t.Errorf("the share left behind is still there: %v", p)
	}
	if !again[0].Earlier || again[0].SnapshotID != first[0].SnapshotID {
		t.Errorf("second run %+v, want the first's copy %s", again[0], first[0].SnapshotID)
	}
	if n := len(emu.Snapshot().Accounts[forensicAccount].Regions[region].Snapshots); n != 1 {
		t.Errorf("%d copies, want 1", n)
	}
}

func TestCopyAllGivesUpOnPermanentErrors(t *testing.T) {
	c, emu := newCopierEnv(t, 3)
	src := rootSnapshot(t, c)
	emu.Faults().Fail("ec2:ModifySnapshotAttribute", src.SnapshotID, "UnauthorizedOperation", "You are not authorized to perform this operation.")
	copies, err := c.CopyAll(context.Background(), []Source{src})
	var ce *CopyError
	if err == nil || !asCopyError(err, &ce) || !strings.Contains(err.Error(), "sharing snapshot "+src.SnapshotID+" with account "+forensicAccount) {
		t.Fatalf("CopyAll: %v", err)
	}
	if copies[0].SnapshotID != "" || len(emu.Snapshot().Accounts[forensicAccount].Regions) != 1 {
		t.Errorf("a copy was made: %+v", copies[0])
	}
}

func asCopyError(err error, target **CopyError) bool {
	ce, ok := err.(*CopyError)
	*target = ce
	return ok
}

func TestForensicValidate(t *testing.T) {
	tests := []struct {
		f    Forensic
		want string
	}{
		{Forensic{Account: forensicAccount, KMSKeyID: "alias/forensics"}, ""},
		{Forensic{Account: forensicAccount, KMSKeyID: "33333333-4444-4555-8666-777777777777"}, ""},
		{Forensic{Account: forensicAccount, KMSKeyID: "arn:aws:kms:us-east-1:555566667777:key/33333333-4444-4555-8666-777777777777"}, ""},
		{Forensic{Account: forensicAccount, KMSKeyID: "arn:aws:kms:us-east-1:555566667777:alias/forensics"}, ""},
		{Forensic{Account: "5555", KMSKeyID: "alias/forensics"}, "not a 12-digit AWS account id"},
		{Forensic{Account: forensicAccount}, "kms_key_id is required"},
		{Forensic{Account: forensicAccount, KMSKeyID: "forensics"}, "is not a key id"},
		{Forensic{Account: forensicAccount, KMSKeyID: "alias/aws/ebs"}, "is not a key id"},
		{Forensic{Account: forensicAccount, KMSKeyID: "arn:aws:kms:us-east-1:111122223333:alias/x"}, "a key of account 111122223333, not of the forensic account"},
	}
	for _, tc := range tests {
		err := tc.f.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
}

func TestMissingGrants(t *testing.T) {
	all := SourceKeyActions
	stmt := func(effect, principal, action, cond string) string {
		s := `{"Effect":"` + effect + `","Principal":` + principal + `,"Action":` + action + `,"Resource":"*"`
		if cond != "" {
			s += `,"Condition":` + cond
		}
		return s + "}"
	}
	policy := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}
	owner := stmt("Allow", `{"AWS":"arn:aws:iam::111122223333:root"}`, `"kms:*"`, "")
	tests := []struct {
		name, policy string
		want         []string
	}{
		{"owner only", policy(owner), all},
		{"account root", policy(owner, stmt("Allow", `{"AWS":"arn:aws:iam::555566667777:root"}`, `["kms:Decrypt","kms:DescribeKey","kms:ReEncrypt*","kms:CreateGrant"]`, "")), nil},
		{"account id, one statement", policy(stmt("Allow", `{"AWS":"555566667777"}`, `"kms:*"`, "")), nil},
		{"a role of the account", policy(stmt("Allow", `{"AWS":["arn:aws:iam::555566667777:role/cordon-responder"]}`, `["kms:Decrypt","kms:ReEncryptFrom"]`, "")),
			[]string{"kms:CreateGrant", "kms:DescribeKey"}},
		{"everyone", policy(stmt("Allow", `"*"`, `"kms:*"`, `{"StringEquals":{"kms:CallerAccount":"555566667777"}}`)), nil},
		{"grant with its condition", policy(stmt("Allow", `{"AWS":"arn:aws:iam::555566667777:root"}`, `"kms:CreateGrant"`, `{"Bool":{"kms:GrantIsForAWSResource":"true"}}`)),
			[]string{"kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*"}},
		{"ReEncryptTo is not From", policy(stmt("Allow", `{"AWS":"555566667777"}`, `["kms:ReEncryptTo","kms:Decrypt","kms:DescribeKey","kms:CreateGrant"]`, "")),
			[]string{"kms:ReEncrypt*"}},
		{"NotAction", policy(`{"Effect":"Allow","Principal":{"AWS":"555566667777"},"NotAction":"kms:Decrypt","Resource":"*"}`), []string{"kms:Decrypt"}},
		{"deny wins", policy(stmt("Allow", `{"AWS":"555566667777"}`, `"kms:*"`, ""), stmt("Deny", `"*"`, `"kms:CreateGrant"`, "")), []string{"kms:CreateGrant"}},
		{"another account", policy(stmt("Allow", `{"AWS":"arn:aws:iam::999999999999:root"}`, `"kms:*"`, "")), all},
		{"single statement object", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"555566667777"},"Action":"kms:*","Resource":"*"}}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MissingGrants(tc.policy, forensicAccount, all)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("missing %v, want %v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"Statement":"x"}`, `[]`} {
		if _, err := MissingGrants(bad, forensicAccount, all); err == nil {
			t.Errorf("policy %q: no error", bad)
		}
	}
}

func TestSuggestedStatement(t *testing.T) {
	s := SuggestedStatement(forensicAccount, []string{"kms:CreateGrant", "kms:Decrypt"})
	for _, part := range strings.Split(s, " and ") {
		var v map[string]any
		if err := json.Unmarshal([]byte(part), &v); err != nil {
			t.Fatalf("%s: %v", part, err)
		}
	}
	// What it suggests is what MissingGrants then finds granted.
	doc := `{"Statement":[` + strings.ReplaceAll(s, " and ", ",") + `]}`
	if got, _ := MissingGrants(doc, forensicAccount, []string{"kms:CreateGrant", "kms:Decrypt"}); len(got) != 0 {
		t.Errorf("suggested %s, still missing %v", s, got)
	}
}

func FuzzMissingGrants(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"555566667777"},"Action":"kms:*","Resource":"*"}]}`)
	f.Add(`{"Statement":{"Effect":"Deny","NotPrincipal":"*","NotAction":["kms:Decrypt"]}}`)
	f.Add(`{"Statement":[{"Principal":{"AWS":[1,2]},"Action":{"a":1}}]}`)
	f.Fuzz(func(t *testing.T, policy string) {
		missing, err := MissingGrants(policy, forensicAccount, SourceKeyActions)
		if err != nil {
			return
		}
		for _, m := range missing {
			found := false
			for _, a := range SourceKeyActions {
				found = found || a == m
			}
			if !found {
				t.Fatalf("missing %q, which was not asked", m)
			}
		}
	})
}
