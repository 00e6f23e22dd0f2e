package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/demo"
)

func TestFindingIsContainedWithNoCommand(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	got := h.post(finding(t, web1Finding, nil))
	if got.Accepted != 1 || len(got.Deliveries) != 1 || got.Deliveries[0].IncidentID == "" {
		t.Fatalf("202 body = %+v", got)
	}
	inc := got.Deliveries[0].IncidentID
	h.waitFor("web-1 isolated and stopped", func() bool {
		return h.isolated(web1) && h.instance(web1).State == "stopped"
	})
	h.idle()
	d, err := h.store.Incident(context.Background(), inc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != state.StatusResponded || len(d.Plans) != 1 || d.Plans[0].Status != state.PlanApplied {
		t.Fatalf("incident status %s, plans %+v", d.Status, d.Plans)
	}
	h.waitFor("the webhook", func() bool { return len(h.hookBodies()) == 1 })
	// Every log line of the investigation names the finding and incident.
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "verdict") && (!strings.Contains(line, "finding_id=") || !strings.Contains(line, "incident_id="+inc)) {
			t.Errorf("log line without its finding and incident: %s", line)
		}
	}
}

// The same delivery posted 20 times at once: one incident, one apply, 19
// counted duplicates.
func TestConcurrentDuplicatesAreOneIncident(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	body := finding(t, web1Finding, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, dups := 0, 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.post(body)
			mu.Lock()
			accepted += r.Accepted
			dups += r.Duplicates
			mu.Unlock()
		}()
	}
	wg.Wait()
	if accepted != 1 || dups != 19 {
		t.Fatalf("accepted %d, duplicates %d; want 1 and 19", accepted, dups)
	}
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()
	list, _ := h.store.Incidents(context.Background(), state.IncidentFilter{})
	if len(list) != 1 {
		t.Fatalf("%d incidents, want 1", len(list))
	}
	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation calls = %d, want 1", n)
	}
	if n := h.calls("StopInstances"); n != 1 {
		t.Errorf("stop calls = %d, want 1", n)
	}
	dl, _ := h.store.Deliveries(context.Background(), state.DeliveryFilter{})
	if len(dl) != 1 || dl[0].Duplicates != 19 {
		t.Errorf("deliveries %+v, want one with 19 duplicates", dl)
	}
	if m := h.metric("cordon_findings_deduplicated_total"); m != "19" {
		t.Errorf("cordon_findings_deduplicated_total = %q, want 19", m)
	}
}

// Batches posted together are committed in several transactions at once
// (the inbox keeps more than one open): every finding is recorded once,
// with its own delivery id, and every copy is a duplicate of it, however
// the copies fall into the transactions.
func TestConcurrentBatchesAreEachRecordedOnce(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"dry_run": cty.True})
	h.start()
	const distinct = 60
	bodies := make([][]byte, distinct)
	for i := range bodies {
		bodies[i] = finding(t, web1Finding, func(m map[string]any) {
			m["id"] = fmt.Sprintf("%032x", i+1)
		})
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]map[int64]int{} // finding id → delivery id → receipts
	)
	for round := range 2 {
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.post(bodies[(i+round*7)%distinct])
				mu.Lock()
				defer mu.Unlock()
				for _, d := range r.Deliveries {
					if ids[d.FindingID] == nil {
						ids[d.FindingID] = map[int64]int{}
					}
					ids[d.FindingID][d.ID]++
				}
			}()
		}
	}
	wg.Wait()
	if len(ids) != distinct {
		t.Fatalf("receipts name %d findings, want %d", len(ids), distinct)
	}
	seen := map[int64]string{}
	for fid, byID := range ids {
		if len(byID) != 1 {
			t.Errorf("finding %s got delivery ids %v, want one id for both copies", fid, byID)
		}
		for id, n := range byID {
			if other, dup := seen[id]; dup {
				t.Errorf("delivery id %d given to %s and %s", id, fid, other)
			}
			seen[id] = fid
			if n != 2 {
				t.Errorf("finding %s: %d receipts for delivery %d, want 2", fid, n, id)
			}
		}
	}
	dl, err := h.store.Deliveries(context.Background(), state.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != distinct {
		t.Fatalf("%d deliveries recorded, want %d", len(dl), distinct)
	}
	for _, d := range dl {
		if d.Duplicates != 1 {
			t.Errorf("delivery %d (%s): %d duplicates, want 1", d.ID, d.FindingID, d.Duplicates)
		}
	}
	if m := h.metric("cordon_findings_deduplicated_total"); m != fmt.Sprint(distinct) {
		t.Errorf("cordon_findings_deduplicated_total = %q, want %d", m, distinct)
	}
}

