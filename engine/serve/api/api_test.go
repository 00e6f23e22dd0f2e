package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/sources"
)

// fakeService answers as the daemon would, from a real (temporary)
// SQLite store, with a sink and decisions the test controls.
type fakeService struct {
	store     state.Store
	acceptErr error
	decideErr error
	reloadErr error
	health    Health
	accepted  []sources.Batch
}

func (f *fakeService) Sink() sources.Sink            { return fakeSink{f} }
func (f *fakeService) Store() state.Store            { return f.store }
func (f *fakeService) Reload(context.Context) error  { return f.reloadErr }
func (f *fakeService) Health(context.Context) Health { return f.health }
func (f *fakeService) Decide(_ context.Context, id string, d state.PlanDecision) (*state.PlanRecord, error) {
	if f.decideErr != nil {
		return nil, f.decideErr
	}
	return &state.PlanRecord{ID: id, Status: d.Status, DecidedBy: d.By}, nil
}

type fakeSink struct{ f *fakeService }

func (s fakeSink) Accept(_ context.Context, b sources.Batch) (*sources.Receipt, error) {
	if s.f.acceptErr != nil {
		return nil, s.f.acceptErr
	}
	s.f.accepted = append(s.f.accepted, b)
	return &sources.Receipt{Deliveries: []sources.Delivery{{ID: 1, FindingID: "f", IncidentID: "inc-1"}, {ID: 1, Duplicate: true}}}, nil
}

func (s fakeSink) Cursor(context.Context, string) (string, bool, error) { return "", false, nil }

func newFixture(t *testing.T) (*fakeService, *httptest.Server) {
	t.Helper()
	st, err := state.OpenSQLite(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fakeService{store: st, health: Health{Live: true, Ready: true, Checks: map[string]Check{"state": {Status: "OK"}}}}
	srv := httptest.NewServer(New(f, Options{Token: "s3cret", MaxBody: 1024,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "m 1\n") })}))
	t.Cleanup(srv.Close)
	return f, srv
}

