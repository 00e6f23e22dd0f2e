package sources_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
	"github.com/cordonhq/cordon/schema"
	"github.com/cordonhq/cordon/sources"
)

// The source tests run each source against the emulator over HTTP with
// the real SDK clients, built by awsclient as the daemon builds them (the
// demo fleet, cordon assuming its responder role in the production
// account), and hand what they receive to recordingSink: a small Sink of
// our own that parses batches with the real finding parser and keeps
// them in memory.

const (
	prodAccount = demo.ProdAccount
	region      = demo.Region
	queueName   = "cordon-findings"
	// queueURL is the queue as AWS names it; the SDK sends its calls to
	// the emulator's endpoint all the same.
	queueURL   = "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings"
	detectorID = "5ec52e1f0a2b4c6d8e9f0a1b2c3d4e5f"

	web1Finding     = "../policies/testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"
	bastionFinding  = "../policies/testdata/findings/ec2_ssh_bruteforce_target.json"
	backdoorFinding = "../policies/testdata/findings/ec2_backdoor_cnc_dns.json"
)

// fixture is an emulator with the demo fleet, edited for a test, and the
// clients that reach it.
type fixture struct {
	t    *testing.T
	emu  *awsemu.Emulator
	url  string
	aws  *awsclient.Factory
	sink *recordingSink
	logs *syncBuffer
}

// newFixture builds the demo fleet with edit applied to the production
// account's region.
func newFixture(t *testing.T, edit func(*awsemu.SeedRegion)) *fixture {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	editRegion(t, seed, prodAccount, region, edit)
	return newFixtureSeed(t, seed, demo.ResponderRoleARN)
}

// newFixtureSeed serves an emulator with seed; the clients assume roleARN
// in each account when it is set.
func newFixtureSeed(t *testing.T, seed *awsemu.Seed, roleARN string) *fixture {
	t.Helper()
	emu := awsemu.New(seed)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, emu: emu, url: srv.URL, sink: newRecordingSink(), logs: &syncBuffer{}}
	f.aws = f.factory(roleARN)
	return f
}

// editRegion applies edit to a region of an account of the seed, adding
// the region when the account has none by that name.
func editRegion(t *testing.T, seed *awsemu.Seed, account, name string, edit func(*awsemu.SeedRegion)) {
	t.Helper()
	if edit == nil {
		return
	}
	for i := range seed.Accounts {
		a := &seed.Accounts[i]
		if a.ID != account {
			continue
		}
		if a.Regions == nil {
			a.Regions = map[string]awsemu.SeedRegion{}
		}
		r := a.Regions[name]
		edit(&r)
		a.Regions[name] = r
		if err := seed.Validate(); err != nil {
			t.Fatalf("the edited seed: %v", err)
		}
		return
	}
	t.Fatalf("no account %s in the demo fleet", account)
}

