package serve_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
)

// copyDir copies a configuration directory (one level of subdirectories).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// A reload with a Rego syntax error keeps the old policies serving; once
// fixed, the new ones serve. Both show in /metrics.
func TestReloadKeepsOldConfigurationOnError(t *testing.T) {
	h := newHarness(t, nil)
	dir := copyDir(t, "testdata/daemon")
	h.start(func(o *serve.Options) { o.Engine.Dir = dir })
	verdict := filepath.Join(dir, "policies", "verdict.rego")
	good, err := os.ReadFile(verdict)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(verdict, []byte("package cordon.verdict\n\nverdict := \"malicious\" if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := h.request("POST", "/v1/reload", "application/json", testToken, nil)
	if code != 422 || !strings.Contains(string(body), "reload_failed") || !strings.Contains(string(body), "verdict.rego") {
		t.Fatalf("reload of a broken policy: %d %s", code, body)
	}
	// The old policies still serve.
	h.post(finding(t, web1Finding, nil))
	h.waitFor("web-1 stopped under the old policies", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()

	// Fixed: a verdict of benign now, so nothing happens to the bastion.
	fixed := strings.Replace(string(good), `verdict := "malicious"`, `verdict := "benign"`, 1)
	if fixed == string(good) {
		t.Fatal("the test policy changed; update the test")
	}
	os.WriteFile(verdict, []byte(fixed), 0o600)
	os.WriteFile(filepath.Join(dir, "policies", "response.rego"), []byte("package cordon.response\n\nactions := []\n"), 0o600)
	if code, body := h.request("POST", "/v1/reload", "application/json", testToken, nil); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	got := h.post(finding(t, bastionFind, nil))
	h.idle()
	d, err := h.store.Incident(context.Background(), got.Deliveries[0].IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Incident.Verdicts[0].Verdict != "benign" || h.instance(bastion).State == "stopped" {
		t.Errorf("after the fixed reload: verdict %s, bastion %s", d.Incident.Verdicts[0].Verdict, h.instance(bastion).State)
	}
	_, metrics := h.request("GET", "/metrics", "", "", nil)
	for _, want := range []string{`cordon_policy_reloads_total{result="error"} 1`, `cordon_policy_reloads_total{result="ok"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// SIGTERM (a cancelled context) mid-apply: the daemon stops within its
// timeout, and the next start finishes the work without repeating any of
// it.
func TestShutdownMidApplyResumesAtRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.emu.Faults().Latency("ec2:StopInstances", 2*time.Second)
	h.start(func(o *serve.Options) { o.ShutdownTimeout = 300 * time.Millisecond })
	h.post(finding(t, web1Finding, nil))
	h.waitFor("web-1 isolated", func() bool { return h.isolated(web1) })
	start := time.Now()
	h.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if !strings.Contains(h.logs.String(), "shutdown timeout: cancelled in-flight work") {
		t.Errorf("the log does not say the work was cancelled:\n%s", h.logs.String())
	}
	isolations := h.calls("ModifyNetworkInterfaceAttribute")

	h.emu.Faults().Clear()
	h.start()
	h.waitFor("web-1 stopped after the restart", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()
	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != isolations {
		t.Errorf("the isolation was repeated: %d calls, was %d", n, isolations)
	}
	plans, _ := h.store.Plans(context.Background(), state.PlanFilter{})
	if len(plans) != 1 || plans[0].Status != state.PlanApplied {
		t.Errorf("plans %+v, want one applied", plans)
	}
	list, _ := h.store.Incidents(context.Background(), state.IncidentFilter{})
	if len(list) != 1 || list[0].Status != state.StatusResponded {
		t.Errorf("incidents %+v", list)
	}
}

// While draining, the API refuses findings with 503 and readiness fails.
func TestDrainingRefusesFindings(t *testing.T) {
	h := newHarness(t, nil)
	h.emu.Faults().Latency("ec2:StopInstances", time.Second)
	h.start(func(o *serve.Options) { o.ShutdownTimeout = 5 * time.Second })
	if code, body := h.request("GET", "/readyz", "", "", nil); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	h.post(finding(t, web1Finding, nil))
	h.waitFor("web-1 isolated", func() bool { return h.isolated(web1) })
	h.cancel()
	// The in-flight stop holds the daemon for a second: meanwhile the
	// sink refuses new work.
	time.Sleep(100 * time.Millisecond)
	_, err := h.d.Sink().Accept(context.Background(), sourcesBatch(finding(t, bastionFind, nil)))
	if err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("accept while draining: %v", err)
	}
	if hl := h.d.Health(context.Background()); hl.Ready || hl.Checks["draining"].Status == "" {
		t.Errorf("health while draining: %+v", hl)
	}
	h.cancel = func() {}
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.cancel = nil
	if h.instance(web1).State != "stopped" {
		t.Error("the in-flight stop did not finish within the timeout")
	}
}

// A second daemon on the same SQLite state is refused.
func TestSecondDaemonOnOneStateIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	d, _, err := serve.New(context.Background(), serve.Options{
		Engine: engine.Options{Dir: "testdata/daemon", Values: h.vars}, Listen: "127.0.0.1:0", Token: testToken,
		Store: h.store, AWS: h.aws,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another cordon serve is running on this state") {
		t.Fatalf("second daemon: %v", err)
	}
}
