package collectors

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// The shared harness of the AWS collector tests: the emulator loaded with
// the test fleet, served over HTTP, and a Factory whose clients reach it
// the way they reach AWS (base credentials in the security account, the
// cordon-responder role assumed in the finding's account).

const (
	fleetSeed   = "../internal/awsemu/testdata/fleet.json"
	prodAccount = "111122223333"
	region      = "us-east-1"
	cordonKey   = "AKIAEMUCORDON0000001"
	incidentID  = "inc-0123456789abcdef"
)

var testNow = time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)

type testEnv struct {
	emu *awsemu.Emulator
	srv *httptest.Server
	aws *awsclient.Factory

	mu   sync.Mutex
	kept []Artefact // what requests built by request() kept, in order
}

func newTestEnv(t testing.TB) *testEnv { return newTestEnvSeed(t, nil) }

// newTestEnvSeed is newTestEnv on the fleet as change leaves it.
func newTestEnvSeed(t testing.TB, change func(*awsemu.Seed)) *testEnv {
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
	srv := httptest.NewServer(emu)
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
	return &testEnv{emu: emu, srv: srv, aws: f}
}

// request is an investigation of a prod instance of the fleet (in
// us-east-1), whose artefacts the env keeps.
func (e *testEnv) request(instanceID string) *Request {
	return &Request{
		IncidentID: incidentID,
		Finding: &schema.Finding{ID: "f-1", Source: "guardduty", Type: "Backdoor:EC2/C&CActivity.B!DNS",
			Severity: "high", Account: prodAccount, Region: region},
		Resource: schema.Resource{Type: schema.ResourceInstance, ID: instanceID, Tags: map[string]string{}, Details: map[string]any{}},
		AWS:      e.aws,
		Keep: func(a Artefact) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.kept = append(e.kept, a)
		},
		Now: func() time.Time { return testNow },
	}
}

// artefacts returns what the env's requests kept so far.
func (e *testEnv) artefacts() []Artefact {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.kept)
}

// actionsCalled lists the IAM actions of the calls the emulator received,
// once each, leaving out the harness's own sts:AssumeRole.
func (e *testEnv) actionsCalled() []string {
	var out []string
	for _, c := range e.emu.Calls() {
		if a := c.Action(); a != "sts:AssumeRole" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// newCollector builds a configured collector of a registered type from
// attribute values (missing attributes are null, as when a block omits
// them).
func newCollector(t testing.TB, typ string, attrs map[string]cty.Value) Collector {
	t.Helper()
	c, err := buildCollector(typ, attrs)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return c
}

// buildCollector is newCollector returning New's error, for tests of bad
// configurations.
func buildCollector(typ string, attrs map[string]cty.Value) (Collector, error) {
	def, ok := Lookup(typ)
	if !ok {
		panic("collector type " + typ + " is not registered")
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
	return def.New(cfg)
}

// checkPermissions fails t unless c declares every IAM action in called.
func checkPermissions(t testing.TB, c Collector, called []string) {
	t.Helper()
	p, ok := c.(interface{ Permissions() []string })
	if !ok {
		t.Fatalf("%T does not implement Permissions", c)
	}
	perms := p.Permissions()
	for _, a := range called {
		if !slices.Contains(perms, a) {
			t.Errorf("%s was called but is not in Permissions() %v", a, perms)
		}
	}
}

// checkFactsSchema fails t unless facts, as policies see them (through
// JSON), match the facts schema of typ, validated with OPA's own JSON
// Schema validator (json.match_schema).
func checkFactsSchema(t testing.TB, typ string, facts map[string]any) {
	t.Helper()
	raw, ok := schema.FactsSchema(typ)
	if !ok {
		t.Fatalf("no facts schema for %s", typ)
	}
	var s, doc any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(facts)
	if err != nil {
		t.Fatalf("facts are not JSON: %v", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	rs, err := rego.New(
		rego.Query("r := json.match_schema(input.doc, input.schema)"),
		rego.Input(map[string]any{"doc": doc, "schema": s}),
	).Eval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("json.match_schema gave %d results", len(rs))
	}
	r := rs[0].Bindings["r"].([]any)
	if r[0].(bool) {
		return
	}
	for _, e := range r[1].([]any) {
		b, _ := json.Marshal(e)
		t.Errorf("%s facts do not match their schema: %s", typ, b)
	}
}

// viaJSON round-trips v through JSON, as facts reach policies, state and
// -facts files: numbers become float64, lists []any.
func viaJSON(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonEqual compares two JSON-shaped values as JSON.
func jsonEqual(t testing.TB, a, b any) bool {
	t.Helper()
	return reflect.DeepEqual(viaJSON(t, a), viaJSON(t, b))
}
