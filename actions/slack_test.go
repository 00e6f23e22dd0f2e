package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

const slackPath = "/services/T0SECRETPATH/B0SECRETPATH/XXXXsecretXXXX"

// newSlack is a configured slack action to url that retries without
// waiting.
func newSlack(t *testing.T, url, channel string) slack {
	t.Helper()
	attrs := map[string]cty.Value{"url": cty.StringVal(url)}
	if channel != "" {
		attrs["channel"] = cty.StringVal(channel)
	}
	s := newExecutor(t, "slack", attrs).(slack)
	s.retry = fastDelivery
	return s
}

func TestSlackPost(t *testing.T) {
	srv := newHookServer(t, hookStep{status: 200, body: "ok"})
	s := newSlack(t, srv.URL+slackPath, "#incidents")
	var debug bytes.Buffer
	env := &Env{HTTP: srv.Client(), Debug: &debug, Incident: testIncident()}
	req := instanceRequest(web1)
	after, changed, err := s.Apply(bg, env, req, nil)
	if err != nil || !changed {
		t.Fatalf("Apply: changed=%v err=%v", changed, err)
	}
	want := map[string]any{"post": srv.URL + "/…", "incident": req.IncidentID, "channel": "#incidents", "status": 200}
	if !reflect.DeepEqual(after, want) {
		t.Errorf("after = %v, want %v", after, want)
	}
	got := srv.requests()[0]
	if got.path != slackPath || got.header.Get("Content-Type") != "application/json" || got.header.Get("User-Agent") != "cordon/"+Version {
		t.Errorf("request %s %v", got.path, got.header)
	}
	var msg map[string]any
	if err := json.Unmarshal(got.body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg["channel"] != "#incidents" || msg["unfurl_links"] != false || msg["text"] != slackText(testIncident()) {
		t.Errorf("message %s", got.body)
	}
	checkNoSecrets(t, debug.String())
	if live, err := s.Read(bg, env, req); err != nil || len(live) != 0 {
		t.Errorf("Read = %v, %v", live, err)
	}
}

func TestSlackErrors(t *testing.T) {
	tests := []struct {
		name     string
		steps    []hookStep
		attempts int
		errHas   string
	}{
		{"503 then success", []hookStep{{status: 503}, {status: 200, body: "ok"}}, 2, ""},
		{"rate limited then success", []hookStep{{status: 429, header: map[string]string{"Retry-After": "0"}}, {status: 200, body: "ok"}}, 2, ""},
		{"timeout then success", []hookStep{{hang: true}, {status: 200, body: "ok"}}, 2, ""},
		{"Slack's error code is shown", []hookStep{{status: 404, body: "channel_not_found"}}, 1, "HTTP 404 Not Found: channel_not_found"},
		{"a body echoing the request is not", []hookStep{{status: 400, body: "invalid url " + slackPath}}, 1, "HTTP 400 Bad Request"},
		{"always 500", []hookStep{{status: 500, body: "rollup_error"}}, 4, "HTTP 500 Internal Server Error: rollup_error (after 4 attempts)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHookServer(t, tc.steps...)
			s := newSlack(t, srv.URL+slackPath, "")
			var debug bytes.Buffer
			_, _, err := s.Apply(bg, &Env{HTTP: srv.Client(), Debug: &debug, Incident: testIncident()}, instanceRequest(web1), nil)
			if n := len(srv.requests()); n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
			if tc.errHas == "" && err != nil {
				t.Errorf("error %v", err)
			}
			if tc.errHas != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want one ending %q", err, tc.errHas)
				}
				checkNoSecrets(t, err.Error())
			}
			checkNoSecrets(t, debug.String())
		})
	}
}

func TestSlackText(t *testing.T) {
	many := testIncident()
	many.Actions = nil
	for i := range 23 {
		many.Actions = append(many.Actions, ActionOutcome{Address: fmt.Sprintf("action.tag[%d]", i), Result: "applied"})
	}
	hostile := &IncidentSummary{
		IncidentID: "inc-1",
		Finding:    FindingBrief{Type: "Policy:S3/`evil`<!channel>", Severity: "low", Resource: Target{Type: "aws_s3_bucket", ID: "b&b"}},
		Summary:    "see <https://evil.example|here> " + strings.Repeat("é", 200),
		Actions:    []ActionOutcome{{Address: "action.x", Result: "failed", Error: strings.Repeat("x", 400)}},
	}
	tests := []struct {
		name string
		in   *IncidentSummary
		want []string // lines, or line prefixes ending in "…"
	}{
		{"incident", testIncident(), []string{
			":rotating_light: *cordon* incident `inc-0123456789abcdef`: *malicious* (ec2_compromise, confidence 0.90)",
			"Finding `Backdoor:EC2/C&amp;CActivity.B!DNS` (high) on `aws_instance` `i-0a1b2c3d4e5f60101` in 111122223333 us-east-1",
			"Command and Control server domain name queried by EC2 instance i-0a1b2c3d4e5f60101.",
			"Actions:",
			"• `action.isolate[\"i-0a1b2c3d4e5f60101\"]`: applied",
			"• `action.stop[\"i-0a1b2c3d4e5f60101\"]`: failed: stopping i-0a1b2c3d4e5f60101: UnauthorizedOperation",
		}},
		{"many actions", many, append(append([]string{
			":rotating_light: *cordon* incident `inc-0123456789abcdef`: *malicious* (ec2_compromise, confidence 0.90)",
			"Finding `Backdoor:EC2/C&amp;CActivity.B!DNS` (high) on `aws_instance` `i-0a1b2c3d4e5f60101` in 111122223333 us-east-1",
			"Command and Control server domain name queried by EC2 instance i-0a1b2c3d4e5f60101.",
			"Actions:",
		}, func() []string {
			var l []string
			for i := range 20 {
				l = append(l, fmt.Sprintf("• `action.tag[%d]`: applied", i))
			}
			return l
		}()...), "… and 3 more")},
		{"hostile text is escaped and clipped", hostile, []string{
			":rotating_light: *cordon* incident `inc-1`: no verdict",
			"Finding `Policy:S3/'evil'&lt;!channel&gt;` (low) on `aws_s3_bucket` `b&amp;b`",
			"see &lt;https://evil.example|here&gt; éé…",
			"Actions:",
			"• `action.x`: failed: xxxx…",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Split(slackText(tc.in), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				prefix, clipped := strings.CutSuffix(w, "…")
				if clipped && strings.HasSuffix(got[i], "…") && strings.HasPrefix(got[i], prefix) {
					continue
				}
				if got[i] != w {
					t.Errorf("line %d:\n got %q\nwant %q", i, got[i], w)
				}
			}
		})
	}
	if s := slackText(hostile); len(s) > 1000 || !strings.Contains(s, "xxx…") {
		t.Errorf("long error not clipped: %d bytes", len(s))
	}
}

func TestClipText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"abcdef", 3, "abc…"},
		{"ééé", 3, "é…"}, // é is 2 bytes: never cut inside a rune
		{"ééé", 4, "éé…"},
	}
	for _, tc := range tests {
		if got := clipText(tc.in, tc.n); got != tc.want {
			t.Errorf("clipText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
