package sources_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
	"github.com/cordonhq/cordon/schema"
	"github.com/cordonhq/cordon/sources"
)

// Finding ids of the fixtures.
const (
	web1ID     = "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7"
	bastionID  = "3a9f5e7c1b2d4f6a8c0e2b4d6f8a0c2e"
	backdoorID = "7e4d1c9b2a8f4e5d9c3b1a0f8e7d6c5b"
	probeID    = "e5d4c3b2a1f04e9d8c7b6a5f4e3d2c1b"
	iamID      = "4f3e2d1c0b9a48f7e6d5c4b3a2918f7e"
)

// gdBase is "now" for the GuardDuty tests: the sources' clock, which the
// findings' updatedAt are set from.
var gdBase = time.Now().UTC().Truncate(time.Millisecond)

// withDetector gives the production account's region a detector holding
// three current findings, one updated two hours ago (before the default
// lookback) and one archived.
func withDetector(t *testing.T) func(*awsemu.SeedRegion) {
	return func(r *awsemu.SeedRegion) {
		r.GuardDuty = &awsemu.SeedGuardDuty{DetectorID: detectorID, Findings: []json.RawMessage{
			gdFinding(t, web1Finding, gdBase.Add(-30*time.Minute), nil),
			gdFinding(t, bastionFinding, gdBase.Add(-20*time.Minute), nil),
			gdFinding(t, backdoorFinding, gdBase.Add(-10*time.Minute), nil),
			gdFinding(t, "../policies/testdata/findings/iam_discovery_anomalous_behavior.json", gdBase.Add(-2*time.Hour), nil),
			gdFinding(t, "../policies/testdata/findings/ec2_recon_portprobe_unprotected_port.json", gdBase.Add(-15*time.Minute), func(m map[string]any) {
				m["service"].(map[string]any)["archived"] = true
			}),
		}}
	}
}

