package awsemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func sqsClient(e *env) *sqs.Client { return sqs.NewFromConfig(e.prod()) }

// newQueue creates a queue in the prod account, us-east-1, and returns its URL.
func (e *env) newQueue(name string, attrs map[string]string) string {
	e.t.Helper()
	out, err := sqsClient(e).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		e.t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return *out.QueueUrl
}

// at moves the emulator's clock to testNow+d.
func (e *env) at(d time.Duration) {
	e.emu.SetClock(func() time.Time { return testNow.Add(d) })
}

func receiveOne(t *testing.T, c *sqs.Client, url string) (types.Message, bool) {
	t.Helper()
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
	wantOK(t, err)
	if len(out.Messages) > 1 {
		t.Fatalf("asked for one message, got %d", len(out.Messages))
	}
	if len(out.Messages) == 0 {
		return types.Message{}, false
	}
	return out.Messages[0], true
}

func queueCounts(t *testing.T, c *sqs.Client, url string) (visible, inFlight, delayed string) {
	t.Helper()
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	wantOK(t, err)
	return out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"], out.Attributes["ApproximateNumberOfMessagesDelayed"]
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestSQSRoundTrip(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("findings", nil)
	if want := e.srv.URL + "/" + prodAccount + "/findings"; url != want {
		t.Fatalf("queue URL %s, want %s", url, want)
	}
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("findings")})
	wantOK(t, err)
	if *got.QueueUrl != url {
		t.Errorf("GetQueueUrl %s, want %s", *got.QueueUrl, url)
	}

	body := `{"detail-type":"GuardDuty Finding","detail":{"id":"a2c6"}}`
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{"MyAttribute": {DataType: aws.String("String"), StringValue: aws.String("foobar")}}})
	wantOK(t, err)
	// The digest of this attribute as SQS computes it, recorded from AWS.
	if aws.ToString(sent.MD5OfMessageAttributes) != "adb59cd4678ea5a855436b949cd07ab6" {
		t.Errorf("MD5OfMessageAttributes %s", aws.ToString(sent.MD5OfMessageAttributes))
	}

	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"}})
	wantOK(t, err)
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages", len(out.Messages))
	}
	m := out.Messages[0]
	snap := e.emu.Snapshot()
	alice := snap.Accounts[prodAccount].Users["alice"]
	checks := []struct {
		name      string
		got, want string
	}{
		{"id", *m.MessageId, *sent.MessageId},
		{"body", *m.Body, body},
		{"md5 of body", *m.MD5OfBody, *sent.MD5OfMessageBody},
		{"md5 of attributes", aws.ToString(m.MD5OfMessageAttributes), "adb59cd4678ea5a855436b949cd07ab6"},
		{"attribute", aws.ToString(m.MessageAttributes["MyAttribute"].StringValue), "foobar"},
		{"receive count", m.Attributes["ApproximateReceiveCount"], "1"},
		{"sent", m.Attributes["SentTimestamp"], strconv.FormatInt(testNow.UnixMilli(), 10)},
		{"first receive", m.Attributes["ApproximateFirstReceiveTimestamp"], strconv.FormatInt(testNow.UnixMilli(), 10)},
		{"sender", m.Attributes["SenderId"], alice.ID},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	msgs, err := e.emu.QueueMessages(prodAccount, "us-east-1", "findings")
	wantOK(t, err)
	if len(msgs) != 1 || msgs[0].State != MessageInFlight || msgs[0].ReceiveCount != 1 || !msgs[0].VisibleAt.Equal(testNow.Add(30*time.Second)) {
		t.Errorf("queue after receive: %+v", msgs)
	}

	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
	wantOK(t, err)
	// Deleting again with the same handle succeeds, as in SQS.
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
	wantOK(t, err)
	if v, f, d := queueCounts(t, c, url); v != "0" || f != "0" || d != "0" {
		t.Errorf("counts after delete: %s visible, %s in flight, %s delayed", v, f, d)
	}

	calls := e.callsOf("sqs:DeleteMessage")
	if len(calls) != 2 || !slices.Equal(calls[0].ResourceIDs, []string{"findings"}) || calls[0].Account != prodAccount || calls[0].Status != 200 {
		t.Errorf("DeleteMessage calls %+v", calls)
	}

	// The real form of the URL names the same queue.
	real := "https://sqs.us-east-1.amazonaws.com/" + prodAccount + "/findings"
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(real), MessageBody: aws.String("x")})
	wantOK(t, err)
	list, err := c.ListQueues(ctx, &sqs.ListQueuesInput{})
	wantOK(t, err)
	if !slices.Equal(list.QueueUrls, []string{url}) {
		t.Errorf("ListQueues %v", list.QueueUrls)
	}
}

