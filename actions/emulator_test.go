package actions

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// The shared harness of the action tests: the emulator loaded with the
// test fleet, served over HTTP, and an Env whose AWS clients reach it the
// way they reach AWS (base credentials in the security account, the
// cordon-responder role assumed in the target's account).

const (
	fleetSeed   = "../internal/awsemu/testdata/fleet.json"
	prodAccount = "111122223333"
	region      = "us-east-1"
	cordonKey   = "AKIAEMUCORDON0000001"
)

var testNow = time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)

type testEnv struct {
	emu *awsemu.Emulator
	srv *httptest.Server
	env *Env
}

func newTestEnv(t testing.TB) *testEnv { return newTestEnvSeed(t, nil) }

// newTestEnvSeed is newTestEnv on the fleet as change leaves it.
func newTestEnvSeed(t testing.TB, change func(*awsemu.Seed)) *testEnv {
	t.Helper()
	return newTestEnvServing(t, change, nil)
}

// newTestEnvServing is newTestEnvSeed with the emulator served through
// wrap, for tests that need what happens on the wire (a response lost
// after the change was made).
func newTestEnvServing(t testing.TB, change func(*awsemu.Seed), wrap func(http.Handler) http.Handler) *testEnv {
	t.Helper()
	seed, err := awsemu.LoadSeed(fleetSeed)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(seed)
		if err := seed.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	emu := awsemu.New(seed)
	emu.SetClock(func() time.Time { return testNow })
	var h http.Handler = emu
	if wrap != nil {
		h = wrap(emu)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f, err := awsclient.New(context.Background(), awsclient.Options{
		Region:        region,
		Endpoint:      srv.URL,
		AssumeRoleARN: "arn:aws:iam::{account}:role/cordon-responder",
		Credentials:   credentials.NewStaticCredentialsProvider(cordonKey, "emulator/secret/cordon/000000000000000000", ""),
		Version:       "test",
		// The SDK's own retry decisions, without its real-time backoff.
		MaxBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{emu: emu, srv: srv, env: &Env{AWS: f, HTTP: srv.Client(), Now: func() time.Time { return testNow }}}
}

// newExecutor builds a configured action of a registered type from
// attribute values (missing attributes are null, as when a block omits
// them).
func newExecutor(t testing.TB, typ string, attrs map[string]cty.Value) Executor {
	t.Helper()
	def, ok := Lookup(typ)
	if !ok {
		t.Fatalf("type %s is not registered", typ)
	}
	vals := map[string]cty.Value{}
	ty := hcldec.ImpliedType(def.Attributes)
	for name := range def.Attributes {
		if v, ok := attrs[name]; ok {
			vals[name] = v
			continue
		}
		vals[name] = cty.NullVal(ty.AttributeType(name))
	}
	cfg := cty.EmptyObjectVal
	if len(vals) > 0 {
		cfg = cty.ObjectVal(vals)
	}
	a, err := def.New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	ex, ok := a.(Executor)
	if !ok {
		t.Fatalf("%s does not implement Executor", typ)
	}
	return ex
}

// instanceRequest is a request against an instance of the fleet.
func instanceRequest(id string) *Request {
	return &Request{
		IncidentID: "inc-0123456789abcdef",
		Target:     Target{Type: schema.ResourceInstance, ID: id, Account: prodAccount, Region: region},
		Resource:   schema.Resource{Type: schema.ResourceInstance, ID: id, Tags: map[string]string{}, Details: map[string]any{}},
		Finding:    &schema.Finding{ID: "f-1", Source: "guardduty", Type: "Backdoor:EC2/C&CActivity.B!DNS", Severity: "high", Account: prodAccount, Region: region},
		Facts:      map[string]map[string]any{},
	}
}
