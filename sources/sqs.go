package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/wait"
)

// sqsSource receives findings from an SQS queue: the AWS-native route, an
// EventBridge rule on GuardDuty or Security Hub findings targeting the
// queue (directly, or through an SNS topic).
//
//	source "sqs" "guardduty_events" {
//	  queue_url          = "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings"
//	  wait               = "20s"  # long poll, at most 20s
//	  visibility_timeout = "5m"   # how long a received message stays invisible to other receivers
//	  max_messages       = 10     # per receive, 1 to 10
//	  region             = "us-west-2"     # default: from the URL's host, else the provider's
//	  account            = "123456789012"  # default: from the URL's path
//	}
//
// The queue is read with the provider's credentials for account: with
// assume_role_arn, the role assumed in that account, as for any other
// call cordon makes there.
//
// A message is deleted only once the sink has committed what it holds,
// or recorded it as rejected (input that is not findings must not block
// the queue). Any other failure leaves the message in the queue: SQS
// delivers it again once its visibility timeout expires, which is also
// the backoff (it is not made visible at once, which during a state outage
// would spin through the queue's maxReceiveCount and send every message to
// the dead-letter queue within a minute). While the sink takes longer than
// half the visibility timeout, the timeout is extended, so that another
// replica cannot receive the message while it is being committed.
//
// When the source stops, a long poll in flight is cancelled, a commit
// already under way is waited for and acknowledged, and messages received
// but not handed over are made visible again at once, for another replica
// or the next start.
type sqsSource struct {
	queueURL string
	queue    string // the queue's name, for logs and messages
	account  string
	region   string // empty: the provider's
	// wait and visibility are in seconds, as SQS takes them.
	wait, visibility int32
	maxMessages      int32
}

const (
	sqsDefaultWait       = 20 * time.Second
	sqsMaxWait           = 20 * time.Second
	sqsDefaultVisibility = 5 * time.Minute // longer than a commit can take
	sqsMaxVisibility     = 12 * time.Hour
	sqsMaxMessages       = 10
)

func init() {
	Register(&Definition{
		Type:    "sqs",
		Summary: "Receive findings from an SQS queue (EventBridge → SQS, or → SNS → SQS)",
		Attributes: hcldec.ObjectSpec{
			"queue_url":          &hcldec.AttrSpec{Name: "queue_url", Type: cty.String, Required: true},
			"wait":               &hcldec.AttrSpec{Name: "wait", Type: cty.String},
			"visibility_timeout": &hcldec.AttrSpec{Name: "visibility_timeout", Type: cty.String},
			"max_messages":       &hcldec.AttrSpec{Name: "max_messages", Type: cty.Number},
			"region":             &hcldec.AttrSpec{Name: "region", Type: cty.String},
			"account":            &hcldec.AttrSpec{Name: "account", Type: cty.String},
		},
		// DeleteMessageBatch and ChangeMessageVisibilityBatch are
		// authorized as DeleteMessage and ChangeMessageVisibility.
		IAMActions: []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"},
		New:        newSQSSource,
	})
}

func newSQSSource(cfg cty.Value) (Source, error) {
	s := &sqsSource{queueURL: attrString(cfg, "queue_url")}
	account, region, name, err := parseQueueURL(s.queueURL)
	if err != nil {
		return nil, &AttributeError{Attribute: "queue_url", Summary: "Invalid queue URL", Detail: err.Error()}
	}
	s.queue, s.account, s.region = name, account, region
	if r := attrString(cfg, "region"); r != "" {
		if err := checkRegion("region", r); err != nil {
			return nil, err
		}
		if region != "" && r != region {
			return nil, &AttributeError{Attribute: "region", Summary: "Conflicting region",
				Detail: fmt.Sprintf("The queue URL names region %s; region is %s. Leave region out: it is read from the URL.", region, r)}
		}
		s.region = r
	}
	if a := attrString(cfg, "account"); a != "" {
		if err := checkAccount("account", a); err != nil {
			return nil, err
		}
		s.account = a
	}
	if s.wait, err = attrSeconds(cfg, "wait", sqsDefaultWait, time.Second, sqsMaxWait); err != nil {
		return nil, err
	}
	if s.visibility, err = attrSeconds(cfg, "visibility_timeout", sqsDefaultVisibility, time.Second, sqsMaxVisibility); err != nil {
		return nil, err
	}
	n, err := attrInt(cfg, "max_messages", sqsMaxMessages, 1, sqsMaxMessages)
	if err != nil {
		return nil, err
	}
	s.maxMessages = int32(n)
	return s, nil
}

