package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEmulatorGuideForASeed: with a seed of its own, cordon emulator
// names the seed's first access key, a role another account lets that
// key's account assume, the seed's region and its instances, and no
// triage evidence of the demo's.
func TestEmulatorGuideForASeed(t *testing.T) {
	seed := `{
  "accounts": [
    {"id": "444455556666", "users": [{"name": "responder", "path": "/ir/", "access_keys": [{"id": "AKIAEMURESPONDER0001"}]}], "regions": {}},
    {"id": "111122223333",
     "users": [{"name": "alice", "access_keys": [{"id": "AKIAEMUALICE00000001"}]}],
     "roles": [{"name": "web-role"}, {"name": "ir-role", "path": "/automation/", "trust": ["arn:aws:iam::444455556666:user/ir/responder"]}],
     "regions": {"eu-west-1": {
       "vpcs": [{"id": "vpc-0a1b2c3d4e5f60001", "cidr": "10.0.0.0/16"}],
       "subnets": [{"id": "subnet-0a1b2c3d4e5f60011", "vpc": "vpc-0a1b2c3d4e5f60001", "availability_zone": "eu-west-1a", "cidr": "10.0.1.0/24"}],
       "security_groups": [{"id": "sg-0a1b2c3d4e5f60021", "name": "api", "vpc": "vpc-0a1b2c3d4e5f60001"}],
       "instances": [{"id": "i-0a1b2c3d4e5f60031", "tags": {"Name": "api-1"},
                      "network_interfaces": [{"id": "eni-0a1b2c3d4e5f60041", "subnet": "subnet-0a1b2c3d4e5f60011", "groups": ["sg-0a1b2c3d4e5f60021"], "private_ip": "10.0.1.5"}]}]}}}
  ]
}`
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(path, []byte(seed), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runEmulatorUntilReady(t, "-seed", path)
	for _, want := range []string{
		"holding the seed's fleet, listening on http://127.0.0.1:",
		"user responder of account 444455556666",
		"export AWS_ACCESS_KEY_ID=AKIAEMURESPONDER0001 AWS_SECRET_ACCESS_KEY=not-checked AWS_REGION=eu-west-1",
		`assume_role_arn = "arn:aws:iam::{account}:role/automation/ir-role"`,
		"cordon assumes the role ir-role in each finding's account",
		"api-1        i-0a1b2c3d4e5f60031  111122223333 eu-west-1",
		"AKIAEMUALICE00000001  user alice, account 111122223333",
		"/webhook",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the guide lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "triage") || strings.Contains(out, "web-1") {
		t.Errorf("a seed of its own is not the demo fleet:\n%s", out)
	}
}

func TestEmulatorGuideEdges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// No access key: nothing can sign requests, and the guide says so
	// instead of printing credentials that do not exist.
	out := runEmulatorUntilReady(t, "-seed", write("empty.json", `{"accounts": [{"id": "111122223333", "regions": {}}]}`))
	if !strings.Contains(out, "The seed has no IAM user with an access key") || strings.Contains(out, "export AWS_ACCESS_KEY_ID") ||
		strings.Contains(out, "assume_role_arn") || !strings.Contains(out, "(no instances)") {
		t.Errorf("guide for a seed without keys:\n%s", out)
	}
	// A key and no role to assume: the provider block has the endpoint
	// alone.
	out = runEmulatorUntilReady(t, "-seed", write("norole.json", `{"accounts": [{"id": "111122223333",
		"users": [{"name": "bob", "access_keys": [{"id": "AKIAEMUBOB0000000001", "secret": "s3cret"}]}], "regions": {}}]}`))
	if !strings.Contains(out, "AWS_ACCESS_KEY_ID=AKIAEMUBOB0000000001 AWS_SECRET_ACCESS_KEY=s3cret AWS_REGION=us-east-1") ||
		strings.Contains(out, "assume_role_arn") || !regexp.MustCompile(`endpoint = "http://127\.0\.0\.1:\d+"`).MatchString(out) {
		t.Errorf("guide for a seed without a role:\n%s", out)
	}

	// Bad input is refused before anything listens.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-seed", write("bad.json", `{"accounts": [{"id": "12"}]}`)}, "Invalid seed"},
		{[]string{"-seed", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"-listen", "127.0.0.1:notaport"}, "Cannot listen"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := cordon(t, append([]string{"emulator"}, tt.args...)...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("emulator %v: exit %d, want 1 and %q:\n%s", tt.args, code, tt.want, errOut)
		}
	}
}

// runEmulatorUntilReady runs cordon emulator in-process on a free port
// until it has printed its guide, then stops it as Ctrl-C does, and
// returns what it printed.
func runEmulatorUntilReady(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"emulator", "-listen", "127.0.0.1:0"}, args...), strings.NewReader(""), &out, &errOut)
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case code := <-done:
			t.Fatalf("cordon emulator exited %d before it was ready:\n%s\n%s", code, out.String(), errOut.String())
		case <-deadline:
			t.Fatalf("cordon emulator not ready in 30s:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("cordon emulator stopped with %d:\n%s", code, errOut.String())
	}
	return out.String()
}

// TestEmulatorWebhook: the emulator answers a notification with 204 and
// prints one line, escaping what came from the finding; anything else
// is refused and says why.
func TestEmulatorWebhook(t *testing.T) {
	var printed syncBuffer
	srv := httptest.NewServer(webhookPrinter(&printed))
	defer srv.Close()
	for _, tt := range []struct {
		name, method, body string
		status             int
		printed            string
	}{
		{"notification", http.MethodPost,
			`{"incident_id": "inc-fa6dd59559fea244", "finding": {"type": "CryptoCurrency:EC2/BitcoinTool.B!DNS"}, "verdicts": [{"verdict": "malicious"}], "actions": [{}, {}]}`,
			http.StatusNoContent, "webhook: incident inc-fa6dd59559fea244, CryptoCurrency:EC2/BitcoinTool.B!DNS (malicious), 2 actions reported\n"},
		{"hostile text", http.MethodPost,
			`{"incident_id": "inc-1", "finding": {"type": "Evil\u001b[2J\nforged line"}, "actions": []}`,
			http.StatusNoContent, "webhook: incident inc-1, "},
		{"not JSON", http.MethodPost, `incident`, http.StatusBadRequest, "webhook: a notification that is not JSON"},
		{"GET", http.MethodGet, ``, http.StatusMethodNotAllowed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(printed.String())
			req, _ := http.NewRequest(tt.method, srv.URL+webhookPath, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := printed.String()[before:]
			if resp.StatusCode != tt.status || !strings.HasPrefix(got, tt.printed) || (tt.printed == "" && got != "") {
				t.Errorf("status %d, printed %q; want %d and %q", resp.StatusCode, got, tt.status, tt.printed)
			}
			if strings.Contains(got, "\x1b") || strings.Count(got, "\n") > 1 {
				t.Errorf("printed the finding's text raw: %q", got)
			}
		})
	}
}
