package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// The apply tests run the real engine, the real action types and the real
// SDK clients against the emulator loaded with the demo fleet, with state
// in a temporary SQLite file.

const (
	web1         = "i-0a1b2c3d4e5f67890"
	web1ENI      = "eni-0d4c3b2a190817263"
	bastion      = "i-0b7c6d5e4f3a21098"
	bastionENI   = "eni-0e1d2c3b4a5968776"
	isolationSG  = "sg-0e1f2a3b4c5d6e7f8"
	web1Findings = "../policies/testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"
	bastionFind  = "../policies/testdata/findings/ec2_ssh_bruteforce_target.json"
)

type applyEnv struct {
	t      *testing.T
	emu    *awsemu.Emulator
	eng    *engine.Engine
	aws    *awsclient.Factory
	store  state.Store
	dbPath string
	debug  *syncBuffer

	mu    sync.Mutex
	hooks [][]byte // webhook bodies received
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of an apply.
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

func newApplyEnv(t *testing.T) *applyEnv {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	ae := &applyEnv{t: t, emu: awsemu.New(seed), debug: &syncBuffer{}}
	srv := httptest.NewServer(ae.emu)
	t.Cleanup(srv.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ae.mu.Lock()
		ae.hooks = append(ae.hooks, body)
		ae.mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/apply",
		Values: map[string]cty.Value{"webhook_url": cty.StringVal(hook.URL + "/cordon")}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ae.eng = e
	ae.aws, err = awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond, Debug: ae.debug,
	})
	if err != nil {
		t.Fatal(err)
	}
	ae.dbPath = filepath.Join(t.TempDir(), ".cordon", "state.db")
	st, err := state.OpenSQLite(ae.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ae.store = st
	return ae
}

// plan plans findings files as `cordon plan -out` would.
func (ae *applyEnv) plan(paths ...string) *plan.File {
	ae.t.Helper()
	files, diags := engine.ReadFindings(paths)
	if diags.HasErrors() {
		ae.t.Fatal(diags)
	}
	res, diags := ae.eng.Plan(context.Background(), files, engine.PlanOptions{KeepData: true})
	if diags.HasErrors() {
		ae.t.Fatal(diags)
	}
	f := res.File(ae.eng, time.Now().UTC().Format(time.RFC3339Nano))
	id, err := plan.ID(f)
	if err != nil {
		ae.t.Fatal(err)
	}
	f.ID = id
	return f
}

func (ae *applyEnv) options() engine.ApplyOptions {
	return engine.ApplyOptions{Store: ae.store, AWS: ae.aws, Owner: "test", ApproveManual: true, Debug: ae.debug}
}

func (ae *applyEnv) apply(f *plan.File) (*engine.ApplyResult, error) {
	return ae.eng.Apply(context.Background(), f, ae.options())
}

func (ae *applyEnv) region() *awsemu.Region {
	return ae.emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region]
}

func resultsByAddress(res *engine.ApplyResult, target string) map[string]state.Result {
	out := map[string]state.Result{}
	for _, a := range res.Actions {
		if a.Target.ID == target {
			out[a.Action] = a.Result
		}
	}
	return out
}