var (
	queueNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	// sqsHostPattern finds the region in SQS's hosts: sqs.REGION.amazonaws.com,
	// sqs-fips.REGION.amazonaws.com, sqs.REGION.api.aws (dual stack) and
	// VPC endpoints' vpce-ID.sqs.REGION.vpce.amazonaws.com.
	sqsHostPattern = regexp.MustCompile(`(?:^|\.)sqs(?:-fips)?\.([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)\.`)
	// The legacy host form, REGION.queue.amazonaws.com, still served.
	legacyQueueHostPattern = regexp.MustCompile(`^([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)\.queue\.amazonaws\.com(?:\.cn)?$`)
)

// parseQueueURL reads a queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.
// Other hosts (a VPC endpoint, an emulator) are accepted with the same
// path; they name no region.
func parseQueueURL(raw string) (account, region, name string, err error) {
	example := " A queue URL looks like https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings (the console shows it, and so does `aws sqs get-queue-url`)."
	u, perr := url.Parse(raw)
	switch {
	case raw == "":
		return "", "", "", errors.New("queue_url is empty." + example)
	case perr != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "", "", "", fmt.Errorf("%q is not an http(s) URL.%s", raw, example)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", "", "", fmt.Errorf("%q has a user, query or fragment, which a queue URL has not.%s", raw, example)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 {
		return "", "", "", fmt.Errorf("%q is not an SQS queue URL: its path must be /ACCOUNT/QUEUE.%s", raw, example)
	}
	account, name = parts[0], parts[1]
	if !accountPattern.MatchString(account) {
		return "", "", "", fmt.Errorf("%q is not an SQS queue URL: %q is not an account ID (12 digits).%s", raw, account, example)
	}
	if !queueNamePattern.MatchString(strings.TrimSuffix(name, ".fifo")) || len(name) > 80 {
		return "", "", "", fmt.Errorf("%q is not an SQS queue URL: %q is not a queue name (1 to 80 letters, digits, '-' and '_', and .fifo for a FIFO queue).%s", raw, name, example)
	}
	host := u.Hostname()
	if m := sqsHostPattern.FindStringSubmatch(host); m != nil {
		region = m[1]
	} else if m := legacyQueueHostPattern.FindStringSubmatch(host); m != nil {
		region = m[1]
	} else if host == "queue.amazonaws.com" {
		region = "us-east-1"
	} else if strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn") {
		return "", "", "", fmt.Errorf("%q is not an SQS queue URL: %s is another service's host.%s", raw, host, example)
	}
	return account, region, name, nil
}