func gdCursorName(account string) string {
	return "guardduty.test/" + account + "/" + region + "/" + detectorID
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func ids(fs []*schema.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func TestGuardDutyFirstPollDeliversAndStoresCursor(t *testing.T) {
	f := newFixture(t, withDetector(t))
	clk := newClock(gdBase)
	// eu-west-1 has no detector: nothing to poll there, and no error.
	src := newSource(t, "guardduty", `regions = ["us-west-2", "eu-west-1"]
interval = "1h"
account  = "123456789012"`)
	r := f.start(src, "guardduty.test", func(e *sources.Env) { e.Now = clk.now })
	f.waitFor("the cursor stored", func() bool {
		_, ok := f.sink.cursor(gdCursorName(prodAccount))
		h, _, _ := r.env.Status.Get()
		return ok && h == sources.OK
	})
	if took := r.stop(t); took > time.Second {
		t.Errorf("Run took %s to stop while waiting for the next interval", took)
	}
	batches, findings, rejected, _ := f.sink.snapshot()
	if len(batches) != 1 || len(rejected) != 0 {
		t.Fatalf("%d batches, %d rejected; want one page and no rejection", len(batches), len(rejected))
	}
	// Oldest first; not the one updated before the lookback, nor the
	// archived one.
	if got, want := ids(findings), []string{web1ID, bastionID, backdoorID}; !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for _, fd := range findings {
		if fd.Source != "guardduty" {
			t.Errorf("finding %s parsed as %s, want guardduty", fd.ID, fd.Source)
		}
	}
	// GuardDuty's own JSON, as GetFindings answers it: camelCase.
	b := batches[0]
	if !bytes.HasPrefix(b.Data, []byte(`{"findings":[`)) || !bytes.Contains(b.Data, []byte(`"updatedAt":"`+gdTime(gdBase.Add(-30*time.Minute))+`"`)) ||
		bytes.Contains(b.Data, []byte(`"UpdatedAt"`)) {
		t.Errorf("batch data is not the GetFindings response body: %.300s", b.Data)
	}
	// The page's cursor is the horizon: a minute before the poll.
	want := ms(gdBase.Add(-time.Minute))
	if b.Source != "guardduty.test" || b.Cursor == nil || b.Cursor.Name != gdCursorName(prodAccount) || b.Cursor.Value != want {
		t.Errorf("batch source %q cursor %+v, want guardduty.test and %s=%s", b.Source, b.Cursor, gdCursorName(prodAccount), want)
	}
	for op, n := range map[string]int{"ListDetectors": 2, "ListFindings": 1, "GetFindings": 1} {
		if ok, failed := f.calls(op); ok != n || failed != 0 {
			t.Errorf("%s: %d ok, %d failed; want %d ok", op, ok, failed, n)
		}
	}
	f.noBodies("CryptoCurrency", "BitcoinTool")
}

// 120 findings: three pages of ListFindings, three batches, the cursor
// moving with each page.
func TestGuardDutyPagesMoveTheCursor(t *testing.T) {
	var all []json.RawMessage
	f := newFixture(t, func(r *awsemu.SeedRegion) {
		for i := range 120 {
			at := gdBase.Add(-50*time.Minute + time.Duration(i)*10*time.Second)
			all = append(all, gdFinding(t, web1Finding, at, func(m map[string]any) {
				m["id"] = fmt.Sprintf("%032x", i+1)
				m["arn"] = fmt.Sprintf("arn:aws:guardduty:us-west-2:123456789012:detector/%s/finding/%032x", detectorID, i+1)
			}))
		}
		r.GuardDuty = &awsemu.SeedGuardDuty{DetectorID: detectorID, Findings: all}
	})
	clk := newClock(gdBase)
	r := f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1h\"\naccount = \"123456789012\""), "guardduty.test",
		func(e *sources.Env) { e.Now = clk.now })
	f.waitFor("the last page's cursor", func() bool {
		v, _ := f.sink.cursor(gdCursorName(prodAccount))
		return v == ms(gdBase.Add(-time.Minute))
	})
	r.stop(t)
	batches, findings, _, _ := f.sink.snapshot()
	if len(batches) != 3 || len(findings) != 120 {
		t.Fatalf("%d batches, %d findings; want 3 pages of 120 findings", len(batches), len(findings))
	}
	// Page 1 ends with finding 50, page 2 with finding 100.
	wantCursors := []string{
		ms(gdBase.Add(-50*time.Minute + 49*10*time.Second)),
		ms(gdBase.Add(-50*time.Minute + 99*10*time.Second)),
		ms(gdBase.Add(-time.Minute)),
	}
	for i, b := range batches {
		if b.Cursor == nil || b.Cursor.Value != wantCursors[i] {
			t.Errorf("page %d cursor %+v, want %s", i+1, b.Cursor, wantCursors[i])
		}
	}
	for i, fd := range findings {
		if want := fmt.Sprintf("%032x", i+1); fd.ID != want {
			t.Fatalf("finding %d is %s, want %s: oldest first", i, fd.ID, want)
		}
	}
}

// GuardDuty re-publishes a finding it sees again, with a newer updatedAt:
// the next poll delivers the new version.
func TestGuardDutyRepublishedFindingOnNextPoll(t *testing.T) {
	f := newFixture(t, withDetector(t))
	clk := newClock(gdBase)
	r := f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1s\"\naccount = \"123456789012\""), "guardduty.test",
		func(e *sources.Env) { e.Now = clk.now })
	f.waitFor("the first poll", func() bool {
		_, fs, _, _ := f.sink.snapshot()
		return len(fs) == 3
	})
	clk.add(2 * time.Minute)
	newer := gdBase.Add(90 * time.Second)
	if err := f.emu.PutFinding(prodAccount, region, detectorID, gdFinding(t, web1Finding, newer, func(m map[string]any) {
		m["service"].(map[string]any)["count"] = 28
	})); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the re-published finding", func() bool {
		_, fs, _, _ := f.sink.snapshot()
		return len(fs) == 4
	})
	r.stop(t)
	_, findings, _, _ := f.sink.snapshot()
	got := findings[3]
	if at, err := time.Parse(time.RFC3339Nano, got.UpdatedAt); got.ID != web1ID || err != nil || !at.Equal(newer) {
		t.Errorf("fourth finding %s updated %s, want %s updated %s", got.ID, got.UpdatedAt, web1ID, gdTime(newer))
	}
	if v, _ := f.sink.cursor(gdCursorName(prodAccount)); v != ms(clk.now().Add(-time.Minute)) {
		t.Errorf("cursor %s, want the horizon of the last poll, %s", v, ms(clk.now().Add(-time.Minute)))
	}
}

