package awsemu

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/cordonhq/cordon/internal/awsclient"
)

// The fleet in testdata/fleet.json.
const (
	prodAccount     = "111122223333"
	securityAccount = "444455556666"
	aliceKey        = "AKIAEMUALICE00000001"
	malloryKey      = "AKIAEMUMALLORY000001"
	cordonKey       = "AKIAEMUCORDON0000001"
	web1            = "i-0a1b2c3d4e5f60101"
	web2            = "i-0a1b2c3d4e5f60102"
	batch1          = "i-0a1b2c3d4e5f60103"
	oldInstance     = "i-0a1b2c3d4e5f60104"
	web1ENI         = "eni-0a1b2c3d4e5f60201"
	web2ENI         = "eni-0a1b2c3d4e5f60202"
	web1Root        = "vol-0a1b2c3d4e5f60301"
	web1Data        = "vol-0a1b2c3d4e5f60302"
	sgWeb           = "sg-0a1b2c3d4e5f60021"
	sgApp           = "sg-0a1b2c3d4e5f60022"
	sgIsolation     = "sg-0a1b2c3d4e5f60023"
	sgUntrack       = "sg-0a1b2c3d4e5f60024"
	sgOtherVPC      = "sg-0b1b2c3d4e5f60021"
	detectorID      = "3caf4e0aaa46ce4ccbcef949a8785353"
	findingC2       = "a2c6b1f0e6a94b6d9f3c1e2d4b5a6c71"
	findingProbe    = "b7d2e3f4a5b64c7d8e9f0a1b2c3d4e52"
	findingKey      = "c1e2d3c4b5a64f7e8d9c0b1a2f3e4d93"
)

var testNow = time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)

var ctx = context.Background()

// env is an emulator loaded with the test fleet, served over HTTP.
type env struct {
	t   testing.TB
	emu *Emulator
	srv *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	seed, err := LoadSeed("testdata/fleet.json")
	if err != nil {
		t.Fatalf("LoadSeed: %v", err)
	}
	return newEnvSeed(t, seed)
}

func newEnvSeed(t testing.TB, seed *Seed) *env {
	emu := New(seed)
	emu.SetClock(func() time.Time { return testNow })
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &env{t: t, emu: emu, srv: srv}
}

// noBackoff keeps retries instant in tests; the retry decisions are still
// the SDK's standard retryer's.
var noBackoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })

// config is an SDK configuration for region, signing with key (and token
// for session credentials), retrying at most attempts times.
func (e *env) config(region, key, token string, attempts int) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret-not-checked", token),
		BaseEndpoint: aws.String(e.srv.URL),
		// cordon's own client wrapper, without which a fast local server
		// races smithy-go's request body (see awsclient.HTTPClient).
		HTTPClient: awsclient.HTTPClient(nil),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = noBackoff
			})
		},
	}
}

// prod acts as alice in the prod account, us-east-1.
func (e *env) prod() aws.Config { return e.config("us-east-1", aliceKey, "", 3) }

// errorCode is the API error code the SDK surfaced, "" for none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := errorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %s", err, got, code)
	}
}

func wantOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// callsOf returns the recorded calls of an action, "ec2:StopInstances".
func (e *env) callsOf(action string) []Call {
	var out []Call
	for _, c := range e.emu.Calls() {
		if c.Action() == action {
			out = append(out, c)
		}
	}
	return out
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// raw sends a request the SDK would refuse to send (a required parameter
// left out, no credentials …), with a well-formed but unchecked SigV4
// header when key is not empty. It returns the status and body.
func (e *env) raw(method, path, service, key string, header map[string]string, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20250301/us-east-1/"+service+"/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