func TestSQSVisibilityTimeout(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", nil)
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("hello")})
	wantOK(t, err)

	first, ok := receiveOne(t, c, url)
	if !ok {
		t.Fatal("no message")
	}
	if _, ok := receiveOne(t, c, url); ok {
		t.Fatal("a message in flight was delivered again")
	}
	if v, f, _ := queueCounts(t, c, url); v != "0" || f != "1" {
		t.Errorf("counts in flight: %s visible, %s not visible", v, f)
	}
	e.at(29 * time.Second)
	if _, ok := receiveOne(t, c, url); ok {
		t.Fatal("delivered before the 30 s visibility timeout")
	}
	e.at(30 * time.Second)
	second, ok := receiveOne(t, c, url)
	if !ok {
		t.Fatal("not redelivered after the visibility timeout")
	}
	if *second.ReceiptHandle == *first.ReceiptHandle {
		t.Error("redelivery kept the receipt handle")
	}
	if second.Attributes["ApproximateReceiveCount"] != "2" || second.Attributes["ApproximateFirstReceiveTimestamp"] != first.Attributes["ApproximateFirstReceiveTimestamp"] {
		t.Errorf("redelivery attributes %v", second.Attributes)
	}

	// A stale handle deletes nothing, and says nothing: as SQS does.
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first.ReceiptHandle})
	wantOK(t, err)
	if msgs, _ := e.emu.QueueMessages(prodAccount, "us-east-1", "q"); len(msgs) != 1 {
		t.Fatalf("a stale handle deleted the message: %+v", msgs)
	}
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second.ReceiptHandle})
	wantOK(t, err)
	if msgs, _ := e.emu.QueueMessages(prodAccount, "us-east-1", "q"); len(msgs) != 0 {
		t.Fatalf("current handle did not delete: %+v", msgs)
	}

	// A receive's own visibility timeout, and the queue's.
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("again")})
	wantOK(t, err)
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), VisibilityTimeout: 5})
	wantOK(t, err)
	if len(out.Messages) != 1 {
		t.Fatal("no message")
	}
	e.at(35 * time.Second)
	if _, ok := receiveOne(t, c, url); !ok {
		t.Error("receive's VisibilityTimeout 5 was not applied")
	}
	// A new queue timeout applies to later receives.
	_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: map[string]string{"VisibilityTimeout": "600"}})
	wantOK(t, err)
	e.at(65 * time.Second)
	if _, ok := receiveOne(t, c, url); !ok {
		t.Fatal("not redelivered after the old 30 s timeout")
	}
	e.at(664 * time.Second)
	if _, ok := receiveOne(t, c, url); ok {
		t.Error("redelivered within the queue's new 600 s timeout")
	}
	e.at(665 * time.Second)
	if _, ok := receiveOne(t, c, url); !ok {
		t.Error("not redelivered after the new 600 s timeout")
	}
}

func TestSQSDelay(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("delayed", map[string]string{"DelaySeconds": "60"})
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("later")})
	wantOK(t, err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("sooner"), DelaySeconds: 10})
	wantOK(t, err)
	if v, _, d := queueCounts(t, c, url); v != "0" || d != "2" {
		t.Errorf("counts: %s visible, %s delayed", v, d)
	}
	e.at(10 * time.Second)
	if m, ok := receiveOne(t, c, url); !ok || *m.Body != "sooner" {
		t.Errorf("after 10 s: %v %v", ok, m.Body)
	}
	e.at(60 * time.Second)
	if m, ok := receiveOne(t, c, url); !ok || *m.Body != "later" {
		t.Errorf("after 60 s: %v %v", ok, m.Body)
	}
}

