package actions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookStep is how a test receiver answers one request.
type hookStep struct {
	status int
	header map[string]string
	body   string
	hang   bool // answer nothing until the client gives up
}

// hookRequest is a request a test receiver got.
type hookRequest struct {
	header http.Header
	body   []byte
	path   string
}

// hookServer answers with steps in turn, the last one for every request
// after them, and records what it received.
type hookServer struct {
	*httptest.Server
	mu    sync.Mutex
	steps []hookStep
	reqs  []hookRequest
}

func newHookServer(t *testing.T, steps ...hookStep) *hookServer {
	t.Helper()
	h := &hookServer{steps: steps}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, hookRequest{header: r.Header.Clone(), body: body, path: r.URL.RequestURI()})
		step := h.steps[min(n, len(h.steps)-1)]
		h.mu.Unlock()
		if step.hang {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		for k, v := range step.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(step.status)
		io.WriteString(w, step.body)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// fastDelivery retries at once, and waits 50 ms at most for a response.
var fastDelivery = delivery{attempts: 4, backoff: time.Millisecond, maxWait: 5 * time.Millisecond, timeout: 50 * time.Millisecond}

func TestDeliveryRetries(t *testing.T) {
	ok := hookStep{status: 200, body: "ok"}
	tests := []struct {
		name     string
		steps    []hookStep
		attempts int
		status   int
		errHas   string // "" for success
	}{
		{"success", []hookStep{ok}, 1, 200, ""},
		{"503 then success", []hookStep{{status: 503}, ok}, 2, 200, ""},
		{"429 with Retry-After then success", []hookStep{{status: 429, header: map[string]string{"Retry-After": "0"}}, ok}, 2, 200, ""},
		{"timeout then success", []hookStep{{hang: true}, ok}, 2, 200, ""},
		{"502, 500, 504 then success", []hookStep{{status: 502}, {status: 500}, {status: 504}, ok}, 4, 200, ""},
		{"always 500", []hookStep{{status: 500}}, 4, 500, "HTTP 500 Internal Server Error (after 4 attempts)"},
		{"always timing out", []hookStep{{hang: true}}, 4, 0, "no response within 50ms (after 4 attempts)"},
		{"400 is not retried", []hookStep{{status: 400}, ok}, 1, 400, "HTTP 400 Bad Request"},
		{"404 is not retried", []hookStep{{status: 404}, ok}, 1, 404, "HTTP 404 Not Found"},
		{"a redirect is not followed", []hookStep{{status: 302, header: map[string]string{"Location": "/elsewhere"}}, ok}, 1, 302, "redirects are not followed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHookServer(t, tc.steps...)
			var debug bytes.Buffer
			env := &Env{HTTP: srv.Client(), Debug: &debug}
			n := &notification{kind: "test", url: srv.URL + "/hook", header: http.Header{"X-Test": {"1"}}, body: []byte(`{}`)}
			status, err := fastDelivery.send(context.Background(), env, n)
			if got := len(srv.requests()); got != tc.attempts {
				t.Errorf("%d attempts, want %d", got, tc.attempts)
			}
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			switch {
			case tc.errHas == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
				t.Errorf("error %v, want one saying %q", err, tc.errHas)
			}
			if tc.attempts > 1 && !strings.Contains(debug.String(), "retrying in") {
				t.Errorf("no debug line about retrying: %q", debug.String())
			}
		})
	}
}

func TestDeliveryConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	n := &notification{kind: "test", url: "http://" + addr + "/secret-path", header: http.Header{}, body: []byte(`{}`)}
	_, err = fastDelivery.send(context.Background(), &Env{}, n)
	if err == nil || !strings.Contains(err.Error(), "(after 4 attempts)") {
		t.Fatalf("error %v, want a failure after 4 attempts", err)
	}
	if strings.Contains(err.Error(), "secret-path") {
		t.Errorf("error shows the URL path: %v", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("error %v does not wrap the *net.OpError", err)
	}
}

// Cancelling stops the retries at once, during a backoff or an attempt.
func TestDeliveryCancelled(t *testing.T) {
	srv := newHookServer(t, hookStep{status: 503})
	d := delivery{attempts: 4, backoff: time.Hour, maxWait: time.Hour, timeout: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := d.send(ctx, &Env{HTTP: srv.Client()}, &notification{kind: "test", url: srv.URL, header: http.Header{}, body: []byte(`{}`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("send did not return when cancelled")
	}
	if got := len(srv.requests()); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

func TestDeliveryWait(t *testing.T) {
	d := delivery{attempts: 10, backoff: time.Second, maxWait: 30 * time.Second}
	tests := []struct {
		n          int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{3, 0, 2 * time.Second, 4 * time.Second},
		{3, 10 * time.Second, 10 * time.Second, 10 * time.Second},
		{9, 0, 15 * time.Second, 30 * time.Second},
		{70, 0, 15 * time.Second, 30 * time.Second}, // past the int64 range
		{1, time.Hour, 30 * time.Second, 30 * time.Second},
	}
	for _, tc := range tests {
		for range 20 {
			if w := d.wait(tc.n, tc.retryAfter); w < tc.lo || w > tc.hi {
				t.Errorf("wait(%d, %s) = %s, want within [%s, %s]", tc.n, tc.retryAfter, w, tc.lo, tc.hi)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestCheckHeaders(t *testing.T) {
	tests := []struct {
		headers map[string]string
		summary string // "" for valid
	}{
		{map[string]string{"Authorization": "Bearer x", "X-Api-Key": "k", "User-Agent": "custom"}, ""},
		{map[string]string{"Bad Name": "v"}, "Invalid header name"},
		{map[string]string{"": "v"}, "Invalid header name"},
		{map[string]string{"content-type": "text/plain"}, "Reserved header"},
		{map[string]string{"X-Cordon-Signature": "forged"}, "Reserved header"},
		{map[string]string{"X-Token": "a\r\nInjected: yes"}, "Invalid header value"},
	}
	for _, tc := range tests {
		err := checkHeaders("headers", tc.headers)
		var ae *AttributeError
		switch {
		case tc.summary == "" && err != nil:
			t.Errorf("checkHeaders(%v) = %v", tc.headers, err)
		case tc.summary != "" && (!errors.As(err, &ae) || ae.Summary != tc.summary || ae.Attribute != "headers"):
			t.Errorf("checkHeaders(%v) = %v, want %q", tc.headers, err, tc.summary)
		}
		if err != nil {
			for _, v := range tc.headers {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Errorf("the diagnostic shows a header value: %v", err)
				}
			}
		}
	}
}
