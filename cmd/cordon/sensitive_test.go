package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSensitiveVariableNeverWritten follows a sensitive webhook URL, a
// token in its path, through plan, show, apply and state: it is POSTed to,
// and written, printed or logged nowhere. Apply of a saved plan takes it
// from CORDON_VAR_webhook_url again, and refuses clearly when it is no
// longer set.
func TestSensitiveVariableNeverWritten(t *testing.T) {
	const token = "T0K3N-hooks-s3cr3t"
	dir, _ := emulatedConfig(t)
	cfgPath := filepath.Join(dir, "cordon.hcl")
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte(`default = "https://hooks.example.com/cordon"`),
		[]byte(`default = "https://hooks.example.com/cordon"`+"\n  sensitive = true"), 1)
	if err := os.WriteFile(cfgPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		posts []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		posts = append(posts, r.URL.Path)
	}))
	t.Cleanup(hook.Close)
	t.Setenv("CORDON_VAR_webhook_url", hook.URL+"/hooks/"+token)

	// Everything cordon shows: the plan, human and JSON, with -debug.
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	var shown []string
	check := func(what string, outs ...string) {
		t.Helper()
		for _, out := range outs {
			if strings.Contains(out, token) {
				t.Errorf("%s shows the sensitive value:\n%s", what, out)
			}
			shown = append(shown, out)
		}
	}
	code, out, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-no-color", "-debug", "-out", planFile)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	check("plan", out, errOut)
	if !strings.Contains(out, `post     = "(sensitive value)"`) {
		t.Errorf("the plan does not show the URL as (sensitive value):\n%s", out)
	}
	code, out, errOut = cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-json")
	if code != 0 || !strings.Contains(out, `"post": "(sensitive value)"`) {
		t.Errorf("plan -json: exit %d\n%s\n%s", code, out, errOut)
	}
	check("plan -json", out, errOut)
	for _, args := range [][]string{{"show", planFile}, {"show", "-json", planFile}} {
		code, out, errOut = cordon(t, args...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", args, code, errOut)
		}
		check(strings.Join(args[:len(args)-1], " "), out, errOut)
	}
	code, out, errOut = cordon(t, "validate", "-config", dir, "-json")
	check("validate -json", out, errOut)

	// The plan file, uncompressed.
	data, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	check("the plan file", string(body))
	if !bytes.Contains(body, []byte(`"webhook_url":"(sensitive value)"`)) {
		t.Errorf("the plan file does not record that webhook_url was given: %.300s", body)
	}

	// Apply without the value: refused, nothing posted, nothing changed.
	t.Setenv("CORDON_VAR_webhook_url", "")
	os.Unsetenv("CORDON_VAR_webhook_url")
	code, out, errOut = cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 1 || !strings.Contains(errOut, `"webhook_url"`) || !strings.Contains(errOut, "was set when the plan was made but is not now") {
		t.Errorf("apply without CORDON_VAR_webhook_url: exit %d\n%s\n%s", code, out, errOut)
	}
	if len(posts) != 0 {
		t.Errorf("a refused apply posted %v", posts)
	}

	// Apply with it: the URL is taken from the environment again.
	t.Setenv("CORDON_VAR_webhook_url", hook.URL+"/hooks/"+token)
	code, out, errOut = cordon(t, "apply", "-config", dir, "-no-color", "-debug", planFile)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	check("apply", out, errOut)
	mu.Lock()
	if len(posts) != 1 || posts[0] != "/hooks/"+token {
		t.Errorf("the webhook got %v, want one POST to /hooks/%s", posts, token)
	}
	mu.Unlock()

	// State, every byte of it, and what cordon shows of it.
	code, out, errOut = cordon(t, "state", "list", "-config", dir, "-json")
	check("state list", out, errOut)
	var incident string
	if i := strings.Index(out, `"inc-`); i >= 0 {
		incident = out[i+1 : i+1+len("inc-")+16]
	}
	for _, args := range [][]string{{"state", "show", "-config", dir, incident}, {"state", "show", "-config", dir, "-json", incident},
		{"report", "-config", dir, incident}, {"report", "-config", dir, "-format", "json", incident}} {
		code, out, errOut = cordon(t, args...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", args, code, errOut)
		}
		check(strings.Join(args, " "), out, errOut)
	}
	entries, err := os.ReadDir(filepath.Join(dir, ".cordon"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, ".cordon", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		check("state file "+e.Name(), string(b))
	}
	if all := strings.Join(shown, "\n"); !strings.Contains(all, "(sensitive value)") || !strings.Contains(all, incident) {
		t.Error("the checks saw nothing: the commands printed neither the placeholder nor the incident")
	}
}