func TestSQSChangeMessageVisibility(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", nil)
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("work")})
	wantOK(t, err)
	m, _ := receiveOne(t, c, url)

	// Extended while the work goes on: not redelivered at 30 s.
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 120})
	wantOK(t, err)
	e.at(100 * time.Second)
	if _, ok := receiveOne(t, c, url); ok {
		t.Fatal("redelivered although extended to 120 s")
	}
	// Extended again, counted from now.
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 60})
	wantOK(t, err)
	e.at(159 * time.Second)
	if _, ok := receiveOne(t, c, url); ok {
		t.Fatal("redelivered before the second extension ended")
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 43200})
	wantCode(t, err, "InvalidParameterValue") // beyond 12 hours from the receive

	// Timeout 0 releases the message at once.
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
	wantOK(t, err)
	// Visible, not in flight: its handle cannot change it any more.
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 30})
	wantCode(t, err, "AWS.SimpleQueueService.MessageNotInflight")
	var notInflight *types.MessageNotInflight
	if !errors.As(err, &notInflight) || httpStatus(err) != 400 {
		t.Errorf("MessageNotInflight: typed %v, status %d", notInflight != nil, httpStatus(err))
	}
	again, ok := receiveOne(t, c, url)
	if !ok || again.Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after release: %v %v", ok, again.Attributes)
	}
	// The first handle is stale now.
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 30})
	wantCode(t, err, "InvalidParameterValue")
}

func TestSQSReceiptHandleErrors(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", nil)
	other := e.newQueue("other", nil)
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(other), MessageBody: aws.String("x")})
	wantOK(t, err)
	m, _ := receiveOne(t, c, other)

	for name, handle := range map[string]string{"garbage": "not-a-handle", "other queue's": *m.ReceiptHandle} {
		t.Run(name, func(t *testing.T) {
			_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle)})
			wantCode(t, err, "ReceiptHandleIsInvalid")
			var typed *types.ReceiptHandleIsInvalid
			if !errors.As(err, &typed) {
				t.Errorf("not the SDK's typed error: %T", err)
			}
			if s := httpStatus(err); s != 404 {
				t.Errorf("status %d, want 404 (the SDK model's)", s)
			}
			_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: 10})
			wantCode(t, err, "ReceiptHandleIsInvalid")
		})
	}
}

