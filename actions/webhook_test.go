package actions

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// The secrets of the webhook tests: none may show in an error, a debug line
// or a state.
const (
	hookPath   = "/hooks/T0SECRETPATH/B0SECRETPATH"
	hookQuery  = "token=querysecret123"
	hookHeader = "Bearer header-secret-value"
	hookSecret = "signing-secret-value"
)

func testIncident() *IncidentSummary {
	conf := 0.9
	return &IncidentSummary{
		IncidentID: "inc-0123456789abcdef",
		Finding: FindingBrief{ID: "a2c6b1f0e6a94b6d9f3c1e2d4b5a6c71", Source: "guardduty", Type: "Backdoor:EC2/C&CActivity.B!DNS",
			Title: "Command and Control server domain name queried by EC2 instance i-0a1b2c3d4e5f60101.", Severity: "high",
			Account: prodAccount, Region: region, Resource: Target{Type: "aws_instance", ID: web1, Account: prodAccount, Region: region}},
		Verdicts: []VerdictBrief{{Rule: "ec2_compromise", Verdict: "malicious", Confidence: &conf, Reasons: []string{"queried a C2 domain"}}},
		Actions: []ActionOutcome{
			{Address: `action.isolate["i-0a1b2c3d4e5f60101"]`, Result: "applied"},
			{Address: `action.stop["i-0a1b2c3d4e5f60101"]`, Result: "failed", Error: "stopping i-0a1b2c3d4e5f60101: UnauthorizedOperation"},
		},
	}
}

// newWebhook is a configured webhook to url that retries without waiting.
func newWebhook(t *testing.T, url string, attrs map[string]cty.Value) webhook {
	t.Helper()
	if attrs == nil {
		attrs = map[string]cty.Value{}
	}
	attrs["url"] = cty.StringVal(url)
	if _, ok := attrs["timeout"]; !ok {
		attrs["timeout"] = cty.StringVal("50ms")
	}
	w := newExecutor(t, "webhook", attrs).(webhook)
	w.retry.backoff, w.retry.maxWait = fastDelivery.backoff, fastDelivery.maxWait
	return w
}

