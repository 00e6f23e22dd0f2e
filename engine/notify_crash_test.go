package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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

// The notification crash tests kill a real apply, run by this test binary
// in a child process (TestNotificationCrashChild), while its notification
// is in flight: after its start is recorded and before the webhook is
// posted, or once the POST has reached the receiver and before its answer
// is recorded. A notification cannot be read back from its receiver, so
// cordon must neither count it as sent (it would be lost for good) nor
// send it without the key that lets the receiver drop a copy.

// Environment of the child.
const (
	crashChildEnv = "CORDON_TEST_NOTIFY_CRASH" // "before-post" or "after-post"
	crashDBEnv    = "CORDON_TEST_STATE"
	crashPlanEnv  = "CORDON_TEST_PLAN"
	crashHookEnv  = "CORDON_TEST_HOOK"
	crashAWSEnv   = "CORDON_TEST_AWS"
	// notifyStarted is what the child prints once the notification's
	// start is committed, before it is posted.
	notifyStarted = "NOTIFY-STARTED"
)

// TestNotificationCrashChild is the apply the crash tests kill; it does
// nothing unless run by one of them.
func TestNotificationCrashChild(t *testing.T) {
	mode := os.Getenv(crashChildEnv)
	if mode == "" {
		t.Skip("the child of the notification crash tests")
	}
	ctx := context.Background()
	e, diags := engine.Load(ctx, engine.Options{Dir: "testdata/apply",
		Values: map[string]cty.Value{"webhook_url": cty.StringVal(os.Getenv(crashHookEnv))}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	aws, err := crashAWSFactory(os.Getenv(crashAWSEnv))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenSQLite(os.Getenv(crashDBEnv))
	if err != nil {
		t.Fatal(err)
	}
	f, err := plan.Read(os.Getenv(crashPlanEnv))
	if err != nil {
		t.Fatal(err)
	}
	opts := engine.ApplyOptions{Store: st, AWS: aws, Owner: "crash-child", ApproveManual: true,
		OnChange: func(_, _, typ string) {
			if typ == "webhook" {
				fmt.Println(notifyStarted)
				if mode == "before-post" {
					select {} // killed here, before the POST
				}
			}
		}}
	_, err = e.Apply(ctx, f, opts)
	t.Fatalf("the apply was to be killed, and it ended: %v", err)
}

func crashAWSFactory(endpoint string) (*awsclient.Factory, error) {
	return awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: endpoint, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
}

// receiver is a webhook receiver that records what it gets. While hold is
// set, it keeps the first request it gets open until the client goes away
// (the child is killed), and reports it on arrived.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []http.Header
	hold    bool
	arrived chan struct{}
}

func newReceiver(t *testing.T, hold bool) *receiver {
	rc := &receiver{hold: hold, arrived: make(chan struct{}, 1)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, r.Header.Clone())
		hold := rc.hold
		rc.hold = false
		rc.mu.Unlock()
		if hold {
			rc.arrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// keys are the X-Cordon-Delivery headers received so far.
func (rc *receiver) keys() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, h := range rc.got {
		out = append(out, h.Get("X-Cordon-Delivery"))
	}
	return out
}

// crashEnv is the emulator, a receiver, the engine and a state database
// shared by a crashed child and the test.
type crashEnv struct {
	t      *testing.T
	emu    *awsemu.Emulator
	awsURL string
	hook   *receiver
	eng    *engine.Engine
	aws    *awsclient.Factory
	dbPath string
	store  state.Store
}

func newCrashEnv(t *testing.T, hold bool) *crashEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs and kills a child process; skipped with -short")
	}
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	ce := &crashEnv{t: t, emu: awsemu.New(seed), hook: newReceiver(t, hold)}
	srv := httptest.NewServer(ce.emu)
	t.Cleanup(srv.Close)
	ce.awsURL = srv.URL
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/apply",
		Values: map[string]cty.Value{"webhook_url": cty.StringVal(ce.hook.URL + "/cordon")}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ce.eng = e
	if ce.aws, err = crashAWSFactory(srv.URL); err != nil {
		t.Fatal(err)
	}
	ce.dbPath = filepath.Join(t.TempDir(), ".cordon", "state.db")
	st, err := state.OpenSQLite(ce.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ce.store = st
	return ce
}

func (ce *crashEnv) plan(path string) *plan.File {
	ce.t.Helper()
	files, diags := engine.ReadFindings([]string{path})
	if diags.HasErrors() {
		ce.t.Fatal(diags)
	}
	res, diags := ce.eng.Plan(context.Background(), files, engine.PlanOptions{KeepData: true})
	if diags.HasErrors() {
		ce.t.Fatal(diags)
	}
	f := res.File(ce.eng, time.Now().UTC().Format(time.RFC3339Nano))
	id, err := plan.ID(f)
	if err != nil {
		ce.t.Fatal(err)
	}
	f.ID = id
	return f
}

func (ce *crashEnv) apply(f *plan.File) *engine.ApplyResult {
	ce.t.Helper()
	res, err := ce.eng.Apply(context.Background(), f, engine.ApplyOptions{Store: ce.store, AWS: ce.aws, Owner: "test", ApproveManual: true})
	if err != nil {
		ce.t.Fatal(err)
	}
	return res
}

// crashAt applies f in a child process and kills it at mode's point,
// leaving the notification started in state.
func (ce *crashEnv) crashAt(mode string, f *plan.File) {
	t := ce.t
	t.Helper()
	planPath := filepath.Join(t.TempDir(), "web1.plan")
	if err := plan.Write(planPath, f, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestNotificationCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+mode, crashDBEnv+"="+ce.dbPath, crashPlanEnv+"="+planPath,
		crashHookEnv+"="+ce.hook.URL+"/cordon", crashAWSEnv+"="+ce.awsURL, "AWS_EC2_METADATA_DISABLED=true")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	output := &syncBuffer{}
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			fmt.Fprintln(output, lines.Text())
			if lines.Text() == notifyStarted {
				close(started)
			}
		}
	}()
	point := started
	if mode == "after-post" {
		point = nil
	}
	select {
	case <-point: // the notification's start is committed; its POST is not sent
	case <-ce.hook.arrived: // the POST reached the receiver, which holds it
	case <-ctx.Done():
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child never reached the notification:\n%s%s", output.String(), stderr.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	started2, err := ce.store.StartedActions(context.Background())
	if err != nil || len(started2) != 1 || started2[0].Type != "webhook" {
		t.Fatalf("after the crash, started actions: %v %+v\n%s%s", err, started2, output.String(), stderr.String())
	}
}

