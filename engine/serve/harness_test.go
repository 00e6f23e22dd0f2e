package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
	"github.com/cordonhq/cordon/sources"
)

// The daemon tests run the real daemon in process: its HTTP API on a
// loopback port, the real engine and action types, the real SDK clients
// against the emulator loaded with the demo fleet, and SQLite state in a
// temporary directory. Processes that must die are in crash_test.go.

const (
	web1        = "i-0a1b2c3d4e5f67890"
	bastion     = "i-0b7c6d5e4f3a21098"
	isolationSG = "sg-0e1f2a3b4c5d6e7f8"
	web1Finding = "../../policies/testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"
	bastionFind = "../../policies/testdata/findings/ec2_ssh_bruteforce_target.json"
	testToken   = "test-token-0123456789"
)

// harness is a running daemon with its emulator and webhook receiver.
type harness struct {
	t      *testing.T
	emu    *awsemu.Emulator
	emuURL string
	aws    *awsclient.Factory
	vars   map[string]cty.Value
	dir    string // state directory
	store  state.Store
	logs   *syncBuffer

	d      *serve.Daemon
	base   string // the API's base URL
	cancel context.CancelFunc
	done   chan error

	mu    sync.Mutex
	hooks []map[string]any // webhook bodies received
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

// newHarness prepares an emulator, a webhook receiver and state; start
// starts a daemon on them.
func newHarness(t *testing.T, vars map[string]cty.Value) *harness {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, emu: awsemu.New(seed), vars: map[string]cty.Value{}, dir: t.TempDir(), logs: &syncBuffer{}}
	srv := httptest.NewServer(h.emu)
	t.Cleanup(srv.Close)
	h.emuURL = srv.URL
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		h.mu.Lock()
		h.hooks = append(h.hooks, body)
		h.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	h.vars["webhook_url"] = cty.StringVal(hook.URL + "/cordon")
	for k, v := range vars {
		h.vars[k] = v
	}
	h.aws, err = awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenSQLite(filepath.Join(h.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.store = st
	return h
}

// start starts a daemon on the harness's state; opts may adjust its
// options.
func (h *harness) start(opts ...func(*serve.Options)) {
	h.t.Helper()
	o := serve.Options{
		Engine:         engine.Options{Dir: "testdata/daemon", Values: h.vars, ValuesSource: "the test"},
		Listen:         "127.0.0.1:0",
		Token:          testToken,
		Logger:         slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Store:          h.store,
		AWS:            h.aws,
		ScanInterval:   50 * time.Millisecond,
		ExpireInterval: 50 * time.Millisecond,
	}
	for _, f := range opts {
		f(&o)
	}
	listening := make(chan string, 1)
	o.OnListen = func(api, _ string) { listening <- api }
	d, diags, err := serve.New(context.Background(), o)
	if err != nil {
		h.t.Fatalf("serve.New: %v\n%v", err, diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.d, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	select {
	case addr := <-listening:
		h.base = "http://" + addr
	case err := <-h.done:
		h.t.Fatalf("daemon stopped at start: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("daemon did not start listening")
	}
	h.t.Cleanup(h.stop)
}

// stop drains the daemon and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Error("daemon did not stop")
	}
	h.cancel = nil
}

// request sends a request to the API.
func (h *harness) request(method, path, contentType, token string, body []byte) (int, []byte) {
	h.t.Helper()
	return h.requestTo(h.base, method, path, contentType, token, body)
}

// requestTo sends a request to the API at base (one replica's).
func (h *harness) requestTo(base, method, path, contentType, token string, body []byte) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// post posts findings and returns the 202 body.
func (h *harness) post(body []byte) serveFindingsResponse {
	h.t.Helper()
	return h.postTo(h.base, body)
}

// postTo posts findings to the API at base and returns the 202 body.
func (h *harness) postTo(base string, body []byte) serveFindingsResponse {
	h.t.Helper()
	code, b := h.requestTo(base, "POST", "/v1/findings", "application/json", testToken, body)
	if code != http.StatusAccepted {
		h.t.Fatalf("POST /v1/findings: %d %s", code, b)
	}
	var out serveFindingsResponse
	if err := json.Unmarshal(b, &out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

type serveFindingsResponse struct {
	Deliveries []struct {
		ID         int64  `json:"id"`
		FindingID  string `json:"finding_id"`
		IncidentID string `json:"incident_id"`
		Duplicate  bool   `json:"duplicate"`
	} `json:"deliveries"`
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// waitFor polls cond until it holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, h.logs.String())
}

// idle waits until the inbox has nothing queued and no plan is approved
// and unapplied.
func (h *harness) idle() {
	h.t.Helper()
	h.waitFor("the daemon to be idle", func() bool {
		q, err := h.store.QueuedDeliveries(context.Background(), 0, 0)
		if err != nil || len(q) > 0 {
			return false
		}
		p, err := h.store.Plans(context.Background(), state.PlanFilter{Status: []state.PlanStatus{state.PlanApproved}})
		return err == nil && len(p) == 0
	})
}

func (h *harness) instance(id string) *awsemu.Instance {
	return h.emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances[id]
}

func (h *harness) isolated(id string) bool {
	r := h.emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
	inst := r.Instances[id]
	for _, eni := range inst.NetworkInterfaces {
		if g := r.NetworkInterfaces[eni].Groups; len(g) != 1 || g[0] != isolationSG {
			return false
		}
	}
	return true
}

// calls counts the emulator's successful calls of an operation.
func (h *harness) calls(op string) int {
	n := 0
	for _, c := range h.emu.Calls() {
		if c.Operation == op && c.Status == 200 {
			n++
		}
	}
	return n
}

func (h *harness) hookBodies() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.hooks...)
}

// finding reads a GuardDuty finding fixture, changed by edit (a copy of
// the decoded JSON) when set.
func finding(t *testing.T, path string, edit func(map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// republished is a GuardDuty re-publication: a newer updatedAt and a
// higher service.count.
func republished(updatedAt string, count int) func(map[string]any) {
	return func(m map[string]any) {
		m["updatedAt"] = updatedAt
		m["service"].(map[string]any)["count"] = count
	}
}

// renamed gives a finding another id (another incident).
func renamed(id string) func(map[string]any) {
	return func(m map[string]any) {
		m["id"] = id
		if arn, ok := m["arn"].(string); ok {
			m["arn"] = arn[:strings.LastIndex(arn, "/")+1] + id
		}
	}
}

// sourcesBatch is a batch as the HTTP source hands it to the sink.
func sourcesBatch(data []byte) sources.Batch { return sources.Batch{Source: "http", Data: data} }