// Run receives until ctx is done.
func (s *sqsSource) Run(ctx context.Context, env *Env) error {
	if env.AWS == nil {
		return errNoAWS
	}
	r := &sqsRun{s: s, env: env, client: env.AWS.SQS(s.account, s.region), log: env.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r.loop(ctx)
}

// sqsRun is one run of an SQS source.
type sqsRun struct {
	s      *sqsSource
	env    *Env
	client *sqs.Client
	log    *slog.Logger
}

func (r *sqsRun) loop(ctx context.Context) error {
	bo := newBackoff(backoffBase, backoffMax)
	in := &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(r.s.queueURL),
		MaxNumberOfMessages: r.s.maxMessages,
		WaitTimeSeconds:     r.s.wait,
		VisibilityTimeout:   r.s.visibility,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
			sqstypes.MessageSystemAttributeNameApproximateReceiveCount,
		},
	}
	r.log.Info("receiving from SQS", "queue", r.s.queue, "wait_seconds", r.s.wait, "visibility_timeout_seconds", r.s.visibility)
	for ctx.Err() == nil {
		out, err := r.client.ReceiveMessage(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				// A long poll cancelled by the stop; messages SQS took
				// for it, if any, come back after their visibility
				// timeout.
				break
			}
			d := bo.next()
			r.env.Status.Set(Error, fmt.Sprintf("receiving from queue %s: %v", r.s.queue, err))
			r.log.Warn("receiving failed", "queue", r.s.queue, "error", err, "retry_in", d)
			if wait.Sleep(ctx, d) != nil {
				break
			}
			continue
		}
		if len(out.Messages) == 0 {
			r.env.Status.Set(OK, "")
			bo.reset()
			continue
		}
		if left, err := r.handle(ctx, out.Messages); err != nil {
			if ctx.Err() != nil {
				break
			}
			d := bo.next()
			r.env.Status.Set(Error, fmt.Sprintf("handing messages of queue %s to the inbox: %v", r.s.queue, err))
			r.log.Warn("messages not recorded; SQS delivers them again after their visibility timeout", "queue", r.s.queue, "messages", len(left), "error", err, "retry_in", d)
			if wait.Sleep(ctx, d) != nil {
				// Stopped while backing off (the sink was refusing
				// because the daemon is draining): give them back now.
				r.changeVisibility(ctx, left, 0, "given back")
				break
			}
			continue
		}
		r.env.Status.Set(OK, "")
		bo.reset()
	}
	r.log.Info("stopped receiving from SQS", "queue", r.s.queue)
	return nil
}

// outcome is what became of one received message.
type outcome struct {
	msg  sqstypes.Message
	done bool  // Accept returned
	ack  bool  // committed or rejected: delete it
	err  error // why not
}

// handle hands each message to the sink (concurrently: the sink commits
// batches that wait together in one transaction), extends the visibility
// of those still being committed, and deletes those the sink took. It
// returns the messages left in the queue and the first reason why.
func (r *sqsRun) handle(ctx context.Context, msgs []sqstypes.Message) ([]sqstypes.Message, error) {
	outs := make([]*outcome, len(msgs))
	var mu sync.Mutex // guards outcome.done for the heartbeat
	var wg sync.WaitGroup
	for i, m := range msgs {
		o := &outcome{msg: m}
		outs[i] = o
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack, err := r.accept(ctx, m)
			mu.Lock()
			o.done, o.ack, o.err = true, ack, err
			mu.Unlock()
		}()
	}
	stopBeat := make(chan struct{})
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		r.heartbeat(ctx, stopBeat, func() []sqstypes.Message {
			mu.Lock()
			defer mu.Unlock()
			var pending []sqstypes.Message
			for _, o := range outs {
				if !o.done {
					pending = append(pending, o.msg)
				}
			}
			return pending
		})
	}()
	wg.Wait()
	close(stopBeat)
	<-beatDone

	var acked, left []sqstypes.Message
	var firstErr error
	for _, o := range outs {
		if o.ack {
			acked = append(acked, o.msg)
			continue
		}
		left = append(left, o.msg)
		if firstErr == nil {
			firstErr = o.err
		}
	}
	r.delete(ctx, acked)
	if len(left) > 0 && ctx.Err() != nil {
		// Stopping: what was not handed over goes back to the queue now
		// rather than after its visibility timeout.
		r.changeVisibility(ctx, left, 0, "given back")
	}
	return left, firstErr
}

// accept hands one message to the sink. ack is true when it may be
// deleted: committed, or recorded as rejected.
func (r *sqsRun) accept(ctx context.Context, m sqstypes.Message) (ack bool, err error) {
	body := []byte(aws.ToString(m.Body))
	data, viaSNS := unwrapSNS(body)
	id := aws.ToString(m.MessageId)
	attrs := []any{"queue", r.s.queue, "message_id", id, "size", len(body), "receive_count", m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]}
	if viaSNS {
		attrs = append(attrs, "sns", true)
	}
	rec, err := r.env.Sink.Accept(ctx, Batch{Source: r.env.Name, Data: data})
	var rej *RejectedError
	switch {
	case errors.As(err, &rej):
		r.log.Warn("message rejected: not findings; deleting it", append(attrs, "rejection", rej.ID)...)
		return true, nil
	case err != nil:
		return false, err
	}
	dups := 0
	for _, d := range rec.Deliveries {
		if d.Duplicate {
			dups++
		}
	}
	r.log.Debug("message recorded", append(attrs, "findings", len(rec.Deliveries), "duplicates", dups)...)
	return true, nil
}