// The wire format of an error, as the SDK's query-compatible awsJson1_0
// decoder reads it.
func TestSQSErrorWire(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/", strings.NewReader(`{"QueueName":"absent"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+aliceKey+"/20250301/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	wantOK(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Query-Error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" ||
		resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
		string(b) != `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}` {
		t.Errorf("%d %v %s", resp.StatusCode, resp.Header, b)
	}
}

func TestSQSErrors(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", map[string]string{"VisibilityTimeout": "45"})
	small := e.newQueue("small", map[string]string{"MaximumMessageSize": "1024"})
	send := func(u, body string) func() error {
		return func() error {
			_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body)})
			return err
		}
	}
	create := func(name string, attrs map[string]string) func() error {
		return func() error {
			_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
			return err
		}
	}
	cases := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"unknown queue name", func() error {
			_, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("absent")})
			return err
		}, "AWS.SimpleQueueService.NonExistentQueue", 400},
		{"unknown queue URL", send(e.srv.URL+"/"+prodAccount+"/absent", "x"), "AWS.SimpleQueueService.NonExistentQueue", 400},
		{"queue of another region", send("https://sqs.eu-west-1.amazonaws.com/"+prodAccount+"/q", "x"), "AWS.SimpleQueueService.NonExistentQueue", 400},
		{"another account's queue", send(e.srv.URL+"/"+securityAccount+"/q", "x"), "AccessDenied", 403},
		{"malformed URL", send("q", "x"), "InvalidAddress", 404},
		{"oversize message", send(url, strings.Repeat("x", 1<<20+1)), "InvalidParameterValue", 400},
		{"over the queue's maximum", send(small, strings.Repeat("x", 1025)), "InvalidParameterValue", 400},
		{"invalid characters", send(url, "bell\u0007"), "InvalidMessageContents", 400},
		{"too many messages asked", func() error {
			_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11})
			return err
		}, "InvalidParameterValue", 400},
		{"wait too long", func() error {
			_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 21})
			return err
		}, "InvalidParameterValue", 400},
		{"unknown message attribute name", func() error {
			_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageSystemAttributeNames: []types.MessageSystemAttributeName{"Colour"}})
			return err
		}, "InvalidAttributeName", 400},
		{"bad delay", func() error {
			_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), DelaySeconds: 901})
			return err
		}, "InvalidParameterValue", 400},
		{"bad attribute value", create("bad", map[string]string{"VisibilityTimeout": "50000"}), "InvalidAttributeValue", 400},
		{"unknown attribute", create("bad", map[string]string{"Colour": "red"}), "InvalidAttributeName", 400},
		{"FIFO", create("q.fifo", nil), "InvalidParameterValue", 400},
		{"bad name", create("no spaces", nil), "InvalidParameterValue", 400},
		{"exists with other attributes", create("q", map[string]string{"VisibilityTimeout": "30"}), "QueueAlreadyExists", 400},
		{"DLQ that does not exist", create("src", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:absent","maxReceiveCount":3}`}), "InvalidParameterValue", 400},
		{"redrive count", create("src", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:q","maxReceiveCount":0}`}), "InvalidParameterValue", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, tc.code)
			if s := httpStatus(err); s != tc.status {
				t.Errorf("status %d, want %d", s, tc.status)
			}
		})
	}
	var noQueue *types.QueueDoesNotExist
	if _, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("absent")}); !errors.As(err, &noQueue) {
		t.Errorf("not the SDK's QueueDoesNotExist: %T", err)
	}

	// Creating an existing queue with the same attributes returns it.
	again, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "45"}})
	wantOK(t, err)
	if *again.QueueUrl != url {
		t.Errorf("re-create: %s", *again.QueueUrl)
	}

	// PurgeQueue once a minute; a deleted name is blocked for a minute.
	_, err = c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	wantOK(t, err)
	_, err = c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	wantCode(t, err, "AWS.SimpleQueueService.PurgeQueueInProgress")
	if httpStatus(err) != 403 {
		t.Errorf("PurgeQueueInProgress status %d", httpStatus(err))
	}
	_, err = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(small)})
	wantOK(t, err)
	wantCode(t, create("small", nil)(), "AWS.SimpleQueueService.QueueDeletedRecently")
	e.at(time.Minute)
	wantOK(t, create("small", nil)())

	// An explicit Deny in the caller's policies applies to SQS too.
	_, err = iamClient(e).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String("deny"), PolicyDocument: aws.String(denyAll)})
	wantOK(t, err)
	_, err = sqs.NewFromConfig(e.config("us-east-1", malloryKey, "", 1)).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
	wantCode(t, err, "AccessDenied")
}