func do(t *testing.T, srv *httptest.Server, method, path, token, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, resp.Header, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestRoutes(t *testing.T) {
	f, srv := newFixture(t)
	const ok = "Bearer s3cret"
	for _, tc := range []struct {
		name, method, path, token, contentType, body string
		setup                                        func()
		status                                       int
		code                                         string
	}{
		{name: "no token", method: "GET", path: "/v1/incidents", status: 401, code: CodeUnauthorized},
		{name: "basic auth is not a bearer token", method: "GET", path: "/v1/incidents", token: "Basic czNjcmV0", status: 401, code: CodeUnauthorized},
		{name: "wrong token of the same length", method: "GET", path: "/v1/incidents", token: "Bearer s3creX", status: 401, code: CodeUnauthorized},
		{name: "token prefix", method: "GET", path: "/v1/incidents", token: "Bearer s3cre", status: 401, code: CodeUnauthorized},
		{name: "scheme is case-insensitive", method: "GET", path: "/v1/incidents", token: "bearer s3cret", status: 200},
		{name: "incidents", method: "GET", path: "/v1/incidents?limit=5", token: ok, status: 200},
		{name: "bad limit", method: "GET", path: "/v1/incidents?limit=0", token: ok, status: 400, code: CodeInvalidRequest},
		{name: "bad since", method: "GET", path: "/v1/incidents?since=yesterday", token: ok, status: 400, code: CodeInvalidRequest},
		{name: "unknown incident", method: "GET", path: "/v1/incidents/inc-x", token: ok, status: 404, code: CodeNotFound},
		{name: "plans", method: "GET", path: "/v1/plans?status=pending,approved", token: ok, status: 200},
		{name: "unknown plan status", method: "GET", path: "/v1/plans?status=bogus", token: ok, status: 400, code: CodeInvalidRequest},
		{name: "unknown plan", method: "GET", path: "/v1/plans/plan-x", token: ok, status: 404, code: CodeNotFound},
		{name: "wrong method", method: "DELETE", path: "/v1/findings", token: ok, status: 405, code: CodeMethodNotAllowed},
		{name: "unknown path", method: "GET", path: "/v1/nothing", token: ok, status: 404, code: CodeNotFound},
		{name: "findings", method: "POST", path: "/v1/findings", token: ok, contentType: "application/json", body: "{}", status: 202},
		{name: "ndjson with a charset", method: "POST", path: "/v1/findings", token: ok, contentType: "application/x-ndjson; charset=utf-8", body: "{}", status: 202},
		{name: "text", method: "POST", path: "/v1/findings", token: ok, contentType: "text/plain", body: "{}", status: 415, code: CodeUnsupportedMedia},
		{name: "too large", method: "POST", path: "/v1/findings", token: ok, contentType: "application/json", body: strings.Repeat(" ", 1025), status: 413, code: CodeBodyTooLarge},
		{name: "rejected", method: "POST", path: "/v1/findings", token: ok, contentType: "application/json", body: "{}",
			setup: func() { f.acceptErr = &sources.RejectedError{ID: 7, Reason: "record 1: not a finding"} }, status: 400, code: CodeInvalidFinding},
		{name: "state down", method: "POST", path: "/v1/findings", token: ok, contentType: "application/json", body: "{}",
			setup: func() { f.acceptErr = errors.New("database is locked") }, status: 503, code: CodeUnavailable},
		{name: "approve", method: "POST", path: "/v1/plans/plan-1/approve", token: ok, body: `{"approver":"alice"}`, status: 200},
		{name: "approve with unknown fields", method: "POST", path: "/v1/plans/plan-1/approve", token: ok, body: `{"approver":"alice","as":"root"}`, status: 400, code: CodeInvalidRequest},
		{name: "approve without approver", method: "POST", path: "/v1/plans/plan-1/approve", token: ok, body: `{"approver":"  "}`, status: 400, code: CodeInvalidRequest},
		{name: "reject decided", method: "POST", path: "/v1/plans/plan-1/reject", token: ok, body: `{"approver":"bob"}`,
			setup: func() { f.decideErr = fmt.Errorf("%w: plan plan-1 is applied", state.ErrPlanDecided) }, status: 409, code: CodeConflict},
		{name: "decide unknown", method: "POST", path: "/v1/plans/plan-9/reject", token: ok, body: `{"approver":"bob"}`,
			setup: func() { f.decideErr = fmt.Errorf("plan plan-9: %w", state.ErrNotFound) }, status: 404, code: CodeNotFound},
		{name: "reload", method: "POST", path: "/v1/reload", token: ok, status: 200},
		{name: "reload refused", method: "POST", path: "/v1/reload", token: ok,
			setup: func() { f.reloadErr = errors.New("policies/verdict.rego:3: rego_parse_error") }, status: 422, code: CodeReloadFailed},
		{name: "rejections", method: "GET", path: "/v1/rejections", token: ok, status: 200},
		{name: "livez needs no token", method: "GET", path: "/livez", status: 200},
		{name: "metrics need no token", method: "GET", path: "/metrics", status: 200},
		{name: "readyz not ready", method: "GET", path: "/readyz",
			setup: func() { f.health.Ready = false }, status: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.acceptErr, f.decideErr, f.reloadErr, f.health.Ready = nil, nil, nil, true
			if tc.setup != nil {
				tc.setup()
			}
			status, hdr, body := do(t, srv, tc.method, tc.path, tc.token, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if tc.code != "" && errCode(body) != tc.code {
				t.Errorf("error code %q, want %q: %v", errCode(body), tc.code, body)
			}
			if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge")
			}
			if status == 405 && hdr.Get("Allow") != "POST" {
				t.Errorf("405 Allow = %q", hdr.Get("Allow"))
			}
		})
	}
	// The 202 counts new findings and duplicates.
	_, _, body := do(t, srv, "POST", "/v1/findings", "Bearer s3cret", "application/json", "{}")
	if body["accepted"] != float64(1) || body["duplicates"] != float64(1) {
		t.Errorf("202 body %v", body)
	}
	if n := len(f.accepted); n == 0 || f.accepted[0].Source != "http" {
		t.Errorf("batches %+v", f.accepted)
	}
}

// An empty configured token refuses every call rather than accepting an
// empty bearer.
func TestEmptyTokenRefusesEverything(t *testing.T) {
	f, _ := newFixture(t)
	srv := httptest.NewServer(New(f, Options{}))
	defer srv.Close()
	for _, tok := range []string{"", "Bearer ", "Bearer x"} {
		if status, _, _ := do(t, srv, "GET", "/v1/incidents", tok, "", ""); status != 401 {
			t.Errorf("token %q: %d, want 401", tok, status)
		}
	}
}