func TestWebhookPost(t *testing.T) {
	srv := newHookServer(t, hookStep{status: 204})
	w := newWebhook(t, srv.URL+hookPath+"?"+hookQuery, map[string]cty.Value{
		"headers": cty.MapVal(map[string]cty.Value{"Authorization": cty.StringVal(hookHeader)}),
		"secret":  cty.StringVal(hookSecret),
	})
	var debug bytes.Buffer
	env := &Env{HTTP: srv.Client(), Debug: &debug, Incident: testIncident()}
	req := instanceRequest(web1)

	if live, err := w.Read(bg, env, req); err != nil || len(live) != 0 {
		t.Errorf("Read = %v, %v; want {}", live, err)
	}
	after, changed, err := w.Apply(bg, env, req, map[string]any{})
	if err != nil || !changed {
		t.Fatalf("Apply: changed=%v err=%v", changed, err)
	}
	want := map[string]any{"post": srv.URL + "/…", "incident": req.IncidentID, "status": 204}
	if !reflect.DeepEqual(after, want) {
		t.Errorf("after = %v, want %v", after, want)
	}
	for k, v := range w.Describe(req).After {
		if after[k] != v {
			t.Errorf("after[%s] = %v, Describe said %v", k, after[k], v)
		}
	}

	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	got := reqs[0]
	if got.path != hookPath+"?"+hookQuery {
		t.Errorf("posted to %s", got.path)
	}
	var summary IncidentSummary
	if err := json.Unmarshal(got.body, &summary); err != nil || !reflect.DeepEqual(&summary, testIncident()) {
		t.Errorf("body %s (%v), want the incident summary", got.body, err)
	}
	for name, want := range map[string]string{
		"Content-Type":  "application/json",
		"User-Agent":    "cordon/" + Version,
		"Authorization": hookHeader,
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if id := got.header.Get("X-Cordon-Delivery"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("X-Cordon-Delivery %q", id)
	}
	// The receiver's check, as documented on webhook.
	sig, ok := strings.CutPrefix(got.header.Get("X-Cordon-Signature"), "sha256=")
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(got.body)
	if raw, err := hex.DecodeString(sig); !ok || err != nil || !hmac.Equal(raw, mac.Sum(nil)) {
		t.Errorf("X-Cordon-Signature %q does not verify", got.header.Get("X-Cordon-Signature"))
	}
	if strings.Contains(string(got.body), hookSecret) || got.header.Get("X-Cordon-Secret") != "" {
		t.Error("the secret was sent")
	}
	checkNoSecrets(t, debug.String())
	if !strings.Contains(debug.String(), "POST "+srv.URL+"/…: HTTP 204") {
		t.Errorf("debug output %q", debug.String())
	}
	if p := w.Permissions(); len(p) != 0 {
		t.Errorf("Permissions() = %v", p)
	}
}

func TestWebhookUnsigned(t *testing.T) {
	srv := newHookServer(t, hookStep{status: 200})
	w := newWebhook(t, srv.URL, nil)
	if _, _, err := w.Apply(bg, &Env{HTTP: srv.Client(), Incident: testIncident()}, instanceRequest(web1), nil); err != nil {
		t.Fatal(err)
	}
	if h := srv.requests()[0].header; h.Get("X-Cordon-Signature") != "" {
		t.Errorf("unsigned webhook sent a signature %q", h.Get("X-Cordon-Signature"))
	}
}

// Without the engine's summary, the webhook sends what the request knows.
func TestWebhookSummaryFromRequest(t *testing.T) {
	srv := newHookServer(t, hookStep{status: 200})
	w := newWebhook(t, srv.URL, nil)
	if _, _, err := w.Apply(bg, &Env{HTTP: srv.Client()}, instanceRequest(web1), nil); err != nil {
		t.Fatal(err)
	}
	var s IncidentSummary
	if err := json.Unmarshal(srv.requests()[0].body, &s); err != nil {
		t.Fatal(err)
	}
	if s.IncidentID != "inc-0123456789abcdef" || s.Finding.Type != "Backdoor:EC2/C&CActivity.B!DNS" || s.Finding.Account != prodAccount {
		t.Errorf("summary %+v", s)
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name     string
		steps    []hookStep
		attempts int
		errHas   string
	}{
		{"503 then success", []hookStep{{status: 503}, {status: 200}}, 2, ""},
		{"timeout then success", []hookStep{{hang: true}, {status: 200}}, 2, ""},
		{"400 is final", []hookStep{{status: 400, body: "bad request: " + hookPath}, {status: 200}}, 1, "HTTP 400 Bad Request"},
		{"always 503", []hookStep{{status: 503}}, 4, "HTTP 503 Service Unavailable (after 4 attempts)"},
		{"always timing out", []hookStep{{hang: true}}, 4, "no response within 50ms (after 4 attempts)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHookServer(t, tc.steps...)
			w := newWebhook(t, srv.URL+hookPath+"?"+hookQuery, map[string]cty.Value{
				"headers": cty.MapVal(map[string]cty.Value{"X-Api-Key": cty.StringVal(hookHeader)}),
				"secret":  cty.StringVal(hookSecret),
			})
			var debug bytes.Buffer
			after, changed, err := w.Apply(bg, &Env{HTTP: srv.Client(), Debug: &debug, Incident: testIncident()}, instanceRequest(web1), nil)
			reqs := srv.requests()
			if len(reqs) != tc.attempts {
				t.Errorf("%d attempts, want %d", len(reqs), tc.attempts)
			}
			for _, r := range reqs[1:] {
				if r.header.Get("X-Cordon-Delivery") != reqs[0].header.Get("X-Cordon-Delivery") {
					t.Error("a retry has another delivery id")
				}
			}
			if tc.errHas == "" {
				if err != nil || !changed || after["status"] != 200 {
					t.Errorf("Apply = %v, %v, %v", after, changed, err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || changed {
					t.Fatalf("Apply: changed=%v err=%v; want an error saying %q", changed, err, tc.errHas)
				}
				if !strings.HasPrefix(err.Error(), "posting to "+srv.URL+"/…: ") {
					t.Errorf("error %q does not name the redacted URL", err)
				}
				checkNoSecrets(t, err.Error())
			}
			checkNoSecrets(t, debug.String())
		})
	}
}

// checkNoSecrets fails when s shows any part of the webhook's credentials.
func checkNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{"SECRETPATH", "querysecret", "header-secret", hookSecret} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows a secret (%s)", s, secret)
		}
	}
}