func TestApplyRespondsAndRecords(t *testing.T) {
	ae := newApplyEnv(t)
	f := ae.plan(web1Findings, bastionFind)
	if got := f.Plan.Summary.Actions; got != 12 {
		t.Fatalf("planned %d actions, want 12", got)
	}
	res, err := ae.apply(f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() || res.Summary.Applied != 12 {
		t.Fatalf("summary %s\n%+v", res.Summary, res.Actions)
	}
	r := ae.region()
	for _, id := range []string{web1, bastion} {
		inst := r.Instances[id]
		if inst.State != "stopped" || !inst.DisableAPITermination || inst.ShutdownBehavior != "stop" {
			t.Errorf("%s: state %s, termination protection %v, shutdown %s", id, inst.State, inst.DisableAPITermination, inst.ShutdownBehavior)
		}
		if !strings.HasPrefix(inst.Tags[actions.IncidentTagKey], "inc-") {
			t.Errorf("%s: tags %v", id, inst.Tags)
		}
		for _, eni := range inst.NetworkInterfaces {
			if g := r.NetworkInterfaces[eni].Groups; !slices.Equal(g, []string{isolationSG}) {
				t.Errorf("%s: %s groups %v", id, eni, g)
			}
		}
	}
	snaps := 0
	for _, s := range r.Snapshots {
		if strings.HasPrefix(s.Tags[actions.IncidentTagKey], "inc-") {
			snaps++
		}
	}
	if snaps != 3 { // web-1 has two volumes, the bastion one
		t.Errorf("%d incident snapshots, want 3", snaps)
	}
	ae.mu.Lock()
	hooks := len(ae.hooks)
	var payload actions.IncidentSummary
	json.Unmarshal(ae.hooks[0], &payload)
	ae.mu.Unlock()
	if hooks != 2 || payload.IncidentID == "" || len(payload.Actions) != 5 || payload.Verdicts[0].Verdict != "malicious" {
		t.Errorf("%d webhooks; first: %+v", hooks, payload)
	}

	list, err := ae.store.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Status != state.StatusResponded || list[0].Actions[state.ResultApplied] != 6 {
		t.Errorf("state: %+v", list)
	}
	d, err := ae.store.Incident(context.Background(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Actions {
		if a.Result != state.ResultApplied || a.FinishedAt == nil || (a.Type != "webhook" && a.Before == nil) || a.After == nil {
			t.Errorf("recorded action %+v", a)
		}
	}
}

func TestApplySamePlanTwiceIsRefused(t *testing.T) {
	ae := newApplyEnv(t)
	f := ae.plan(web1Findings)
	if _, err := ae.apply(f); err != nil {
		t.Fatal(err)
	}
	calls := len(ae.emu.Calls())
	if _, err := ae.apply(f); !errors.Is(err, engine.ErrAppliedPlan) {
		t.Fatalf("second apply: %v, want %v", err, engine.ErrAppliedPlan)
	}
	// Only the access check, which asks STS who cordon is, may call AWS.
	for _, c := range ae.emu.Calls()[calls:] {
		if a := c.Action(); a != "sts:GetCallerIdentity" && a != "sts:AssumeRole" {
			t.Errorf("a refused apply called %s", a)
		}
	}

	// The same response through a new plan changes nothing.
	res, err := ae.apply(ae.plan(web1Findings))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Actions {
		if a.Result != state.ResultNoChange {
			t.Errorf("%s: %s (%s), want no_change", a.Address, a.Result, a.Error)
		}
	}
	for _, c := range ae.emu.Calls()[calls:] {
		if !isReadOnly(c.Operation) {
			t.Errorf("re-applying the same response called %s", c.Action())
		}
	}
	ae.mu.Lock()
	n := len(ae.hooks)
	ae.mu.Unlock()
	if n != 1 {
		t.Errorf("the webhook was sent %d times, want once", n)
	}
}

func isReadOnly(op string) bool {
	for _, p := range []string{"Describe", "Get", "List", "AssumeRole"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

func TestApplyIsolationFailsForOneInstance(t *testing.T) {
	ae := newApplyEnv(t)
	ae.emu.Faults().Fail("ec2:ModifyNetworkInterfaceAttribute", web1ENI, "UnauthorizedOperation",
		"You are not authorized to perform this operation.")
	res, err := ae.apply(ae.plan(web1Findings, bastionFind))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() {
		t.Fatal("the apply did not fail")
	}
	got := resultsByAddress(res, web1)
	want := map[string]state.Result{
		"tag": state.ResultApplied, "protect": state.ResultApplied, "isolate": state.ResultFailed,
		"snapshot": state.ResultSkipped, "stop": state.ResultSkipped, "notify": state.ResultApplied,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("web-1 %s: %s, want %s", k, got[k], w)
		}
	}
	for k, r := range resultsByAddress(res, bastion) {
		if r != state.ResultApplied {
			t.Errorf("bastion %s: %s, want applied", k, r)
		}
	}
	r := ae.region()
	if s := r.Instances[web1].State; s != "running" {
		t.Errorf("web-1 is %s: an instance whose isolation failed must not be stopped", s)
	}
	if s := r.Instances[bastion].State; s != "stopped" {
		t.Errorf("bastion is %s", s)
	}
	list, _ := ae.store.Incidents(context.Background(), state.IncidentFilter{})
	statuses := map[string]state.IncidentStatus{}
	for _, s := range list {
		statuses[s.Finding.Resource.ID] = s.Status
	}
	if statuses[web1] != state.StatusFailed || statuses[bastion] != state.StatusResponded {
		t.Errorf("incident statuses %v", statuses)
	}
}

func TestApplyRetriesThrottling(t *testing.T) {
	ae := newApplyEnv(t)
	ae.emu.Faults().Throttle("ec2:ModifyNetworkInterfaceAttribute", 3)
	res, err := ae.apply(ae.plan(web1Findings))
	if err != nil || res.Failed() {
		t.Fatalf("apply: %v %v", err, res.Summary)
	}
	var attempts int
	for _, c := range ae.emu.Calls() {
		if c.Action() == "ec2:ModifyNetworkInterfaceAttribute" {
			attempts++
		}
	}
	if attempts != 4 {
		t.Errorf("%d ModifyNetworkInterfaceAttribute attempts, want 3 throttled and 1 served", attempts)
	}
	if !strings.Contains(strings.ToLower(ae.debug.String()), "retry") {
		t.Errorf("the retries are not in the debug output:\n%s", ae.debug.String())
	}
}

func TestApplySkipsDriftedAction(t *testing.T) {
	ae := newApplyEnv(t)
	f := ae.plan(web1Findings)
	// Someone moved the instance to another group since the plan was made.
	if err := ae.emu.SetNetworkInterfaceGroups(web1ENI, []string{"sg-0a1b2c3d4e5f60718"}); err != nil {
		t.Fatal(err)
	}
	res, err := ae.apply(f)
	if err != nil {
		t.Fatal(err)
	}
	got := resultsByAddress(res, web1)
	if got["isolate"] != state.ResultDrifted || got["stop"] != state.ResultSkipped || got["tag"] != state.ResultApplied {
		t.Errorf("results %v", got)
	}
	if res.Summary.Drifted != 1 || !strings.Contains(res.Summary.String(), "1 drifted") {
		t.Errorf("summary %s", res.Summary)
	}
	r := ae.region()
	if g := r.NetworkInterfaces[web1ENI].Groups; !slices.Equal(g, []string{"sg-0a1b2c3d4e5f60718"}) {
		t.Errorf("a drifted action was applied anyway: groups %v", g)
	}
	if s := r.Instances[web1].State; s != "running" {
		t.Errorf("web-1 is %s", s)
	}
}

func TestApplyStaleAndIncompletePlans(t *testing.T) {
	ae := newApplyEnv(t)
	f := ae.plan(web1Findings)
	stale := *f
	stale.ConfigDigest = "sha256:0000"
	if _, err := ae.apply(&stale); !errors.Is(err, engine.ErrStalePlan) {
		t.Errorf("stale plan: %v", err)
	}
	incomplete := *f
	p := *f.Plan
	p.Summary.Errors = 1
	incomplete.Plan = &p
	if _, err := ae.apply(&incomplete); !errors.Is(err, engine.ErrIncompletePlan) {
		t.Errorf("incomplete plan: %v", err)
	}
	if len(ae.emu.Calls()) != 0 {
		t.Error("a refused plan called AWS")
	}
}

func TestApplyWaitsForLock(t *testing.T) {
	ae := newApplyEnv(t)
	other, err := state.OpenSQLite(ae.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	key := state.TargetLockKey(actions.Target{Type: "aws_instance", ID: web1, Account: demo.ProdAccount, Region: demo.Region})
	release, err := other.Lock(context.Background(), []string{key}, "another apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := ae.plan(web1Findings)
	if _, err := ae.apply(f); !errors.Is(err, state.ErrLockTimeout) || !strings.Contains(err.Error(), "another apply") {
		t.Fatalf("apply with the lock held: %v", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		release()
	}()
	opts := ae.options()
	opts.LockTimeout = 10 * time.Second
	res, err := ae.eng.Apply(context.Background(), f, opts)
	if err != nil || res.Failed() {
		t.Fatalf("apply waiting for the lock: %v", err)
	}
}

func TestRevert(t *testing.T) {
	ae := newApplyEnv(t)
	before := ae.region()
	res, err := ae.apply(ae.plan(web1Findings))
	if err != nil || res.Failed() {
		t.Fatal(err, res.Summary)
	}
	inc := res.Actions[0].Incident
	rp, err := ae.eng.PlanRevert(context.Background(), ae.store, inc)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, a := range rp.Actions {
		order = append(order, a.Action)
	}
	if got := strings.Join(order, ","); got != "stop,isolate,tag,protect" && got != "stop,isolate,protect,tag" {
		t.Errorf("revert order %s: want reverse phase order", got)
	}
	if got := strings.Join(rp.Irreversible, ","); !strings.Contains(got, "snapshot") || !strings.Contains(got, "notify") {
		t.Errorf("irreversible: %s", got)
	}
	rres, err := ae.eng.Revert(context.Background(), rp, ae.options())
	if err != nil || rres.Failed() || rres.Summary.Applied != 4 {
		t.Fatalf("revert: %v %s %+v", err, rres.Summary, rres.Actions)
	}
	after := ae.region()
	b, a := before.Instances[web1], after.Instances[web1]
	if a.State != "running" || a.DisableAPITermination != b.DisableAPITermination || a.ShutdownBehavior != b.ShutdownBehavior {
		t.Errorf("web-1 after revert: %s %v %s", a.State, a.DisableAPITermination, a.ShutdownBehavior)
	}
	if _, tagged := a.Tags[actions.IncidentTagKey]; tagged {
		t.Errorf("incident tag left after revert: %v", a.Tags)
	}
	if g := after.NetworkInterfaces[web1ENI].Groups; !slices.Equal(g, before.NetworkInterfaces[web1ENI].Groups) {
		t.Errorf("groups after revert %v, want %v", g, before.NetworkInterfaces[web1ENI].Groups)
	}
	if len(after.Snapshots) != 2 {
		t.Errorf("%d snapshots after revert: evidence must be kept", len(after.Snapshots))
	}
	d, _ := ae.store.Incident(context.Background(), inc)
	if d.Status != state.StatusReverted {
		t.Errorf("incident status after revert: %s", d.Status)
	}
	// Nothing is left to revert.
	rp, err = ae.eng.PlanRevert(context.Background(), ae.store, inc)
	if err != nil || len(rp.Actions) != 0 {
		t.Errorf("second revert plan: %v %d actions", err, len(rp.Actions))
	}
}

func TestRevertAfterDrift(t *testing.T) {
	ae := newApplyEnv(t)
	res, err := ae.apply(ae.plan(web1Findings))
	if err != nil || res.Failed() {
		t.Fatal(err)
	}
	// Someone put the instance in another group by hand after isolation.
	if err := ae.emu.SetNetworkInterfaceGroups(web1ENI, []string{"sg-0a1b2c3d4e5f60718"}); err != nil {
		t.Fatal(err)
	}
	rp, err := ae.eng.PlanRevert(context.Background(), ae.store, res.Actions[0].Incident)
	if err != nil {
		t.Fatal(err)
	}
	rres, err := ae.eng.Revert(context.Background(), rp, ae.options())
	if err != nil {
		t.Fatal(err)
	}
	got := resultsByAddress(rres, web1)
	if got["isolate"] != state.ResultDrifted {
		t.Errorf("isolate revert after drift: %s, want drifted", got["isolate"])
	}
	if g := ae.region().NetworkInterfaces[web1ENI].Groups; !slices.Equal(g, []string{"sg-0a1b2c3d4e5f60718"}) {
		t.Errorf("a drifted revert overwrote the groups: %v", g)
	}
	for _, a := range rres.Actions {
		if a.Action == "isolate" && !strings.Contains(a.Error, "security_groups") {
			t.Errorf("drift is not explained: %q", a.Error)
		}
	}
}

// TestIAMPolicyCoversCalls checks `cordon iam-policy` against the calls
// the emulator received while a full apply and revert ran: every call the
// responder role made is allowed by the policy, and the identity cordon
// starts from only assumed the role.
func TestIAMPolicyCoversCalls(t *testing.T) {
	ae := newApplyEnv(t)
	res, err := ae.apply(ae.plan(web1Findings, bastionFind))
	if err != nil || res.Failed() {
		t.Fatal(err)
	}
	for _, inc := range []string{res.Actions[0].Incident} {
		rp, err := ae.eng.PlanRevert(context.Background(), ae.store, inc)
		if err != nil {
			t.Fatal(err)
		}
		if rr, err := ae.eng.Revert(context.Background(), rp, ae.options()); err != nil || rr.Failed() {
			t.Fatal(err)
		}
	}
	allowed := ae.eng.IAMPolicy().PolicyActions()

	// Every AWS collector, planning the same findings with a configuration
	// that has them all: their calls are granted by that configuration's
	// policy, which the responder's identity gets as well here.
	collect, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/collect"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files, diags := engine.ReadFindings([]string{web1Findings, bastionFind})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, diags := collect.Plan(context.Background(), files, engine.PlanOptions{AWS: ae.aws}); diags.HasErrors() {
		t.Fatal(diags)
	}
	for a := range collect.IAMPolicy().PolicyActions() {
		allowed[a] = true
	}

	called := map[string]bool{}
	for _, c := range ae.emu.Calls() {
		if c.Action() == "sts:GetCallerIdentity" {
			// AWS answers it for every identity, whatever its policies
			// say: cordon calls it to check its access before acting.
			continue
		}
		switch c.Account {
		case demo.SecurityAccount:
			if c.Action() != "sts:AssumeRole" {
				t.Errorf("the base identity called %s; it should only assume the responder role", c.Action())
			}
		default:
			called[c.Action()] = true
			if !allowed[c.Action()] {
				t.Errorf("the responder called %s, which cordon iam-policy does not grant", c.Action())
			}
		}
	}
	var unused []string
	for a := range allowed {
		if !called[a] {
			unused = append(unused, a)
		}
	}
	slices.Sort(unused)
	// Granted but not exercised here: error paths (DescribeInstances to
	// tell an unknown instance from a terminated one) and calls the
	// emulator serves inside others (CreateTags within CreateSnapshots).
	t.Logf("granted, not called in this run: %v", unused)
	if len(called) < 10 {
		t.Errorf("only %d distinct calls observed", len(called))
	}
	for _, collectorCall := range []string{"ec2:DescribeVolumes", "ssm:SendCommand", "ssm:GetCommandInvocation",
		"cloudtrail:LookupEvents", "guardduty:ListDetectors", "ec2:GetConsoleOutput", "ec2:CreateSnapshots"} {
		if !called[collectorCall] {
			t.Errorf("the collectors did not call %s", collectorCall)
		}
	}
}