// notifyRecords are the results recorded for the incident's notification,
// in order.
func (ce *crashEnv) notifyRecords(incident string) []state.ActionRecord {
	ce.t.Helper()
	d, err := ce.store.Incident(context.Background(), incident)
	if err != nil {
		ce.t.Fatal(err)
	}
	var out []state.ActionRecord
	for _, a := range d.Actions {
		if a.Type == "webhook" {
			out = append(out, a)
		}
	}
	return out
}

func results(recs []state.ActionRecord) string {
	var rs []string
	for _, r := range recs {
		rs = append(rs, string(r.Result))
	}
	return strings.Join(rs, ",")
}

func notifyResult(t *testing.T, res *engine.ApplyResult) *engine.ActionResult {
	t.Helper()
	for _, a := range res.Actions {
		if a.Type == "webhook" {
			return a
		}
	}
	t.Fatal("the apply has no notification")
	return nil
}

// A crash after the POST reached the receiver: the resumed apply sends the
// notification once more, with the key of the copy the receiver has.
func TestNotificationInterruptedAfterPostIsResent(t *testing.T) {
	ce := newCrashEnv(t, true)
	f := ce.plan(web1Findings)
	inc := f.Plan.Incidents[0]
	ce.crashAt("after-post", f)
	first := ce.hook.keys()
	if len(first) != 1 || first[0] == "" {
		t.Fatalf("before the crash the receiver got %q", first)
	}

	res := ce.apply(f) // the same plan: the apply resumes
	if n := notifyResult(t, res); n.Result != state.ResultApplied {
		t.Errorf("the resumed apply's notification: %s %s", n.Result, n.Error)
	}
	for _, a := range res.Actions {
		if a.Type != "webhook" && a.Result != state.ResultNoChange {
			t.Errorf("%s: %s; the resumed apply repeated a step done before the crash", a.Address, a.Result)
		}
	}
	keys := ce.hook.keys()
	if len(keys) != 2 || keys[1] != first[0] {
		t.Fatalf("the receiver got keys %q; want the interrupted one once more, %q", keys, first[0])
	}
	if want := actions.DeliveryKey("apply", inc.ID, notifyResult(t, res).Address, f.Incidents[inc.ID].Finding.UpdatedAt); keys[1] != want {
		t.Errorf("X-Cordon-Delivery %s, want DeliveryKey's %s", keys[1], want)
	}
	recs := ce.notifyRecords(inc.ID)
	if got := results(recs); got != "interrupted,applied" {
		t.Fatalf("notification records: %s; want interrupted,applied", got)
	}
	if !strings.Contains(recs[0].Error, "unknown") || !strings.Contains(recs[0].Error, first[0]) {
		t.Errorf("the interrupted record says %q; want why, and its delivery key", recs[0].Error)
	}

	// Delivered now: a later plan of the same finding does not send it.
	ce.apply(ce.plan(web1Findings))
	if keys := ce.hook.keys(); len(keys) != 2 {
		t.Errorf("a finished notification was sent again: keys %q", keys)
	}
}

