package serve_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
)

// The daemon with its own sources, end to end: findings arrive only from
// an SQS queue or a GuardDuty detector of the emulator, and the instance
// they name is contained.

const (
	sourceQueue    = "cordon-findings"
	sourceQueueURL = "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings"
	sourceDetector = "5ec52e1f0a2b4c6d8e9f0a1b2c3d4e5f"
)

// newSourceHarness is newHarness on the demo fleet with edit applied to
// the production account's region (a queue, a detector).
func newSourceHarness(t *testing.T, vars map[string]cty.Value, edit func(*awsemu.SeedRegion)) *harness {
	t.Helper()
	h := newHarness(t, vars)
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	for i := range seed.Accounts {
		if a := &seed.Accounts[i]; a.ID == demo.ProdAccount {
			r := a.Regions[demo.Region]
			edit(&r)
			a.Regions[demo.Region] = r
		}
	}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	h.emu = awsemu.New(seed)
	srv := httptest.NewServer(h.emu)
	t.Cleanup(srv.Close)
	h.emuURL = srv.URL
	h.aws, err = awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkSourceCalls checks that every call of service the emulator saw is
// granted by `cordon iam-policy` for the configuration in dir.
func checkSourceCalls(t *testing.T, h *harness, dir, service string) {
	t.Helper()
	e, diags := engine.Load(context.Background(), engine.Options{Dir: dir, Values: h.vars, ValuesSource: "the test"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	allowed := e.IAMPolicy().PolicyActions()
	// The batch calls are authorized as their single forms.
	single := strings.NewReplacer("DeleteMessageBatch", "DeleteMessage", "ChangeMessageVisibilityBatch", "ChangeMessageVisibility")
	seen := 0
	for _, c := range h.emu.Calls() {
		if c.Service != service {
			continue
		}
		seen++
		if a := single.Replace(c.Action()); !allowed[a] {
			t.Errorf("the source called %s, which `cordon iam-policy` does not grant", a)
		}
	}
	if seen == 0 {
		t.Errorf("no %s calls", service)
	}
}

// A GuardDuty finding published to EventBridge, routed to an SQS queue:
// the daemon receives it from the queue, contains web-1, and deletes the
// message once.
func TestSQSSourceContainsInstance(t *testing.T) {
	h := newSourceHarness(t, map[string]cty.Value{"queue_url": cty.StringVal(sourceQueueURL)}, func(r *awsemu.SeedRegion) {
		r.Queues = append(r.Queues, awsemu.SeedQueue{Name: sourceQueue})
	})
	h.start(func(o *serve.Options) { o.Engine.Dir = "testdata/sqs" })

	var detail map[string]any
	if err := json.Unmarshal(finding(t, web1Finding, nil), &detail); err != nil {
		t.Fatal(err)
	}
	event, err := json.Marshal(map[string]any{
		"version": "0", "id": "6f87d8a1-5e4c-4b3a-9d2e-1f0a9b8c7d6e", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
		"account": demo.ProdAccount, "time": detail["updatedAt"], "region": demo.Region, "resources": []any{}, "detail": detail,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.emu.SendMessage(demo.ProdAccount, demo.Region, sourceQueue, string(event)); err != nil {
		t.Fatal(err)
	}

	h.waitFor("web-1 isolated and stopped", func() bool {
		return h.isolated(web1) && h.instance(web1).State == "stopped"
	})
	h.idle()
	h.waitFor("the message deleted", func() bool {
		ms, err := h.emu.QueueMessages(demo.ProdAccount, demo.Region, sourceQueue)
		return err == nil && len(ms) == 0
	})
	if n := h.calls("DeleteMessageBatch"); n != 1 {
		t.Errorf("%d DeleteMessageBatch calls, want 1", n)
	}
	list, err := h.store.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents %v %v, want 1", list, err)
	}
	ds, err := h.store.Deliveries(context.Background(), state.DeliveryFilter{IncidentID: list[0].ID})
	if err != nil || len(ds) != 1 || ds[0].Source != "sqs.findings" || ds[0].Duplicates != 0 {
		t.Fatalf("deliveries %+v %v, want one from sqs.findings", ds, err)
	}
	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation calls = %d, want 1", n)
	}
	h.waitFor("the webhook", func() bool { return len(h.hookBodies()) == 1 })
	code, body := h.request("GET", "/readyz", "", "", nil)
	if code != 200 || !strings.Contains(string(body), "source.sqs.findings") {
		t.Errorf("/readyz %d %s", code, body)
	}
	h.stop()
	checkSourceCalls(t, h, "testdata/sqs", "sqs")
}

// A finding in the production account's GuardDuty detector: the daemon's
// poller picks it up and web-1 is contained; GuardDuty's re-publication of
// it, a newer update, is received as such and changes nothing.
func TestGuardDutySourceContainsInstance(t *testing.T) {
	updated := time.Now().UTC().Add(-5 * time.Minute)
	h := newSourceHarness(t, nil, func(r *awsemu.SeedRegion) {
		r.GuardDuty = &awsemu.SeedGuardDuty{DetectorID: sourceDetector, Findings: []json.RawMessage{
			finding(t, web1Finding, republished(updated.Format("2006-01-02T15:04:05.000Z"), 27)),
		}}
	})
	h.start(func(o *serve.Options) { o.Engine.Dir = "testdata/guardduty" })
	h.waitFor("web-1 isolated and stopped", func() bool {
		return h.isolated(web1) && h.instance(web1).State == "stopped"
	})
	h.idle()
	cursor := "guardduty.poll/" + demo.ProdAccount + "/" + demo.Region + "/" + sourceDetector
	if v, ok, err := h.store.Cursor(context.Background(), cursor); err != nil || !ok || v == "" {
		t.Fatalf("cursor %s = %q %v %v", cursor, v, ok, err)
	}
	list, err := h.store.Incidents(context.Background(), state.IncidentFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents %v %v, want 1", list, err)
	}

	newer := time.Now().UTC().Add(-10 * time.Second).Format("2006-01-02T15:04:05.000Z")
	if err := h.emu.PutFinding(demo.ProdAccount, demo.Region, sourceDetector, finding(t, web1Finding, republished(newer, 28))); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the re-publication received", func() bool {
		ds, err := h.store.Deliveries(context.Background(), state.DeliveryFilter{IncidentID: list[0].ID})
		return err == nil && len(ds) == 2
	})
	h.idle()
	ds, _ := h.store.Deliveries(context.Background(), state.DeliveryFilter{IncidentID: list[0].ID})
	for _, d := range ds {
		if d.Source != "guardduty.poll" {
			t.Errorf("delivery %d came from %s, want guardduty.poll", d.ID, d.Source)
		}
	}
	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation calls = %d, want 1: the re-publication changes nothing", n)
	}
	if n := h.calls("StopInstances"); n != 1 {
		t.Errorf("stop calls = %d, want 1", n)
	}
	h.stop()
	checkSourceCalls(t, h, "testdata/guardduty", "guardduty")
}