func TestSQSLongPoll(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", nil)

	type result struct {
		msgs []types.Message
		err  error
		took time.Duration
	}
	poll := func(ctx context.Context, wait int32) <-chan result {
		ch := make(chan result, 1)
		go func() {
			start := time.Now()
			out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: wait})
			r := result{err: err, took: time.Since(start)}
			if out != nil {
				r.msgs = out.Messages
			}
			ch <- r
		}()
		return ch
	}
	// waiting returns once a long poll waits on the queue.
	waiting := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			e.emu.mu.Lock()
			parked := e.emu.state.Accounts[prodAccount].Regions["us-east-1"].Queues["q"].polls > 0
			e.emu.mu.Unlock()
			if parked {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("no long poll is waiting")
	}

	t.Run("empty after WaitTimeSeconds", func(t *testing.T) {
		r := <-poll(ctx, 1)
		wantOK(t, r.err)
		if len(r.msgs) != 0 || r.took < time.Second || r.took > 3*time.Second {
			t.Errorf("%d messages after %v", len(r.msgs), r.took)
		}
	})
	t.Run("answers as soon as a message is sent", func(t *testing.T) {
		ch := poll(ctx, 20)
		waiting()
		go func() {
			_, err := sqs.NewFromConfig(e.prod()).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("now")})
			if err != nil {
				t.Error(err)
			}
		}()
		r := <-ch
		wantOK(t, r.err)
		if len(r.msgs) != 1 || *r.msgs[0].Body != "now" || r.took > 5*time.Second {
			t.Fatalf("%d messages after %v", len(r.msgs), r.took)
		}
		_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: r.msgs[0].ReceiptHandle})
		wantOK(t, err)
	})
	t.Run("the Go SendMessage wakes it too", func(t *testing.T) {
		ch := poll(ctx, 20)
		waiting()
		id, err := e.emu.SendMessage(prodAccount, "us-east-1", "q", "published")
		wantOK(t, err)
		r := <-ch
		wantOK(t, r.err)
		if len(r.msgs) != 1 || *r.msgs[0].MessageId != id || r.took > 5*time.Second {
			t.Fatalf("%+v after %v", r.msgs, r.took)
		}
	})
	t.Run("a message becoming visible wakes it", func(t *testing.T) {
		// The message received above is in flight until +30 s.
		ch := poll(ctx, 20)
		waiting()
		e.at(31 * time.Second)
		r := <-ch
		wantOK(t, r.err)
		if len(r.msgs) != 1 || r.took > 5*time.Second {
			t.Fatalf("%d messages after %v", len(r.msgs), r.took)
		}
		_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: r.msgs[0].ReceiptHandle})
		wantOK(t, err)
	})
	t.Run("other calls go on meanwhile", func(t *testing.T) {
		pollCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := poll(pollCtx, 20)
		waiting()
		start := time.Now()
		_, err := ec2Client(e).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		wantOK(t, err)
		_, err = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"All"}})
		wantOK(t, err)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("calls took %v while a long poll waited", took)
		}
		select {
		case r := <-ch:
			t.Fatalf("the long poll returned early: %+v", r)
		default:
		}
		// A cancelled client returns at once, and the call is on record.
		cancel()
		r := <-ch
		if !errors.Is(r.err, context.Canceled) || r.took > 5*time.Second {
			t.Errorf("cancelled poll: %v after %v", r.err, r.took)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			calls := e.callsOf("sqs:ReceiveMessage")
			if last := calls[len(calls)-1]; last.ErrorCode == "RequestCanceled" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the cancelled long poll is not on record")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("deleting the queue ends it", func(t *testing.T) {
		ch := poll(ctx, 20)
		waiting()
		_, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		wantOK(t, err)
		r := <-ch
		wantOK(t, r.err)
		if len(r.msgs) != 0 || r.took > 5*time.Second {
			t.Errorf("%d messages after %v", len(r.msgs), r.took)
		}
	})
}

func TestSQSBatches(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", nil)
	entry := func(id, body string) types.SendMessageBatchRequestEntry {
		return types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
	}
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		entry("a", "one"), entry("b", "two"), entry("bad-chars", "\u0001"), entry("c", "three"),
		{Id: aws.String("bad-delay"), MessageBody: aws.String("x"), DelaySeconds: 901},
	}})
	wantOK(t, err)
	var ok []string
	for _, s := range out.Successful {
		ok = append(ok, *s.Id)
	}
	failed := map[string]string{}
	for _, f := range out.Failed {
		failed[*f.Id] = *f.Code
		if !f.SenderFault {
			t.Errorf("%s: not a sender fault", *f.Id)
		}
	}
	if !slices.Equal(ok, []string{"a", "b", "c"}) || failed["bad-chars"] != "InvalidMessageContents" || failed["bad-delay"] != "InvalidParameterValue" || len(failed) != 2 {
		t.Fatalf("successful %v, failed %v", ok, failed)
	}

	rcv, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	wantOK(t, err)
	if len(rcv.Messages) != 3 || *rcv.Messages[0].Body != "one" || *rcv.Messages[2].Body != "three" {
		t.Fatalf("received %+v", rcv.Messages)
	}

	cv, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("extend"), ReceiptHandle: rcv.Messages[0].ReceiptHandle, VisibilityTimeout: 300},
		{Id: aws.String("release"), ReceiptHandle: rcv.Messages[1].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("garbage"), ReceiptHandle: aws.String("xyz"), VisibilityTimeout: 10},
	}})
	wantOK(t, err)
	if len(cv.Successful) != 2 || len(cv.Failed) != 1 || *cv.Failed[0].Id != "garbage" || *cv.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("ChangeMessageVisibilityBatch %+v %+v", cv.Successful, cv.Failed)
	}
	// "release" is visible now: changing it again is not possible.
	cv, err = c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("release"), ReceiptHandle: rcv.Messages[1].ReceiptHandle, VisibilityTimeout: 10},
	}})
	wantOK(t, err)
	if len(cv.Failed) != 1 || *cv.Failed[0].Code != "AWS.SimpleQueueService.MessageNotInflight" {
		t.Fatalf("not in flight: %+v", cv.Failed)
	}

	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("m0"), ReceiptHandle: rcv.Messages[0].ReceiptHandle},
		{Id: aws.String("m2"), ReceiptHandle: rcv.Messages[2].ReceiptHandle},
		{Id: aws.String("bogus"), ReceiptHandle: aws.String("bogus")},
	}})
	wantOK(t, err)
	if len(del.Successful) != 2 || len(del.Failed) != 1 || *del.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("DeleteMessageBatch %+v %+v", del.Successful, del.Failed)
	}
	if msgs, _ := e.emu.QueueMessages(prodAccount, "us-east-1", "q"); len(msgs) != 1 || msgs[0].Body != "two" || msgs[0].State != MessageVisible {
		t.Errorf("left %+v", msgs)
	}

	many := make([]types.SendMessageBatchRequestEntry, 11)
	for i := range many {
		many[i] = entry(fmt.Sprint("e", i), "x")
	}
	big := strings.Repeat("x", 600<<10)
	errs := []struct {
		name    string
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{
		{"empty", []types.SendMessageBatchRequestEntry{}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{"too many", many, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		{"repeated id", []types.SendMessageBatchRequestEntry{entry("a", "x"), entry("a", "y")}, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{"bad id", []types.SendMessageBatchRequestEntry{entry("a b", "x")}, "AWS.SimpleQueueService.InvalidBatchEntryId"},
		{"too long", []types.SendMessageBatchRequestEntry{entry("a", big), entry("b", big)}, "AWS.SimpleQueueService.BatchRequestTooLong"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: tc.entries})
			wantCode(t, err, tc.code)
		})
	}
}