// A re-published finding is the same incident: nothing is repeated, the
// recurrence is on the timeline and notified once; an older update that
// arrives after is ignored.
func TestRepublishedFindingIsARecurrence(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	first := h.post(finding(t, web1Finding, nil))
	inc := first.Deliveries[0].IncidentID
	h.waitFor("web-1 stopped", func() bool { return h.instance(web1).State == "stopped" })
	h.idle()
	isolations, stops := h.calls("ModifyNetworkInterfaceAttribute"), h.calls("StopInstances")

	again := h.post(finding(t, web1Finding, republished("2030-01-01T00:00:00.000Z", 40)))
	if again.Accepted != 1 || again.Deliveries[0].IncidentID != inc {
		t.Fatalf("re-publication: %+v, want a new delivery of incident %s", again, inc)
	}
	h.idle()
	older := h.post(finding(t, web1Finding, republished("2029-01-01T00:00:00.000Z", 20)))
	if older.Accepted != 1 {
		t.Fatalf("older update: %+v", older)
	}
	h.idle()

	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != isolations {
		t.Errorf("isolation repeated: %d calls, was %d", n, isolations)
	}
	if n := h.calls("StopInstances"); n != stops {
		t.Errorf("stop repeated: %d calls, was %d", n, stops)
	}
	list, _ := h.store.Incidents(context.Background(), state.IncidentFilter{})
	if len(list) != 1 {
		t.Fatalf("%d incidents, want 1", len(list))
	}
	d, _ := h.store.Incident(context.Background(), inc)
	recurrences := 0
	for _, ev := range d.Events {
		if ev.Kind == state.EventRecurrence {
			recurrences++
		}
	}
	if recurrences != 1 || d.Incident.FindingCount != 40 {
		t.Errorf("%d recurrences on the timeline, count %d; want 1 and 40", recurrences, d.Incident.FindingCount)
	}
	dl, _ := h.store.Deliveries(context.Background(), state.DeliveryFilter{IncidentID: inc})
	if len(dl) != 3 || dl[0].Outcome != state.OutcomeStale {
		t.Errorf("deliveries (newest first) %+v; want 3, the older update stale", outcomes(dl))
	}
	// Notified once for the finding, once for its recurrence.
	h.waitFor("two notifications", func() bool { return len(h.hookBodies()) == 2 })
}

func outcomes(ds []state.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%d:%s", d.ID, d.Outcome))
	}
	return out
}