// State is down: nothing is recorded, the cursor stays where it was, and
// the poll is retried before the next interval.
func TestGuardDutyCursorStaysWhenSinkFails(t *testing.T) {
	f := newFixture(t, withDetector(t))
	clk := newClock(gdBase)
	var r *running
	started := make(chan struct{})
	failures := make(chan string, 2)
	f.sink.setHook(func(_ context.Context, n int, _ sources.Batch) error {
		<-started
		if n <= 2 {
			if n == 2 {
				if v, ok := f.sink.cursor(gdCursorName(prodAccount)); ok {
					t.Errorf("the cursor moved to %s though the sink failed", v)
				}
				_, msg, _ := r.env.Status.Get()
				failures <- msg
			}
			return errStateDown
		}
		return nil
	})
	r = f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1h\"\naccount = \"123456789012\""), "guardduty.test",
		func(e *sources.Env) { e.Now = clk.now })
	close(started)
	f.waitFor("the findings recorded after state came back", func() bool {
		_, fs, _, _ := f.sink.snapshot()
		_, ok := f.sink.cursor(gdCursorName(prodAccount))
		return len(fs) == 3 && ok
	})
	r.stop(t)
	if msg := <-failures; !strings.Contains(msg, "us-west-2") || !strings.Contains(msg, "state is unavailable") {
		t.Errorf("status while failing: %q", msg)
	}
	if ok, _ := f.calls("ListFindings"); ok != 3 {
		t.Errorf("%d ListFindings calls, want 3: retried with backoff, not after the hour's interval", ok)
	}
	if h, _, _ := r.env.Status.Get(); h != sources.OK {
		t.Errorf("status %s after recovering", h)
	}
}

// ListFindings throttled beyond the SDK's attempts: the poll fails, says
// why, and is retried with backoff.
func TestGuardDutyThrottledListFindingsRetried(t *testing.T) {
	f := newFixture(t, withDetector(t))
	f.emu.Faults().Throttle("guardduty:ListFindings", 5)
	clk := newClock(gdBase)
	var sawThrottled bool
	var r *running
	started := make(chan struct{})
	f.sink.setHook(func(context.Context, int, sources.Batch) error {
		<-started
		_, msg, _ := r.env.Status.Get()
		sawThrottled = sawThrottled || strings.Contains(msg, "TooManyRequestsException")
		return nil
	})
	r = f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1h\"\naccount = \"123456789012\""), "guardduty.test",
		func(e *sources.Env) { e.Now = clk.now })
	close(started)
	f.waitFor("the findings", func() bool {
		_, fs, _, _ := f.sink.snapshot()
		return len(fs) == 3
	})
	r.stop(t)
	if !sawThrottled {
		t.Error("the status did not report the throttling")
	}
	if ok, failed := f.calls("ListFindings"); ok != 1 || failed != 5 {
		t.Errorf("ListFindings: %d ok, %d throttled; want 1 and 5", ok, failed)
	}
}

// Access denied is not retried before the next interval: it needs a
// change of policy, not another try.
func TestGuardDutyAccessDeniedWaitsForInterval(t *testing.T) {
	f := newFixture(t, withDetector(t))
	f.emu.Faults().Fail("guardduty:ListDetectors", "*", "AccessDeniedException", "User is not authorized to perform: guardduty:ListDetectors")
	r := f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1h\"\naccount = \"123456789012\""), "guardduty.test")
	f.waitFor("the error reported", func() bool {
		h, msg, _ := r.env.Status.Get()
		return h == sources.Error && strings.Contains(msg, "AccessDenied")
	})
	time.Sleep(1500 * time.Millisecond)
	r.stop(t)
	if _, failed := f.calls("ListDetectors"); failed != 1 {
		t.Errorf("%d denied ListDetectors calls, want 1", failed)
	}
}