func TestSQSDeadLetterQueue(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	dlq := e.newQueue("findings-dlq", nil)
	dlqARN := "arn:aws:sqs:us-east-1:" + prodAccount + ":findings-dlq"
	policy := `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"2"}`
	src := e.newQueue("findings", map[string]string{"RedrivePolicy": policy})
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(src), AttributeNames: []types.QueueAttributeName{"All"}})
	wantOK(t, err)
	if got := attrs.Attributes["RedrivePolicy"]; got != `{"deadLetterTargetArn":"`+dlqARN+`","maxReceiveCount":2}` {
		t.Errorf("RedrivePolicy %s", got)
	}
	if attrs.Attributes["QueueArn"] != "arn:aws:sqs:us-east-1:"+prodAccount+":findings" || attrs.Attributes["VisibilityTimeout"] != "30" ||
		attrs.Attributes["MaximumMessageSize"] != "1048576" || attrs.Attributes["CreatedTimestamp"] != strconv.FormatInt(testNow.Unix(), 10) {
		t.Errorf("attributes %v", attrs.Attributes)
	}

	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(src), MessageBody: aws.String("poison")})
	wantOK(t, err)
	for i := 1; i <= 2; i++ {
		e.at(time.Duration(i-1) * time.Minute)
		m, ok := receiveOne(t, c, src)
		if !ok || m.Attributes["ApproximateReceiveCount"] != strconv.Itoa(i) {
			t.Fatalf("receive %d: %v %v", i, ok, m.Attributes)
		}
	}
	e.at(2 * time.Minute)
	if _, ok := receiveOne(t, c, src); ok {
		t.Fatal("delivered a third time past maxReceiveCount 2")
	}
	m, ok := receiveOne(t, c, dlq)
	if !ok || *m.MessageId != *sent.MessageId || *m.Body != "poison" || m.Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:"+prodAccount+":findings" {
		t.Fatalf("dead-letter queue: %v %+v", ok, m)
	}

	// Removing the policy keeps messages in the queue however often received.
	_, err = c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(src), Attributes: map[string]string{"RedrivePolicy": ""}})
	wantOK(t, err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(src), MessageBody: aws.String("retry forever")})
	wantOK(t, err)
	for i := 3; i < 8; i++ {
		e.at(time.Duration(i) * time.Minute)
		if _, ok := receiveOne(t, c, src); !ok {
			t.Fatalf("receive at %d min without a redrive policy", i)
		}
	}
}