// A crash before the POST: `cordon state recover` records the notification
// interrupted, not sent; the incident's next plan sends it once, a later
// one does not, and a recurrence of the finding is a new notification
// with a new key.
func TestNotificationInterruptedBeforePostIsSentByTheNextPlan(t *testing.T) {
	ce := newCrashEnv(t, false)
	f := ce.plan(web1Findings)
	inc := f.Plan.Incidents[0]
	ce.crashAt("before-post", f)
	if keys := ce.hook.keys(); len(keys) != 0 {
		t.Fatalf("the receiver got %q before the POST", keys)
	}

	rec, err := ce.eng.Recover(context.Background(), engine.ApplyOptions{Store: ce.store, AWS: ce.aws, Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].Result != state.ResultInterrupted || !strings.Contains(rec[0].Note, "sends it again") {
		t.Fatalf("recover: %+v; want the notification interrupted", rec)
	}

	res := ce.apply(ce.plan(web1Findings)) // the incident's next plan
	if n := notifyResult(t, res); n.Result != state.ResultApplied {
		t.Errorf("the next plan's notification: %s %s", n.Result, n.Error)
	}
	keys := ce.hook.keys()
	want := actions.DeliveryKey("apply", inc.ID, notifyResult(t, res).Address, f.Incidents[inc.ID].Finding.UpdatedAt)
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("the receiver got keys %q; want one, %s", keys, want)
	}

	res = ce.apply(ce.plan(web1Findings))
	if n := notifyResult(t, res); n.Result != state.ResultNoChange {
		t.Errorf("a plan after the delivery: notification %s; want no_change", n.Result)
	}
	if keys := ce.hook.keys(); len(keys) != 1 {
		t.Fatalf("a delivered notification was sent again: keys %q", keys)
	}

	// A recurrence: GuardDuty re-publishes the finding with a newer update.
	recurrence := filepath.Join(t.TempDir(), "recurrence.json")
	var doc map[string]any
	if err := json.Unmarshal(mustReadFile(t, web1Findings), &doc); err != nil {
		t.Fatal(err)
	}
	doc["updatedAt"] = "2031-01-01T00:00:00.000Z"
	data, _ := json.Marshal(doc)
	if err := os.WriteFile(recurrence, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rf := ce.plan(recurrence)
	if rf.Plan.Incidents[0].ID != inc.ID {
		t.Fatalf("the recurrence is incident %s, not %s", rf.Plan.Incidents[0].ID, inc.ID)
	}
	ce.apply(rf)
	keys = ce.hook.keys()
	if len(keys) != 2 || keys[1] == keys[0] {
		t.Fatalf("after the recurrence the receiver got keys %q; want a second, new key", keys)
	}
	if got := results(ce.notifyRecords(inc.ID)); got != "interrupted,applied,no_change,applied" {
		t.Errorf("notification records: %s", got)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