// Without account, the detectors polled are those of cordon's own
// credentials' account.
func TestGuardDutyDefaultAccountIsTheCredentials(t *testing.T) {
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	editRegion(t, seed, demo.SecurityAccount, region, func(r *awsemu.SeedRegion) {
		r.GuardDuty = &awsemu.SeedGuardDuty{DetectorID: detectorID, Findings: []json.RawMessage{
			gdFinding(t, web1Finding, gdBase.Add(-5*time.Minute), func(m map[string]any) {
				m["accountId"] = demo.SecurityAccount
				m["arn"] = strings.Replace(m["arn"].(string), prodAccount, demo.SecurityAccount, 1)
			}),
		}}
	})
	// No role: cordon polls as itself.
	f := newFixtureSeed(t, seed, "")
	clk := newClock(gdBase)
	r := f.start(newSource(t, "guardduty", `regions = ["us-west-2"]`), "guardduty.test", func(e *sources.Env) { e.Now = clk.now })
	f.waitFor("the security account's finding", func() bool {
		_, fs, _, _ := f.sink.snapshot()
		_, ok := f.sink.cursor(gdCursorName(demo.SecurityAccount))
		return len(fs) == 1 && ok
	})
	r.stop(t)
	if ok, _ := f.calls("GetCallerIdentity"); ok != 1 {
		t.Errorf("%d GetCallerIdentity calls, want 1", ok)
	}
}

// A page the sink rejects is handed again a finding at a time: the
// findings it can record are recorded, and the cursor moves past the one
// it cannot.
func TestGuardDutyRejectedPageHandedOneByOne(t *testing.T) {
	f := newFixture(t, withDetector(t))
	clk := newClock(gdBase)
	f.sink.setHook(func(_ context.Context, _ int, b sources.Batch) error {
		if bytes.Contains(b.Data, []byte(bastionID)) {
			return &sources.RejectedError{ID: 7, Reason: "test: the bastion finding is unreadable"}
		}
		return nil
	})
	r := f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1h\"\naccount = \"123456789012\""), "guardduty.test",
		func(e *sources.Env) { e.Now = clk.now })
	f.waitFor("the cursor stored", func() bool {
		_, ok := f.sink.cursor(gdCursorName(prodAccount))
		return ok
	})
	r.stop(t)
	batches, findings, _, calls := f.sink.snapshot()
	if got, want := ids(findings), []string{web1ID, backdoorID}; !slices.Equal(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	// The page, each of its three findings, then the cursor alone.
	if calls != 5 || len(batches) != 2 {
		t.Errorf("%d calls, %d batches recorded; want 5 and 2", calls, len(batches))
	}
	if v, _ := f.sink.cursor(gdCursorName(prodAccount)); v != ms(gdBase.Add(-time.Minute)) {
		t.Errorf("cursor %s", v)
	}
	if h, _, _ := r.env.Status.Get(); h != sources.OK {
		t.Errorf("status %s: a rejection is not the source's failure", h)
	}
}

// An empty detector still moves the cursor, so that a restart after a
// long stop looks back to it rather than only the lookback.
func TestGuardDutyEmptyPollMovesCursor(t *testing.T) {
	f := newFixture(t, func(r *awsemu.SeedRegion) {
		r.GuardDuty = &awsemu.SeedGuardDuty{DetectorID: detectorID, Findings: []json.RawMessage{}}
	})
	clk := newClock(gdBase)
	r := f.start(newSource(t, "guardduty", "regions = [\"us-west-2\"]\ninterval = \"1h\"\naccount = \"123456789012\""), "guardduty.test",
		func(e *sources.Env) { e.Now = clk.now })
	f.waitFor("the cursor stored", func() bool {
		v, _ := f.sink.cursor(gdCursorName(prodAccount))
		return v == ms(gdBase.Add(-time.Minute))
	})
	r.stop(t)
	if b, _, _, _ := f.sink.snapshot(); len(b) != 0 {
		t.Errorf("%d batches with findings, want none", len(b))
	}
}