// A daemon that dies between committing a delivery and deleting its SQS
// message (here: the delete fails, which leaves the same state a SIGKILL
// at that moment does) gets the message again once its visibility ends;
// the redelivery is a counted duplicate, nothing is acted on twice, and
// the message is then deleted.
func TestSQSRedeliveryAfterCommitIsDeduplicated(t *testing.T) {
	h := newSourceHarness(t, map[string]cty.Value{"queue_url": cty.StringVal(sourceQueueURL)}, func(r *awsemu.SeedRegion) {
		one := 1
		r.Queues = append(r.Queues, awsemu.SeedQueue{Name: sourceQueue, VisibilityTimeout: &one})
	})
	h.emu.Faults().Fail("sqs:DeleteMessageBatch", sourceQueue, "InternalFailure", "injected: the process died before the delete")
	dir := copyDir(t, "testdata/sqs")
	hcl, _ := os.ReadFile(filepath.Join(dir, "cordon.hcl"))
	os.WriteFile(filepath.Join(dir, "cordon.hcl"), []byte(strings.Replace(string(hcl), `visibility_timeout = "30s"`, `visibility_timeout = "1s"`, 1)), 0o600)
	h.start(func(o *serve.Options) { o.Engine.Dir = dir })
	var detail map[string]any
	json.Unmarshal(finding(t, web1Finding, nil), &detail)
	event, _ := json.Marshal(map[string]any{"version": "0", "id": "e1", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
		"account": demo.ProdAccount, "region": demo.Region, "resources": []any{}, "detail": detail})
	if _, err := h.emu.SendMessage(demo.ProdAccount, demo.Region, sourceQueue, string(event)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
	// The failed delete left the message; it comes back and is a duplicate.
	h.waitFor("the redelivery counted as a duplicate", func() bool {
		ds, _ := h.store.Deliveries(context.Background(), state.DeliveryFilter{})
		return len(ds) == 1 && ds[0].Duplicates >= 1
	})
	h.emu.Faults().Clear()
	h.waitFor("the message deleted", func() bool {
		ms, err := h.emu.QueueMessages(demo.ProdAccount, demo.Region, sourceQueue)
		return err == nil && len(ms) == 0
	})
	h.idle()
	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation calls = %d, want 1", n)
	}
	if n := h.calls("StopInstances"); n != 1 {
		t.Errorf("stop calls = %d, want 1", n)
	}
	list, _ := h.store.Incidents(context.Background(), state.IncidentFilter{})
	if len(list) != 1 {
		t.Errorf("%d incidents, want 1", len(list))
	}
}
