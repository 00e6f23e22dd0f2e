package sources_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/sources"
)

func withQueue(r *awsemu.SeedRegion) {
	r.Queues = append(r.Queues, awsemu.SeedQueue{Name: queueName})
}

// send puts a message on the test queue as EventBridge would.
func (f *fixture) send(body string) string {
	f.t.Helper()
	id, err := f.emu.SendMessage(prodAccount, region, queueName, body)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) queued() []awsemu.QueuedMessage {
	f.t.Helper()
	ms, err := f.emu.QueueMessages(prodAccount, region, queueName)
	if err != nil {
		f.t.Fatal(err)
	}
	return ms
}

// web1Event is the EventBridge event of the web-1 finding.
func web1Event(t *testing.T) string {
	return eventBridge(t, gdFinding(t, web1Finding, time.Date(2025, 3, 14, 4, 2, 55, 871e6, time.UTC), nil))
}

func sqsSource(t *testing.T, extra string) sources.Source {
	return newSource(t, "sqs", `queue_url = "`+queueURL+`"`+"\n"+extra)
}

func TestSQSAcceptedMessageIsDeletedOnce(t *testing.T) {
	f := newFixture(t, withQueue)
	body := web1Event(t)
	id := f.send(body)
	r := f.start(sqsSource(t, `wait = "1s"`), "sqs.test")
	f.waitFor("the message recorded and deleted", func() bool {
		b, _, _, _ := f.sink.snapshot()
		return len(b) == 1 && len(f.queued()) == 0
	})
	// One more long poll, to see that nothing comes again.
	time.Sleep(1200 * time.Millisecond)
	r.stop(t)

	batches, findings, rejected, calls := f.sink.snapshot()
	if len(batches) != 1 || calls != 1 || len(rejected) != 0 {
		t.Fatalf("%d batches, %d calls, %d rejected; want 1, 1, 0", len(batches), calls, len(rejected))
	}
	if b := batches[0]; b.Source != "sqs.test" || string(b.Data) != body || b.Cursor != nil {
		t.Errorf("batch = %+v, want the message body from sqs.test", b)
	}
	if len(findings) != 1 || findings[0].ID != "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7" || findings[0].Source != "guardduty" {
		t.Errorf("findings = %+v", findings)
	}
	if ok, failed := f.calls("DeleteMessageBatch"); ok != 1 || failed != 0 {
		t.Errorf("DeleteMessageBatch calls: %d ok, %d failed; want 1, 0", ok, failed)
	}
	if h, msg, _ := r.env.Status.Get(); h != sources.OK {
		t.Errorf("status %s %q, want OK", h, msg)
	}
	if !strings.Contains(f.logs.String(), id) {
		t.Errorf("the logs do not name message %s:\n%s", id, f.logs.String())
	}
	f.noBodies("CryptoCurrency", "BitcoinTool", "web-app")
}

func TestSQSRejectedMessageIsDeleted(t *testing.T) {
	f := newFixture(t, withQueue)
	f.send(`{"hello": "this is not a finding"}`)
	f.send(`not json at all`)
	r := f.start(sqsSource(t, `wait = "1s"`), "sqs.test")
	f.waitFor("both messages deleted", func() bool { return len(f.queued()) == 0 })
	r.stop(t)
	batches, _, rejected, _ := f.sink.snapshot()
	if len(batches) != 0 || len(rejected) != 2 {
		t.Fatalf("%d recorded, %d rejected; want 0 and 2", len(batches), len(rejected))
	}
	if h, _, _ := r.env.Status.Get(); h != sources.OK {
		t.Errorf("status %s: a rejection is not the source's failure", h)
	}
	if !strings.Contains(f.logs.String(), "message rejected") {
		t.Errorf("no rejection logged:\n%s", f.logs.String())
	}
	f.noBodies("hello", "not json")
}

