package serve_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
)

// pendingPlan waits for one plan to be pending and returns it.
func (h *harness) pendingPlan() state.PlanRecord {
	h.t.Helper()
	var out state.PlanRecord
	h.waitFor("a pending plan", func() bool {
		p, _ := h.store.Plans(context.Background(), state.PlanFilter{Status: []state.PlanStatus{state.PlanPending}})
		if len(p) == 1 {
			out = p[0]
			return true
		}
		return false
	})
	return out
}

func (h *harness) planStatus(id string) state.PlanStatus {
	p, err := h.store.Plan(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Status
}

func TestManualApprovalWaitsThenApplies(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"approval": cty.StringVal("manual")})
	h.start()
	h.post(finding(t, web1Finding, nil))
	p := h.pendingPlan()
	if !strings.Contains(p.Reason, "rule respond requires manual approval") || p.ExpiresAt == nil {
		t.Fatalf("pending plan %+v", p)
	}
	h.idle()
	if h.isolated(web1) || h.calls("ModifyNetworkInterfaceAttribute") != 0 {
		t.Fatal("a plan waiting for approval changed the instance")
	}
	// The rule's webhook asked for the approval, with the command.
	h.waitFor("the approval request", func() bool { return len(h.hookBodies()) == 1 })
	req := h.hookBodies()[0]["approval"].(map[string]any)
	if req["plan_id"] != p.ID || !strings.Contains(req["approve"].(string), "cordon approve "+p.ID) {
		t.Errorf("approval request %v", req)
	}
	if m := h.metric("cordon_plans_pending"); m != "1" {
		t.Errorf("cordon_plans_pending = %q, want 1", m)
	}

	// The approver reviews the plan through the API.
	code, body := h.request("GET", "/v1/plans/"+p.ID, "", testToken, nil)
	var view struct {
		Plan    state.PlanRecord `json:"plan"`
		Content struct {
			Incidents []struct {
				Actions []struct {
					Address string `json:"address"`
				} `json:"actions"`
			} `json:"incidents"`
		} `json:"content"`
	}
	if code != 200 || json.Unmarshal(body, &view) != nil || len(view.Content.Incidents) != 1 || len(view.Content.Incidents[0].Actions) != 4 {
		t.Fatalf("GET plan: %d %s", code, body)
	}
	code, body = h.request("GET", "/v1/plans?status=pending", "", testToken, nil)
	if code != 200 || !strings.Contains(string(body), p.ID) {
		t.Fatalf("GET plans: %d %s", code, body)
	}
	code, body = h.request("POST", "/v1/plans/"+p.ID+"/approve", "application/json", testToken, []byte(`{}`))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "approver") {
		t.Errorf("approve without an approver: %d %s", code, body)
	}
	code, body = h.request("POST", "/v1/plans/"+p.ID+"/approve", "application/json", testToken, []byte(`{"approver": "alice", "note": "triage confirms the miner"}`))
	if code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	h.waitFor("web-1 isolated and stopped", func() bool { return h.isolated(web1) && h.instance(web1).State == "stopped" })
	h.idle()
	if s := h.planStatus(p.ID); s != state.PlanApplied {
		t.Errorf("plan status %s, want applied", s)
	}
	code, body = h.request("POST", "/v1/plans/"+p.ID+"/reject", "application/json", testToken, []byte(`{"approver": "mallory"}`))
	if code != http.StatusConflict {
		t.Errorf("reject after approval: %d %s", code, body)
	}
	d, _ := h.store.Incident(context.Background(), p.IncidentID)
	kinds := map[string]bool{}
	for _, ev := range d.Events {
		kinds[ev.Kind] = true
	}
	if !kinds[state.EventHeld] || !kinds[state.EventApproved] {
		t.Errorf("timeline events %+v, want held and approved", d.Events)
	}
}

func TestRejectedPlanNeverApplies(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"approval": cty.StringVal("manual")})
	h.start()
	h.post(finding(t, web1Finding, nil))
	p := h.pendingPlan()
	// cordon reject works on state, as the CLI does, while the daemon runs.
	if _, err := serve.DecidePlan(context.Background(), h.store, p.ID, state.PlanDecision{Status: state.PlanRejected, By: "bob"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several scans
	h.idle()
	if s := h.planStatus(p.ID); s != state.PlanRejected {
		t.Errorf("plan status %s, want rejected", s)
	}
	if h.isolated(web1) || h.calls("StopInstances") != 0 {
		t.Error("a rejected plan was applied")
	}
}

// Approved from another process (cordon approve writes state only): the
// daemon finds it on its next scan.
func TestApprovalThroughStateIsApplied(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"approval": cty.StringVal("manual")})
	h.start()
	h.post(finding(t, web1Finding, nil))
	p := h.pendingPlan()
	if _, err := serve.DecidePlan(context.Background(), h.store, p.ID, state.PlanDecision{Status: state.PlanApproved, By: "carol"}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
}