// The SDK's retryer retries SQS's throttling and 5xx errors.
func TestSQSFaults(t *testing.T) {
	e := newEnv(t)
	url := e.newQueue("q", nil)
	c := sqs.NewFromConfig(e.config("us-east-1", aliceKey, "", 3))
	e.emu.Faults().Throttle("sqs:SendMessage", 2)
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
	wantOK(t, err)
	calls := e.callsOf("sqs:SendMessage")
	if len(calls) != 3 || calls[0].ErrorCode != "RequestThrottled" || calls[0].Status != 403 || calls[2].Status != 200 {
		t.Errorf("throttled calls %+v", calls)
	}

	e.emu.Faults().ServerError("sqs:*", 2)
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	wantOK(t, err)
	if len(out.Messages) != 1 {
		t.Errorf("received %d after retries", len(out.Messages))
	}
	calls = e.callsOf("sqs:ReceiveMessage")
	if len(calls) != 3 || calls[0].ErrorCode != "InternalFailure" || calls[0].Status != 500 {
		t.Errorf("5xx calls %+v", calls)
	}

	once := sqs.NewFromConfig(e.config("us-east-1", aliceKey, "", 1))
	e.emu.Faults().Throttle("sqs:ReceiveMessage", 1)
	_, err = once.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	wantCode(t, err, "RequestThrottled")
	var throttled *types.RequestThrottled
	if !errors.As(err, &throttled) {
		t.Errorf("not the SDK's RequestThrottled: %T", err)
	}

	// A failure for one queue, by name.
	e.emu.Faults().Fail("sqs:DeleteMessage", "q", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
	_, err = once.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("x")})
	wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
}

// Several receivers at once: while invisible, each message goes to one.
func TestSQSConcurrentReceivers(t *testing.T) {
	e := newEnv(t)
	c := sqsClient(e)
	url := e.newQueue("q", nil)
	const n = 60
	for i := 0; i < n; i += 10 {
		entries := make([]types.SendMessageBatchRequestEntry, 10)
		for j := range entries {
			entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("m", j)), MessageBody: aws.String(fmt.Sprint("message ", i+j))}
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		wantOK(t, err)
		if len(out.Failed) > 0 {
			t.Fatalf("failed %+v", out.Failed)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := sqsClient(e)
			for {
				out, err := rc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 4, WaitTimeSeconds: 1})
				if err != nil {
					t.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				for _, m := range out.Messages {
					mu.Lock()
					seen[*m.MessageId]++
					mu.Unlock()
					if _, err := rc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d distinct messages received, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("message %s delivered %d times", id, k)
		}
	}
	if msgs, _ := e.emu.QueueMessages(prodAccount, "us-east-1", "q"); len(msgs) != 0 {
		t.Errorf("%d messages left", len(msgs))
	}
}

const seededQueues = `{"accounts":[{"id":"111122223333","users":[{"name":"alice","access_keys":[{"id":"AKIAEMUALICE00000001"}]}],
  "regions":{"us-east-1":{"sqs_queues":[
    {"name":"findings","visibility_timeout":120,"message_retention_period":86400,"receive_message_wait_time_seconds":5,
     "redrive_policy":{"dead_letter_queue":"findings-dlq","max_receive_count":3},"tags":{"team":"security"},
     "messages":[{"body":"{\"detail-type\":\"GuardDuty Finding\"}","attributes":{"source":"seed"}},
                 {"body":"old","sent":"2025-02-01T00:00:00Z"}]},
    {"name":"findings-dlq","delay_seconds":5}
  ]}}}]}`