// factory builds the AWS clients as the daemon does, assuming roleARN in
// each account when it is set.
func (f *fixture) factory(roleARN string) *awsclient.Factory {
	aws, err := awsclient.New(context.Background(), awsclient.Options{
		Region: region, Endpoint: f.url, AssumeRoleARN: roleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return aws
}

// newSource decodes a source block's body as the configuration does and
// builds the source.
func newSource(t *testing.T, typ, body string) sources.Source {
	t.Helper()
	def, ok := sources.Lookup(typ)
	if !ok {
		t.Fatalf("no source type %s", typ)
	}
	file, diags := hclsyntax.ParseConfig([]byte(body), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	val, diags := hcldec.Decode(file.Body, def.Attributes, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	src, err := def.New(val)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

// running is a source's Run in a goroutine.
type running struct {
	env    *sources.Env
	cancel context.CancelFunc
	done   chan error
}

// start runs src named name ("sqs.test") with the fixture's sink.
func (f *fixture) start(src sources.Source, name string, opts ...func(*sources.Env)) *running {
	env := &sources.Env{
		Name: name, Sink: f.sink, AWS: f.aws, Status: sources.NewStatus(),
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("source", name),
	}
	for _, o := range opts {
		o(env)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{env: env, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, env) }()
	f.t.Cleanup(func() { r.stop(f.t) })
	return r
}

// stop cancels the run and returns how long Run took to return.
func (r *running) stop(t *testing.T) time.Duration {
	t.Helper()
	if r.cancel == nil {
		return 0
	}
	began := time.Now()
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	return time.Since(began)
}

// waitFor polls cond until it holds.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, f.logs.String())
}

// calls counts the emulator's calls of an operation, by status: 200, or
// any other.
func (f *fixture) calls(op string) (ok, failed int) {
	for _, c := range f.emu.Calls() {
		if c.Operation != op {
			continue
		}
		if c.Status == 200 {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

// recordingSink is a Sink that parses batches with the real finding
// parser and records them: a finding update it has seen is a duplicate,
// input that does not parse is a rejection, and a cursor is kept only
// with a batch that was recorded. It can be told to fail.
type recordingSink struct {
	mu       sync.Mutex
	batches  []sources.Batch // recorded, in order
	findings []*schema.Finding
	rejected []sources.Batch
	calls    int
	seen     map[string]bool
	cursors  map[string]string
	// hook, when set, runs first in every Accept with the call's number
	// (from 1); an error it returns is Accept's, and nothing is recorded.
	hook func(ctx context.Context, n int, b sources.Batch) error
}

func newRecordingSink() *recordingSink {
	return &recordingSink{seen: map[string]bool{}, cursors: map[string]string{}}
}

var errStateDown = errors.New("state is unavailable: database is restarting")

func (s *recordingSink) setHook(h func(ctx context.Context, n int, b sources.Batch) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

func (s *recordingSink) Accept(ctx context.Context, b sources.Batch) (*sources.Receipt, error) {
	s.mu.Lock()
	s.calls++
	n, hook := s.calls, s.hook
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, n, b); err != nil {
			return nil, err
		}
	}
	var fs []*schema.Finding
	if len(b.Data) > 0 {
		var err error
		if fs, err = parse(b); err != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.rejected = append(s.rejected, b)
			return nil, &sources.RejectedError{ID: int64(len(s.rejected)), Reason: err.Error()}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &sources.Receipt{}
	for _, f := range fs {
		key := f.ID + "\x00" + f.UpdatedAt
		rec.Deliveries = append(rec.Deliveries, sources.Delivery{FindingID: f.ID, Duplicate: s.seen[key]})
		if !s.seen[key] {
			s.findings = append(s.findings, f)
		}
		s.seen[key] = true
	}
	if len(b.Data) > 0 {
		s.batches = append(s.batches, b)
	}
	if b.Cursor != nil {
		s.cursors[b.Cursor.Name] = b.Cursor.Value
	}
	return rec, nil
}

func parse(b sources.Batch) ([]*schema.Finding, error) {
	recs, err := schema.SplitRecords(b.Source, b.Data)
	if err != nil {
		return nil, err
	}
	var out []*schema.Finding
	for _, r := range recs {
		fs, err := schema.ParseRecord(b.Source, r)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	if len(out) == 0 {
		return nil, errors.New("no findings")
	}
	return out, nil
}

func (s *recordingSink) Cursor(_ context.Context, name string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.cursors[name]
	return v, ok, nil
}

func (s *recordingSink) snapshot() (batches []sources.Batch, findings []*schema.Finding, rejected []sources.Batch, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sources.Batch(nil), s.batches...), append([]*schema.Finding(nil), s.findings...),
		append([]sources.Batch(nil), s.rejected...), s.calls
}

func (s *recordingSink) cursor(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.cursors[name]
	return v, ok
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable clock for Env.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// gdFinding reads a GuardDuty finding fixture (the API shape) with its
// updatedAt set, and edit applied to the decoded JSON when set.
func gdFinding(t *testing.T, path string, updatedAt time.Time, edit func(map[string]any)) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["updatedAt"] = gdTime(updatedAt)
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gdTime formats a time as GuardDuty's API does.
func gdTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// eventBridge wraps a GuardDuty finding (API shape) in the EventBridge
// event that carries it to a queue.
func eventBridge(t *testing.T, finding json.RawMessage) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(finding, &m); err != nil {
		t.Fatal(err)
	}
	ev := map[string]any{
		"version": "0", "id": fmt.Sprintf("ev-%s", m["id"]), "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
		"account": m["accountId"], "time": m["updatedAt"], "region": m["region"], "resources": []any{}, "detail": m,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noBodies checks that no log line holds a finding's content.
func (f *fixture) noBodies(secrets ...string) {
	f.t.Helper()
	logs := f.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			f.t.Errorf("the logs hold %q, from a message body:\n%s", s, logs)
		}
	}
}