// metric reads one unlabelled metric's value from /metrics.
func (h *harness) metric(name string) string {
	h.t.Helper()
	_, body := h.request("GET", "/metrics", "", "", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	valid := finding(t, web1Finding, nil)
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = ' '
	}
	for _, tc := range []struct {
		name, contentType, token string
		body                     []byte
		status                   int
		code, message            string
		rejection                bool
	}{
		{name: "no token", contentType: "application/json", body: valid, status: 401, code: "unauthorized", message: "missing bearer token"},
		{name: "wrong token", contentType: "application/json", token: "nope", body: valid, status: 401, code: "unauthorized", message: "invalid bearer token"},
		{name: "2 MiB body", contentType: "application/json", token: testToken, body: big, status: 413, code: "body_too_large"},
		{name: "not JSON", contentType: "text/plain", token: testToken, body: valid, status: 415, code: "unsupported_media_type"},
		{name: "no content type", token: testToken, body: valid, status: 415, code: "unsupported_media_type"},
		{name: "invalid JSON", contentType: "application/json", token: testToken, body: []byte(`{"schemaVersion": "2.0", "id": `), status: 400,
			code: "invalid_finding", message: "http", rejection: true},
		{name: "unknown shape", contentType: "application/json", token: testToken, body: []byte(`{"hello": "world"}`), status: 400,
			code: "invalid_finding", message: "accepted:", rejection: true},
		{name: "second record malformed", contentType: "application/x-ndjson", token: testToken,
			body: append(append(append([]byte{}, compact(t, valid)...), '\n'), []byte(`{"nope": 1}`)...), status: 400,
			code: "invalid_finding", message: "record 2", rejection: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.store.Rejections(context.Background(), 0)
			status, body := h.request("POST", "/v1/findings", tc.contentType, tc.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var e struct {
				Error struct {
					Code      string `json:"code"`
					Message   string `json:"message"`
					Rejection int64  `json:"rejection"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %s", body)
			}
			if e.Error.Code != tc.code || !strings.Contains(e.Error.Message, tc.message) {
				t.Errorf("error %+v, want code %s and a message containing %q", e.Error, tc.code, tc.message)
			}
			after, _ := h.store.Rejections(context.Background(), 0)
			if tc.rejection != (len(after) == len(before)+1) || tc.rejection != (e.Error.Rejection != 0) {
				t.Errorf("rejections %d -> %d (id %d); want one recorded: %v", len(before), len(after), e.Error.Rejection, tc.rejection)
			}
		})
	}
	dl, _ := h.store.Deliveries(context.Background(), state.DeliveryFilter{})
	if len(dl) != 0 {
		t.Errorf("bad requests stored %d deliveries", len(dl))
	}
	// The API's other errors are JSON too.
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/findings", http.StatusMethodNotAllowed},
		{"GET", "/v1/nope", http.StatusNotFound},
		{"GET", "/v1/incidents/inc-none", http.StatusNotFound},
		{"POST", "/v1/plans/plan-none/approve", http.StatusBadRequest},
	} {
		status, body := h.request(tc.method, tc.path, "application/json", testToken, nil)
		if status != tc.status || !strings.Contains(string(body), `"code"`) {
			t.Errorf("%s %s: %d %s, want %d with a JSON error", tc.method, tc.path, status, body, tc.status)
		}
	}
}

func compact(t *testing.T, b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

func TestDryRunAppliesNothing(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"dry_run": cty.True})
	h.start()
	h.post(finding(t, web1Finding, nil))
	h.waitFor("a dry-run plan", func() bool {
		p, _ := h.store.Plans(context.Background(), state.PlanFilter{Status: []state.PlanStatus{state.PlanDryRun}})
		return len(p) == 1
	})
	h.idle()
	if h.isolated(web1) || h.calls("ModifyNetworkInterfaceAttribute") != 0 || h.calls("StopInstances") != 0 {
		t.Error("dry run changed the instance")
	}
	if !strings.Contains(h.logs.String(), "dry run: would have applied") {
		t.Errorf("the log does not say what would have been applied:\n%s", h.logs.String())
	}
}

// A daemon that cannot call AWS (refused credentials) applies nothing, and
// says so where a responder looks: the plan failed with the reason, and
// the incident's timeline names it.
//
// It is tried again until the approval timeout (a short one here), then
// fails for good.
func TestApplyWithoutAccessIsOnTheTimeline(t *testing.T) {
	h := newHarness(t, map[string]cty.Value{"approval_timeout": cty.StringVal("1s")})
	refused, err := awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: h.emuURL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAEMUUNKNOWN000001", "not-the-secret", ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.start(func(o *serve.Options) { o.AWS = refused })
	got := h.post(finding(t, web1Finding, nil))
	inc := got.Deliveries[0].IncidentID
	var d *state.IncidentDetail
	h.waitFor("the failed apply", func() bool {
		d, err = h.store.Incident(context.Background(), inc)
		return err == nil && len(d.Plans) == 1 && d.Plans[0].Status == state.PlanFailed
	})
	if !strings.Contains(d.Plans[0].Note, "No AWS access") || !strings.Contains(d.Plans[0].Note, "until the approval timeout") ||
		len(d.Actions) != 0 || h.isolated(web1) {
		t.Errorf("plan %+v, %d actions recorded, isolated %v", d.Plans[0], len(d.Actions), h.isolated(web1))
	}
	var found bool
	for _, ev := range d.Events {
		if ev.Kind == state.EventApplyFailed && strings.Contains(ev.Summary, d.Plans[0].ID) && strings.Contains(ev.Summary, "No AWS access") {
			found = true
		}
	}
	if !found {
		t.Errorf("no apply_failed event on the timeline: %+v", d.Events)
	}
}

// An apply that finds no AWS access (here STS refuses every call for a
// while, as in an outage) records nothing and is tried again: once access
// is back, the plan is applied, and the timeline says it failed once and
// would be tried again.
func TestApplyWithoutAccessIsRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.emu.Faults().Fail("sts:*", "*", "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
	h.start(func(o *serve.Options) { o.AccessRetry = 100 * time.Millisecond })
	got := h.post(finding(t, web1Finding, nil))
	inc := got.Deliveries[0].IncidentID
	var d *state.IncidentDetail
	var err error
	h.waitFor("the failed attempt on the timeline", func() bool {
		d, err = h.store.Incident(context.Background(), inc)
		if err != nil || len(d.Plans) != 1 {
			return false
		}
		for _, ev := range d.Events {
			if ev.Kind == state.EventApplyFailed {
				return true
			}
		}
		return false
	})
	if d.Plans[0].Status != state.PlanApproved || len(d.Actions) != 0 || h.isolated(web1) {
		t.Fatalf("after the failed attempt: plan %+v, %d actions, isolated %v", d.Plans[0], len(d.Actions), h.isolated(web1))
	}
	// Tried again while access is refused: still nothing recorded, and
	// the timeline is not filled with one event per attempt.
	h.waitFor("a second attempt", func() bool {
		return strings.Count(h.logs.String(), "apply found no AWS access") >= 2
	})
	h.emu.Faults().Clear()
	h.waitFor("web-1 isolated once access is back", func() bool { return h.isolated(web1) })
	h.waitFor("the plan applied", func() bool {
		d, err = h.store.Incident(context.Background(), inc)
		return err == nil && d.Plans[0].Status == state.PlanApplied
	})
	failed := 0
	for _, ev := range d.Events {
		if ev.Kind == state.EventApplyFailed {
			failed++
			if !strings.Contains(ev.Summary, "No AWS access") || !strings.Contains(ev.Summary, "tried again until") {
				t.Errorf("apply_failed event: %q", ev.Summary)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d apply_failed events, want 1: %+v", failed, d.Events)
	}
	if n := h.calls("ModifyNetworkInterfaceAttribute"); n != 1 {
		t.Errorf("isolation calls = %d, want 1", n)
	}
}
