package actions

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

const (
	securityAccount = "444455556666"
	malloryKey      = "AKIAEMUMALLORY000001"
	malloryOldKey   = "AKIAEMUMALLORY000002" // Inactive in the fleet
	aliceKey        = "AKIAEMUALICE00000001"
)

// keyRequest is a request against an access key; user is the finding's
// user_name detail ("" for none).
func keyRequest(account, id, user string) *Request {
	details := map[string]any{"access_key_id": id}
	if user != "" {
		details["user_name"] = user
	}
	return &Request{
		IncidentID: "inc-0123456789abcdef",
		Target:     Target{Type: schema.ResourceAccessKey, ID: id, Account: account, Region: region},
		Resource:   schema.Resource{Type: schema.ResourceAccessKey, ID: id, Tags: map[string]string{}, Details: details},
		Facts:      map[string]map[string]any{},
	}
}

// configAs is an SDK configuration for the emulator signing with someone
// else's credentials (an attacker's key, a role session), without retries.
func configAs(te *testEnv, key, token string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, "not-checked", token),
		BaseEndpoint: aws.String(te.srv.URL),
		HTTPClient:   awsclient.HTTPClient(nil),
		Retryer:      func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 1) },
	}
}

func ec2As(te *testEnv, key, token string) *ec2.Client {
	return ec2.NewFromConfig(configAs(te, key, token))
}

func keyStatus(te *testEnv, user, id string) string {
	for _, k := range te.emu.Snapshot().Accounts[prodAccount].Users[user].AccessKeys {
		if k.ID == id {
			return k.Status
		}
	}
	return ""
}