func TestWebhookConfig(t *testing.T) {
	tests := []struct {
		name    string
		attrs   map[string]cty.Value
		attr    string // the attribute the error is about; "" for valid
		summary string
	}{
		{"valid", map[string]cty.Value{"url": cty.StringVal("https://hooks.example.com/x"), "timeout": cty.StringVal("3s")}, "", ""},
		{"relative url", map[string]cty.Value{"url": cty.StringVal("/hook")}, "url", "Invalid URL"},
		{"ftp url", map[string]cty.Value{"url": cty.StringVal("ftp://example.com/hook")}, "url", "Invalid URL"},
		{"zero timeout", map[string]cty.Value{"url": cty.StringVal("https://h.example.com"), "timeout": cty.StringVal("0s")}, "timeout", "Invalid duration"},
		{"bad timeout", map[string]cty.Value{"url": cty.StringVal("https://h.example.com"), "timeout": cty.StringVal("soon")}, "timeout", "Invalid duration"},
		{"reserved header", map[string]cty.Value{"url": cty.StringVal("https://h.example.com"),
			"headers": cty.MapVal(map[string]cty.Value{"Content-Type": cty.StringVal("text/plain")})}, "headers", "Reserved header"},
		{"header injection", map[string]cty.Value{"url": cty.StringVal("https://h.example.com"),
			"headers": cty.MapVal(map[string]cty.Value{"X-Token": cty.StringVal("a\nB: c")})}, "headers", "Invalid header value"},
	}
	def, _ := Lookup("webhook")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]cty.Value{
				"url": cty.NullVal(cty.String), "headers": cty.NullVal(cty.Map(cty.String)),
				"secret": cty.NullVal(cty.String), "timeout": cty.NullVal(cty.String),
			}
			for k, v := range tc.attrs {
				vals[k] = v
			}
			a, err := def.New(cty.ObjectVal(vals))
			var ae *AttributeError
			switch {
			case tc.attr == "":
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if w := a.(webhook); w.retry.timeout.String() != "3s" || w.retry.attempts != 4 {
					t.Errorf("delivery %+v", w.retry)
				}
			case !errors.As(err, &ae) || ae.Attribute != tc.attr || ae.Summary != tc.summary:
				t.Errorf("New: %v, want %s: %s", err, tc.attr, tc.summary)
			}
		})
	}
}

func TestDeliveryKey(t *testing.T) {
	const (
		inc  = "inc-0123456789abcdef"
		addr = `action.notify["i-0a1b2c3d4e5f60101"]`
		upd  = "2025-03-14T09:58:03.559Z"
	)
	key := DeliveryKey("apply", inc, addr, upd)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(key) {
		t.Fatalf("key %q is not 32 hex digits", key)
	}
	if again := DeliveryKey("apply", inc, addr, upd); again != key {
		t.Errorf("the same notification has keys %s and %s", key, again)
	}
	// Each part makes another notification; so does moving a boundary
	// between two parts.
	for name, other := range map[string]string{
		"kind":             DeliveryKey("approval", inc, addr, upd),
		"incident":         DeliveryKey("apply", "inc-0123456789abcdee", addr, upd),
		"address":          DeliveryKey("apply", inc, `action.page["i-0a1b2c3d4e5f60101"]`, upd),
		"a recurrence":     DeliveryKey("apply", inc, addr, "2025-03-14T10:58:03.559Z"),
		"no update":        DeliveryKey("apply", inc, addr, ""),
		"a moved boundary": DeliveryKey("apply", inc+addr[:6], addr[6:], upd),
	} {
		if other == key {
			t.Errorf("another %s, the same key %s", name, key)
		}
	}
}

// The engine's delivery key is the X-Cordon-Delivery of every retry and of
// every later send of the notification; without one, each notification
// gets a random key of its own.
func TestWebhookDeliveryHeader(t *testing.T) {
	srv := newHookServer(t, hookStep{status: 503}, hookStep{status: 200})
	w := newWebhook(t, srv.URL, nil)
	key := DeliveryKey("apply", "inc-0123456789abcdef", `action.notify["i-0a1b2c3d4e5f60101"]`, "2025-03-14T09:58:03.559Z")
	env := &Env{HTTP: srv.Client(), Incident: testIncident(), Delivery: key}
	for range 2 { // a retried POST, then the notification sent again
		if _, _, err := w.Apply(bg, env, instanceRequest(web1), nil); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (a retry, then the notification again)", len(reqs))
	}
	for i, r := range reqs {
		if got := r.header.Get("X-Cordon-Delivery"); got != key {
			t.Errorf("request %d: X-Cordon-Delivery %q, want the engine's %q", i, got, key)
		}
	}

	random := newHookServer(t, hookStep{status: 200})
	w = newWebhook(t, random.URL, nil)
	for range 2 {
		if _, _, err := w.Apply(bg, &Env{HTTP: random.Client(), Incident: testIncident()}, instanceRequest(web1), nil); err != nil {
			t.Fatal(err)
		}
	}
	reqs = random.requests()
	a, b := reqs[0].header.Get("X-Cordon-Delivery"), reqs[1].header.Get("X-Cordon-Delivery")
	if a == b || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a) || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(b) {
		t.Errorf("notifications without a key got %q and %q; want distinct random keys", a, b)
	}
}