// State is down when the message first arrives: the message stays, comes
// back after its visibility timeout (received a second time), and is
// recorded then.
func TestSQSSinkFailureLeavesMessageForRedelivery(t *testing.T) {
	f := newFixture(t, withQueue)
	body := web1Event(t)
	f.send(body)
	var secondReceive atomic.Int64
	var statusAtRetry atomic.Value
	var r *running
	started := make(chan struct{})
	f.sink.setHook(func(_ context.Context, n int, b sources.Batch) error {
		<-started
		if n == 1 {
			return errStateDown
		}
		ms := f.queued()
		if len(ms) == 1 && ms[0].State == awsemu.MessageInFlight {
			secondReceive.Store(int64(ms[0].ReceiveCount))
		}
		h, msg, _ := r.env.Status.Get()
		statusAtRetry.Store(string(h) + " " + msg)
		return nil
	})
	r = f.start(sqsSource(t, "wait = \"2s\"\nvisibility_timeout = \"1s\""), "sqs.test")
	close(started)
	f.waitFor("the message recorded and deleted", func() bool {
		b, _, _, _ := f.sink.snapshot()
		return len(b) == 1 && len(f.queued()) == 0
	})
	r.stop(t)
	if n := secondReceive.Load(); n != 2 {
		t.Errorf("the message was recorded on receive %d, want 2", n)
	}
	if s, _ := statusAtRetry.Load().(string); !strings.HasPrefix(s, "ERROR ") || !strings.Contains(s, "state is unavailable") {
		t.Errorf("status while the sink was failing: %q, want ERROR naming the cause", s)
	}
	// No visibility change: the timeout is the backoff.
	if ok, _ := f.calls("ChangeMessageVisibilityBatch"); ok != 0 {
		t.Errorf("%d visibility changes, want none", ok)
	}
	if h, _, _ := r.env.Status.Get(); h != sources.OK {
		t.Errorf("status %s after recovering, want OK", h)
	}
}

// EventBridge → SNS → SQS: the queue holds SNS's envelope, and the sink
// gets the event inside.
func TestSQSUnwrapsSNSEnvelope(t *testing.T) {
	f := newFixture(t, withQueue)
	event := web1Event(t)
	envelope, err := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "4c2b4d1e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
		"TopicArn": "arn:aws:sns:us-west-2:123456789012:guardduty-findings", "Message": event,
		"Timestamp": "2025-03-14T04:03:00.000Z", "SignatureVersion": "1", "Signature": "c2lnbmF0dXJl",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.send(string(envelope))
	// A message that merely looks like an envelope (no topic) is passed
	// as it is, and rejected as not findings.
	f.send(`{"Type":"Notification","Message":"{}"}`)
	r := f.start(sqsSource(t, `wait = "1s"`), "sqs.test")
	f.waitFor("both messages deleted", func() bool { return len(f.queued()) == 0 })
	r.stop(t)
	batches, findings, rejected, _ := f.sink.snapshot()
	if len(batches) != 1 || string(batches[0].Data) != event {
		t.Fatalf("batches = %d; the first should be the event inside the envelope", len(batches))
	}
	if len(findings) != 1 || findings[0].Source != "guardduty" {
		t.Errorf("findings = %+v", findings)
	}
	if len(rejected) != 1 || !strings.Contains(string(rejected[0].Data), `"Notification"`) {
		t.Errorf("rejected = %d, want the envelope without a topic, as it was", len(rejected))
	}
	if !strings.Contains(f.logs.String(), "sns=true") {
		t.Errorf("the log does not say the message came through SNS:\n%s", f.logs.String())
	}
}