// heartbeat extends the visibility of the messages still being handed
// over, every half visibility timeout, until stop is closed. It keeps
// going after ctx is done: the sink finishes a commit it started, and
// until then the message must stay invisible.
func (r *sqsRun) heartbeat(ctx context.Context, stop <-chan struct{}, pending func() []sqstypes.Message) {
	period := time.Duration(r.s.visibility) * time.Second / 2
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if p := pending(); len(p) > 0 {
			r.changeVisibility(ctx, p, r.s.visibility, "extended")
		}
	}
}

// changeVisibility sets the visibility timeout of messages, in batches of
// ten. A failure is logged: the message then becomes visible when its
// current timeout expires, and the sink drops a second copy.
func (r *sqsRun) changeVisibility(ctx context.Context, msgs []sqstypes.Message, seconds int32, what string) {
	cctx, cancel := acknowledgeContext(ctx)
	defer cancel()
	for start := 0; start < len(msgs); start += 10 {
		chunk := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds}
		}
		out, err := r.client.ChangeMessageVisibilityBatch(cctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(r.s.queueURL), Entries: entries})
		if err != nil {
			r.log.Warn("changing message visibility failed", "queue", r.s.queue, "messages", len(chunk), "visibility_timeout_seconds", seconds, "error", err)
			continue
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			r.log.Warn("changing message visibility failed", "queue", r.s.queue, "message_id", aws.ToString(chunk[i].MessageId), "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
		}
		r.log.Debug("message visibility "+what, "queue", r.s.queue, "messages", len(out.Successful), "visibility_timeout_seconds", seconds)
	}
}

// delete deletes messages the sink took, in batches of ten. It runs even
// when ctx is done: what was committed is acknowledged. A message that
// could not be deleted comes back after its visibility timeout, and the
// sink drops the copy as a duplicate.
func (r *sqsRun) delete(ctx context.Context, msgs []sqstypes.Message) {
	if len(msgs) == 0 {
		return
	}
	dctx, cancel := acknowledgeContext(ctx)
	defer cancel()
	for start := 0; start < len(msgs); start += 10 {
		chunk := msgs[start:min(start+10, len(msgs))]
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := r.client.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.s.queueURL), Entries: entries})
		if err != nil {
			r.log.Error("deleting recorded messages failed; SQS will deliver them again and the copies are dropped as duplicates",
				"queue", r.s.queue, "messages", len(chunk), "error", err)
			continue
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			r.log.Error("deleting a recorded message failed; SQS will deliver it again and the copy is dropped as a duplicate",
				"queue", r.s.queue, "message_id", aws.ToString(chunk[i].MessageId), "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
		}
	}
}

// unwrapSNS returns the message an SNS notification envelope carries
// (EventBridge → SNS → SQS without raw message delivery), or body as it
// is. The envelope is recognized by its exact members: a finding may have
// a "type" of its own, and encoding/json would match it to "Type".
func unwrapSNS(body []byte) ([]byte, bool) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(body, []byte(`"Notification"`)) {
		return body, false
	}
	var env map[string]json.RawMessage
	if json.Unmarshal(body, &env) != nil {
		return body, false
	}
	var typ, topic, msg string
	if json.Unmarshal(env["Type"], &typ) != nil || typ != "Notification" ||
		json.Unmarshal(env["TopicArn"], &topic) != nil || !strings.HasPrefix(topic, "arn:") ||
		json.Unmarshal(env["Message"], &msg) != nil {
		return body, false
	}
	return []byte(msg), true
}