func TestSQSSeed(t *testing.T) {
	seed, err := ParseSeed([]byte(seededQueues))
	wantOK(t, err)
	e := newEnvSeed(t, seed)
	c := sqsClient(e)
	url := e.srv.URL + "/" + prodAccount + "/findings"
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"All"}})
	wantOK(t, err)
	want := map[string]string{
		"VisibilityTimeout": "120", "MessageRetentionPeriod": "86400", "ReceiveMessageWaitTimeSeconds": "5", "DelaySeconds": "0",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:findings-dlq","maxReceiveCount":3}`,
		// The message sent a month before the clock is past the one-day retention.
		"ApproximateNumberOfMessages": "1",
	}
	for k, v := range want {
		if attrs.Attributes[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs.Attributes[k], v)
		}
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SentTimestamp"}})
	wantOK(t, err)
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].MessageAttributes["source"].StringValue) != "seed" ||
		out.Messages[0].Attributes["SentTimestamp"] != strconv.FormatInt(testNow.UnixMilli(), 10) {
		t.Fatalf("seeded message %+v", out.Messages)
	}
	dlq := e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].Queues["findings-dlq"]
	if dlq.Attributes.DelaySeconds != 5 {
		t.Errorf("dlq %+v", dlq.Attributes)
	}

	region := func(q string) string {
		return `{"accounts":[{"id":"111122223333","regions":{"us-east-1":{"sqs_queues":[` + q + `]}}}]}`
	}
	bad := []struct {
		name, seed, want string
	}{
		{"no name", region(`{}`), "sqs_queues[0].name: is required"},
		{"bad name", region(`{"name":"a b"}`), `sqs_queues[0].name: "a b" is not a queue name`},
		{"fifo", region(`{"name":"a.fifo"}`), "FIFO queues are not supported"},
		{"twice", region(`{"name":"a"},{"name":"a"}`), `sqs_queues[1].name: queue "a" is defined twice`},
		{"visibility", region(`{"name":"a","visibility_timeout":43201}`), "sqs_queues[0].visibility_timeout: 43201 is out of range: SQS accepts 0 to 43200"},
		{"retention", region(`{"name":"a","message_retention_period":59}`), "sqs_queues[0].message_retention_period: 59 is out of range"},
		{"wait", region(`{"name":"a","receive_message_wait_time_seconds":21}`), "receive_message_wait_time_seconds: 21 is out of range"},
		{"dlq", region(`{"name":"a","redrive_policy":{"dead_letter_queue":"b","max_receive_count":1}}`), `redrive_policy.dead_letter_queue: queue "b" is not defined in us-east-1`},
		{"receive count", region(`{"name":"a","redrive_policy":{"dead_letter_queue":"a","max_receive_count":0}}`), "redrive_policy.max_receive_count: must be between 1 and 1000"},
		{"empty body", region(`{"name":"a","messages":[{"body":""}]}`), "sqs_queues[0].messages[0]: The request must contain the parameter MessageBody."},
		{"too big", region(`{"name":"a","maximum_message_size":1024,"messages":[{"body":"` + strings.Repeat("x", 1025) + `"}]}`), "Message must be shorter than 1024 bytes"},
		{"unknown key", region(`{"name":"a","visibility_timout":1}`), `sqs_queues[0].visibility_timout: unknown key (did you mean "visibility_timeout"?)`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSeed([]byte(tc.seed))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// The direct methods report what they cannot do.
func TestSQSDirectErrors(t *testing.T) {
	e := newEnv(t)
	e.newQueue("q", nil)
	if _, err := e.emu.SendMessage(prodAccount, "us-east-1", "absent", "x"); err == nil || !strings.Contains(err.Error(), "no queue absent") {
		t.Errorf("unknown queue: %v", err)
	}
	if _, err := e.emu.SendMessage("999999999999", "us-east-1", "q", "x"); err == nil {
		t.Error("unknown account accepted")
	}
	if _, err := e.emu.SendMessage(prodAccount, "us-east-1", "q", ""); err == nil || !strings.Contains(err.Error(), "MessageBody") {
		t.Errorf("empty body: %v", err)
	}
	if _, err := e.emu.QueueMessages(prodAccount, "eu-west-1", "q"); err == nil {
		t.Error("queue of another region found")
	}
}

func FuzzParseQueueURL(f *testing.F) {
	for _, s := range []string{"https://sqs.us-east-1.amazonaws.com/111122223333/q", "http://127.0.0.1:8080/111122223333/q",
		"https://eu-west-1.queue.amazonaws.com/111122223333/q-1_a", "https://sqs.x.amazonaws.com/111122223333/q", "q", "http:///x", "https://sqs.us-east-1.amazonaws.com/1/q/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		account, region, name, ok := parseQueueURL(raw)
		if !ok {
			return
		}
		if !accountRE.MatchString(account) || !queueNameRE.MatchString(name) || !strings.HasSuffix(raw, "/"+account+"/"+name) ||
			(region != "" && !regionRE.MatchString(region)) {
			t.Errorf("%q parsed to %q %q %q", raw, account, region, name)
		}
	})
}