// Throttled receives beyond the SDK's attempts and failing deletes: the
// source backs off, reports the error, and loses nothing.
func TestSQSRetriesThrottlingAndServerErrors(t *testing.T) {
	f := newFixture(t, withQueue)
	body := web1Event(t)
	f.send(body)
	// Five: every attempt the SDK makes of the first receive. (The SDK's
	// adaptive mode then spaces its calls out: this test takes seconds.)
	f.emu.Faults().Throttle("sqs:ReceiveMessage", 5)
	f.emu.Faults().ServerError("sqs:DeleteMessageBatch", 2)
	var sawError atomic.Bool
	var r *running
	started := make(chan struct{})
	f.sink.setHook(func(context.Context, int, sources.Batch) error {
		<-started
		if h, msg, _ := r.env.Status.Get(); h == sources.Error && strings.Contains(msg, "RequestThrottled") {
			sawError.Store(true)
		}
		return nil
	})
	r = f.start(sqsSource(t, `wait = "1s"`), "sqs.test")
	close(started)
	f.waitFor("the message recorded and deleted", func() bool {
		b, _, _, _ := f.sink.snapshot()
		return len(b) == 1 && len(f.queued()) == 0
	})
	r.stop(t)
	if !sawError.Load() {
		t.Error("the status did not report the throttling before the message came through")
	}
	if _, failed := f.calls("ReceiveMessage"); failed != 5 {
		t.Errorf("%d throttled receives, want 5", failed)
	}
	if ok, failed := f.calls("DeleteMessageBatch"); ok != 1 || failed != 2 {
		t.Errorf("DeleteMessageBatch: %d ok, %d failed; want 1 and 2 (retried by the SDK)", ok, failed)
	}
	if b, _, _, calls := f.sink.snapshot(); len(b) != 1 || calls != 1 {
		t.Errorf("%d batches in %d calls, want 1 in 1", len(b), calls)
	}
	if h, _, _ := r.env.Status.Get(); h != sources.OK {
		t.Errorf("status %s, want OK", h)
	}
}

// A commit slower than the visibility timeout: the source extends the
// visibility while it waits, so a second replica polling the same queue
// never receives the message.
func TestSQSHeartbeatKeepsSlowCommitInvisible(t *testing.T) {
	f := newFixture(t, withQueue)
	f.send(web1Event(t))
	f.sink.setHook(func(_ context.Context, n int, _ sources.Batch) error {
		if n == 1 {
			time.Sleep(3500 * time.Millisecond)
		}
		return nil
	})
	cfg := "wait = \"1s\"\nvisibility_timeout = \"2s\""
	a := f.start(sqsSource(t, cfg), "sqs.test")
	f.waitFor("the first replica to receive the message", func() bool {
		_, _, _, calls := f.sink.snapshot()
		return calls == 1
	})
	b := f.start(sqsSource(t, cfg), "sqs.test")
	f.waitFor("the message recorded and deleted", func() bool {
		bs, _, _, _ := f.sink.snapshot()
		return len(bs) == 1 && len(f.queued()) == 0
	})
	time.Sleep(1200 * time.Millisecond)
	a.stop(t)
	b.stop(t)
	if _, _, _, calls := f.sink.snapshot(); calls != 1 {
		t.Errorf("the sink was handed the message %d times, want once", calls)
	}
	if ok, _ := f.calls("ChangeMessageVisibilityBatch"); ok < 2 {
		t.Errorf("%d visibility extensions in 3.5s with a 2s timeout, want at least 2", ok)
	}
	if !strings.Contains(f.logs.String(), "message visibility extended") {
		t.Errorf("no extension logged:\n%s", f.logs.String())
	}
}

// Stopping cancels the long poll in flight at once.
func TestSQSStopCancelsLongPoll(t *testing.T) {
	f := newFixture(t, withQueue)
	r := f.start(sqsSource(t, `wait = "20s"`), "sqs.test")
	// The role is assumed, then the long poll waits.
	time.Sleep(500 * time.Millisecond)
	if took := r.stop(t); took > 2*time.Second {
		t.Errorf("Run returned %s after the stop, want well under the 20s wait", took)
	}
	// A message sent after the stop is there for the next start.
	f.send(web1Event(t))
	if ms := f.queued(); len(ms) != 1 || ms[0].State != awsemu.MessageVisible || ms[0].ReceiveCount != 0 {
		t.Errorf("queue after the stop: %+v", ms)
	}
}