func TestIAMDisableAccessKeyRead(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_iam_disable_access_key", nil)
	tests := []struct {
		name    string
		req     *Request
		want    map[string]any
		code    string // AWS error code
		refused bool
		errHas  string
	}{
		{"user from the finding", keyRequest(prodAccount, malloryKey, "mallory"), keyState("Active", "mallory"), "", false, ""},
		{"user from IAM", keyRequest(prodAccount, malloryKey, ""), keyState("Active", "mallory"), "", false, ""},
		{"inactive key", keyRequest(prodAccount, malloryOldKey, ""), keyState("Inactive", "mallory"), "", false, ""},
		{"key of another user", keyRequest(prodAccount, aliceKey, "mallory"), nil, "", false, "is not a key of IAM user mallory"},
		{"unknown user", keyRequest(prodAccount, malloryKey, "nobody"), nil, "NoSuchEntity", false, ""},
		{"unknown key", keyRequest(prodAccount, "AKIAEMUNOBODY0000001", ""), nil, "AccessDenied", false, ""},
		{"session credentials", keyRequest(prodAccount, "ASIAEMUWEBROLE000001", ""), nil, "", true, "aws_iam_deny_all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live, err := ex.Read(bg, te.env, tc.req)
			switch {
			case tc.want != nil:
				if err != nil || !reflect.DeepEqual(live, tc.want) {
					t.Errorf("Read = %v, %v; want %v", live, err, tc.want)
				}
			case err == nil:
				t.Errorf("Read = %v, want an error", live)
			case tc.code != "" && apiCode(err) != tc.code:
				t.Errorf("error %v (code %q), want code %s", err, apiCode(err), tc.code)
			case tc.refused != errors.Is(err, ErrRefused):
				t.Errorf("error %v: refused = %v, want %v", err, errors.Is(err, ErrRefused), tc.refused)
			case !strings.Contains(err.Error(), tc.errHas):
				t.Errorf("error %q does not say %q", err, tc.errHas)
			}
		})
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

func TestIAMDisableAccessKeyApplyRevert(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_iam_disable_access_key", nil)
	req := keyRequest(prodAccount, malloryKey, "")
	attacker := ec2As(te, malloryKey, "")
	if _, err := attacker.DescribeInstances(bg, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("the key works before: %v", err)
	}

	before, err := ex.Read(bg, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(bg, te.env, req, before)
	if err != nil || !changed || !reflect.DeepEqual(after, keyState("Inactive", "mallory")) {
		t.Fatalf("Apply = %v, %v, %v", after, changed, err)
	}
	if s := keyStatus(te, "mallory", malloryKey); s != "Inactive" {
		t.Errorf("key status %s", s)
	}
	if _, err := attacker.DescribeInstances(bg, &ec2.DescribeInstancesInput{}); apiCode(err) != "AuthFailure" && apiCode(err) != "InvalidClientTokenId" {
		t.Errorf("the disabled key still works (err %v)", err)
	}

	live, err := ex.Read(bg, te.env, req)
	if err != nil || !reflect.DeepEqual(live, after) {
		t.Fatalf("Read after Apply = %v, %v", live, err)
	}
	te.emu.ResetCalls()
	if _, changed, err := ex.Apply(bg, te.env, req, live); err != nil || changed {
		t.Errorf("second Apply: changed=%v err=%v", changed, err)
	}
	if n := countCalls(actionCalls(te.emu), "iam:UpdateAccessKey"); n != 0 {
		t.Errorf("second Apply made %d UpdateAccessKey calls", n)
	}

	restored, err := ex.(Reverter).Revert(bg, te.env, req, jsonRoundTrip(t, before), after)
	if err != nil || !reflect.DeepEqual(restored, before) {
		t.Fatalf("Revert = %v, %v; want %v", restored, err, before)
	}
	if _, err := attacker.DescribeInstances(bg, &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("the key does not work again after Revert: %v", err)
	}
	// A key that was already inactive stays so.
	old := keyRequest(prodAccount, malloryOldKey, "mallory")
	if got, err := ex.(Reverter).Revert(bg, te.env, old, keyState("Inactive", "mallory"), keyState("Inactive", "mallory")); err != nil || got["status"] != "Inactive" {
		t.Errorf("Revert of an inactive key = %v, %v", got, err)
	}
	if s := keyStatus(te, "mallory", malloryOldKey); s != "Inactive" {
		t.Errorf("old key status %s", s)
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

// Cordon never disables the key it acts with, in the base account or the
// session it holds in the target's.
func TestIAMDisableAccessKeyRefusesOwnKey(t *testing.T) {
	te := newTestEnv(t)
	// On the harness's fixed clock, the role sessions cordon holds are
	// already expired by the wall clock the SDK's credential cache goes
	// by, so every call would assume the role again, with a new key.
	// Sessions issued now stay cached, as in production.
	te.emu.SetClock(time.Now)
	ex := newExecutor(t, "aws_iam_disable_access_key", nil)
	session, err := te.env.AWS.AccessKeyID(bg, prodAccount, region)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*Request{
		keyRequest(securityAccount, cordonKey, "cordon"),
		keyRequest(prodAccount, session, ""),
	} {
		t.Run(req.Target.ID, func(t *testing.T) {
			te.emu.ResetCalls()
			_, changed, err := ex.Apply(bg, te.env, req, keyState("Active", "cordon"))
			if !errors.Is(err, ErrRefused) || changed {
				t.Fatalf("Apply: changed=%v err=%v, want refused", changed, err)
			}
			if n := countCalls(actionCalls(te.emu), "iam:UpdateAccessKey"); n != 0 {
				t.Errorf("%d UpdateAccessKey calls", n)
			}
		})
	}
	if s := te.emu.Snapshot().Accounts[securityAccount].Users["cordon"].AccessKeys[0].Status; s != "Active" {
		t.Errorf("cordon's key is %s", s)
	}
}

func TestIAMDisableAccessKeyErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault func(*awsemu.Faults)
		code  string
		want  string // the key's status afterwards
	}{
		{"update denied", func(f *awsemu.Faults) {
			f.Fail("iam:UpdateAccessKey", malloryKey, "AccessDenied", "not authorized")
		}, "AccessDenied", "Active"},
		{"list throttled twice, then served", func(f *awsemu.Faults) { f.Throttle("iam:ListAccessKeys", 2) }, "", "Inactive"},
		{"IAM failing", func(f *awsemu.Faults) { f.ServerError("iam:UpdateAccessKey", -1) }, "ServiceFailure", "Active"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ex := newExecutor(t, "aws_iam_disable_access_key", nil)
			tc.fault(te.emu.Faults())
			req := keyRequest(prodAccount, malloryKey, "mallory")
			live, err := ex.Read(bg, te.env, req)
			if err == nil {
				_, _, err = ex.Apply(bg, te.env, req, live)
			}
			if tc.code == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.code != "" && apiCode(err) != tc.code {
				t.Fatalf("error %v (code %q), want code %s", err, apiCode(err), tc.code)
			}
			if s := keyStatus(te, "mallory", malloryKey); s != tc.want {
				t.Errorf("key status %s, want %s", s, tc.want)
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
}