func TestPlanExpiresAndNeverApplies(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"approval": cty.StringVal("manual"), "approval_timeout": cty.StringVal("300ms")})
	h.start()
	h.post(finding(t, web1Finding, nil))
	p := h.pendingPlan()
	h.waitFor("the plan to expire", func() bool { return h.planStatus(p.ID) == state.PlanExpired })
	code, body := h.request("POST", "/v1/plans/"+p.ID+"/approve", "application/json", testToken, []byte(`{"approver": "late"}`))
	if code != http.StatusConflict || !strings.Contains(string(body), "expired") {
		t.Errorf("approve after expiry: %d %s", code, body)
	}
	time.Sleep(200 * time.Millisecond)
	if h.isolated(web1) || h.calls("StopInstances") != 0 {
		t.Error("an expired plan was applied")
	}
	if m := h.metric("cordon_plans_pending"); m != "0" {
		t.Errorf("cordon_plans_pending = %q, want 0", m)
	}
}

// An approval that arrives after expiry is refused even before the
// expiry loop has run.
func TestLateApprovalExpires(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"approval": cty.StringVal("manual"), "approval_timeout": cty.StringVal("100ms")})
	h.start(func(o *serve.Options) { o.ExpireInterval = time.Hour })
	h.post(finding(t, web1Finding, nil))
	p := h.pendingPlan()
	time.Sleep(150 * time.Millisecond)
	_, err := serve.DecidePlan(context.Background(), h.store, p.ID, state.PlanDecision{Status: state.PlanApproved, By: "late"})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("late approval: %v", err)
	}
	if s := h.planStatus(p.ID); s != state.PlanExpired {
		t.Errorf("plan status %s, want expired", s)
	}
}

func TestCircuitBreakerHoldsEveryPlan(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"breaker_max": cty.NumberIntVal(2)})
	h.start()
	h.post(finding(t, web1Finding, nil))
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()
	// web-1's plan applied 3 changing actions: the breaker is open.
	h.post(finding(t, bastionFind, nil))
	p := h.pendingPlan()
	if !strings.Contains(p.Reason, "circuit breaker is open") {
		t.Errorf("reason %q", p.Reason)
	}
	if h.instance(bastion).State == "stopped" {
		t.Error("the bastion was stopped with the breaker open")
	}
	if m := h.metric("cordon_circuit_open"); m != "1" {
		t.Errorf("cordon_circuit_open = %q, want 1", m)
	}
}

// A target acted on in the last hour is not acted on again by another
// finding's plan without approval.
func TestRecentlyActedTargetNeedsApproval(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	h.post(finding(t, web1Finding, nil))
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()
	// Another finding (another incident) about the same instance.
	h.post(finding(t, web1Finding, renamed("c0ffee00c0ffee00c0ffee00c0ffee00")))
	p := h.pendingPlan()
	if !strings.Contains(p.Reason, "aws_instance "+web1+" was acted on within the last hour by incident") {
		t.Errorf("reason %q", p.Reason)
	}
}

// max_actions_per_hour is counted from state: the budget survives a
// restart, and what is past it is withheld and says why.
func TestRateLimitHoldsAcrossRestarts(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"max_per_hour": cty.NumberIntVal(4)})
	h.start()
	// web-1: tag, isolate, stop: 3 of the 4.
	h.post(finding(t, web1Finding, nil))
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()
	h.stop()

	h.start()
	// The bastion: its tag is the 4th; isolate and stop are withheld.
	got := h.post(finding(t, bastionFind, nil))
	h.idle()
	inst := h.instance(bastion)
	if inst.State == "stopped" || h.isolated(bastion) {
		t.Fatalf("the bastion was acted on past the limit: state %s", inst.State)
	}
	d, err := h.store.Incident(context.Background(), got.Deliveries[0].IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	// The plan withholds isolate and stop (the budget counted from state
	// leaves one action: the tag), and the timeline says why.
	withheld := map[string]bool{}
	for _, ev := range d.Events {
		if ev.Kind == state.EventWithheld {
			withheld[strings.SplitN(ev.Summary, " ", 2)[0]] = true
		}
	}
	if !withheld[`action.isolate["`+bastion+`"]`] || !withheld[`action.stop["`+bastion+`"]`] || len(withheld) != 2 {
		t.Errorf("withheld on the timeline: %v, want isolate and stop: %+v", withheld, d.Events)
	}
	for _, a := range d.Actions {
		if a.Action == "isolate" || a.Action == "stop" {
			t.Errorf("a withheld action was recorded as applied: %+v", a)
		}
	}
	if !strings.Contains(h.logs.String(), `msg="action withheld"`) {
		t.Errorf("the log does not say why:\n%s", h.logs.String())
	}
}