// A commit under way when the source stops is waited for, and its
// message deleted.
func TestSQSStopWaitsForCommitInProgress(t *testing.T) {
	f := newFixture(t, withQueue)
	f.send(web1Event(t))
	inAccept := make(chan struct{})
	f.sink.setHook(func(context.Context, int, sources.Batch) error {
		close(inAccept)
		// Like the daemon's inbox, a commit already queued is finished
		// whatever the context says.
		time.Sleep(500 * time.Millisecond)
		return nil
	})
	r := f.start(sqsSource(t, `wait = "1s"`), "sqs.test")
	<-inAccept
	if took := r.stop(t); took < 300*time.Millisecond {
		t.Errorf("Run returned after %s, before the commit under way finished", took)
	}
	if b, _, _, _ := f.sink.snapshot(); len(b) != 1 {
		t.Fatalf("%d batches recorded, want 1", len(b))
	}
	if ms := f.queued(); len(ms) != 0 {
		t.Errorf("the recorded message was not deleted: %+v", ms)
	}
}

// Messages received but not handed over when the source stops go back to
// the queue at once, for another replica or the next start.
func TestSQSStopGivesBackUnhandedMessages(t *testing.T) {
	f := newFixture(t, withQueue)
	f.send(web1Event(t))
	inAccept := make(chan struct{})
	f.sink.setHook(func(ctx context.Context, _ int, _ sources.Batch) error {
		close(inAccept)
		// Like the inbox before the batch is queued: a stop ends the
		// wait, and nothing is recorded.
		<-ctx.Done()
		return ctx.Err()
	})
	r := f.start(sqsSource(t, "wait = \"1s\"\nvisibility_timeout = \"5m\""), "sqs.test")
	<-inAccept
	r.stop(t)
	ms := f.queued()
	if len(ms) != 1 || ms[0].State != awsemu.MessageVisible || ms[0].ReceiveCount != 1 {
		t.Fatalf("queue after the stop: %+v; want the message visible again, received once", ms)
	}
	if b, _, _, _ := f.sink.snapshot(); len(b) != 0 {
		t.Errorf("%d batches recorded, want none", len(b))
	}
}

// A queue that does not exist: the source reports why and keeps trying,
// with backoff.
func TestSQSMissingQueueIsReported(t *testing.T) {
	f := newFixture(t, withQueue)
	src := newSource(t, "sqs", `queue_url = "https://sqs.us-west-2.amazonaws.com/123456789012/no-such-queue"`+"\nwait = \"1s\"")
	r := f.start(src, "sqs.missing")
	f.waitFor("the error reported", func() bool {
		h, msg, _ := r.env.Status.Get()
		return h == sources.Error && strings.Contains(msg, "no-such-queue") && strings.Contains(msg, "NonExistentQueue")
	})
	time.Sleep(time.Second)
	r.stop(t)
	if _, failed := f.calls("ReceiveMessage"); failed < 2 || failed > 5 {
		t.Errorf("%d failed receives in about a second, want a few: retried with backoff", failed)
	}
}

// Without AWS clients, Run fails at once (the daemon restarts it with
// backoff and reports the error).
func TestSQSWithoutAWS(t *testing.T) {
	src := sqsSource(t, "")
	err := src.Run(context.Background(), &sources.Env{Name: "sqs.test", Sink: newRecordingSink(), Status: sources.NewStatus()})
	if err == nil || !strings.Contains(err.Error(), "no AWS access") {
		t.Errorf("Run without AWS = %v", err)
	}
}

// The daemon drains before it stops its sources: the sink refuses what
// arrives meanwhile, and the source, stopped while backing off, gives
// those messages back at once.
func TestSQSStopWhileDrainingGivesBack(t *testing.T) {
	f := newFixture(t, withQueue)
	f.send(web1Event(t))
	refused := make(chan struct{})
	f.sink.setHook(func(context.Context, int, sources.Batch) error {
		close(refused)
		return errors.New("cordon serve is shutting down")
	})
	r := f.start(sqsSource(t, "wait = \"1s\"\nvisibility_timeout = \"5m\""), "sqs.test")
	<-refused
	time.Sleep(50 * time.Millisecond)
	r.stop(t)
	ms := f.queued()
	if len(ms) != 1 || ms[0].State != awsemu.MessageVisible || ms[0].ReceiveCount != 1 {
		t.Fatalf("queue after the stop: %+v; want the message visible again, received once", ms)
	}
}
