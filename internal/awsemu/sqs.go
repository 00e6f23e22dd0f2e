package awsemu

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SQS speaks awsJson1_0 (X-Amz-Target: AmazonSQS.Op) in the
// query-compatible form AWS moved it to from awsQuery: an error carries its
// legacy code in the x-amzn-query-error header, which the SDK reports as
// the error code ("AWS.SimpleQueueService.NonExistentQueue"), and its shape
// in __type ("com.amazonaws.sqs#QueueDoesNotExist"), which the SDK decodes
// into its typed error. Codes and HTTP statuses are those of the SDK's
// model (the awsQueryError and httpError traits of aws-sdk-go-v2/service/sqs).
//
// Standard queues only: FIFO queues, KMS keys and message move tasks are
// refused with a message saying so. A call names its queue by name in the
// call record and for Faults.Fail.
var sqsAPI = func() *api {
	a := queryErrors(&api{id: "sqs", prefix: "sqs", protocol: protoJSON, jsonVersion: "1.0", queryErrorType: sqsErrorType})
	a.throttle = errf(403, "RequestThrottled", "Request is throttled.")
	a.statuses = map[string]int{
		"RequestThrottled":       403,
		"ReceiptHandleIsInvalid": 404,
		"InvalidAddress":         404,
		"InvalidSecurity":        403,
		"OverLimit":              403,
		"AWS.SimpleQueueService.PurgeQueueInProgress": 403,
	}
	return a
}()

func init() {
	sqsAPI.ops = map[string]handler{
		"CreateQueue":                  createQueue,
		"GetQueueUrl":                  getQueueURL,
		"GetQueueAttributes":           getQueueAttributes,
		"SetQueueAttributes":           setQueueAttributes,
		"ListQueues":                   listQueues,
		"DeleteQueue":                  deleteQueue,
		"PurgeQueue":                   purgeQueue,
		"SendMessage":                  sendMessage,
		"SendMessageBatch":             sendMessageBatch,
		"ReceiveMessage":               receiveMessage,
		"DeleteMessage":                deleteMessage,
		"DeleteMessageBatch":           deleteMessageBatch,
		"ChangeMessageVisibility":      changeMessageVisibility,
		"ChangeMessageVisibilityBatch": changeMessageVisibilityBatch,
	}
}

// sqsShapes are the modeled error shapes by legacy code; the others are
// the front end's own (coral) exceptions.
var sqsShapes = map[string]string{
	"AWS.SimpleQueueService.NonExistentQueue":             "QueueDoesNotExist",
	"QueueAlreadyExists":                                  "QueueNameExists",
	"AWS.SimpleQueueService.QueueDeletedRecently":         "QueueDeletedRecently",
	"AWS.SimpleQueueService.PurgeQueueInProgress":         "PurgeQueueInProgress",
	"AWS.SimpleQueueService.MessageNotInflight":           "MessageNotInflight",
	"AWS.SimpleQueueService.EmptyBatchRequest":            "EmptyBatchRequest",
	"AWS.SimpleQueueService.TooManyEntriesInBatchRequest": "TooManyEntriesInBatchRequest",
	"AWS.SimpleQueueService.BatchEntryIdsNotDistinct":     "BatchEntryIdsNotDistinct",
	"AWS.SimpleQueueService.InvalidBatchEntryId":          "InvalidBatchEntryId",
	"AWS.SimpleQueueService.BatchRequestTooLong":          "BatchRequestTooLong",
	"AWS.SimpleQueueService.UnsupportedOperation":         "UnsupportedOperation",
	"ReceiptHandleIsInvalid":                              "ReceiptHandleIsInvalid",
	"InvalidAttributeName":                                "InvalidAttributeName",
	"InvalidAttributeValue":                               "InvalidAttributeValue",
	"InvalidMessageContents":                              "InvalidMessageContents",
	"InvalidAddress":                                      "InvalidAddress",
	"InvalidSecurity":                                     "InvalidSecurity",
	"OverLimit":                                           "OverLimit",
	"RequestThrottled":                                    "RequestThrottled",
}

var coralShapes = map[string]string{
	"InvalidParameterValue":      "InvalidParameterValueException",
	"MissingParameter":           "MissingRequiredParameterException",
	"AccessDenied":               "AccessDeniedException",
	"InvalidClientTokenId":       "UnrecognizedClientException",
	"ExpiredToken":               "ExpiredTokenException",
	"MissingAuthenticationToken": "MissingAuthenticationTokenException",
}

func sqsErrorType(code string) string {
	if s, ok := sqsShapes[code]; ok {
		return "com.amazonaws.sqs#" + s
	}
	if s, ok := coralShapes[code]; ok {
		return "com.amazon.coral.service#" + s
	}
	return "com.amazon.coral.service#" + code
}

func sqsNoQueue() *apiError {
	return errf(400, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

func sqsInvalid(format string, args ...any) *apiError {
	return errf(400, "InvalidParameterValue", format, args...)
}

func sqsMissing(param string) *apiError {
	return errf(400, "MissingParameter", "The request must contain the parameter %s.", param)
}

func sqsBadHandle(h string) *apiError {
	return errf(404, "ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", h)
}

func sqsExpiredHandle(h string) *apiError {
	return sqsInvalid("Value %s for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", h)
}

func sqsNotInflight() *apiError {
	return errf(400, "AWS.SimpleQueueService.MessageNotInflight", "Message does not exist or is not available for visibility timeout change.")
}

// SQS's limits.
const (
	maxMessageSize     = 1 << 20 // 1 MiB since August 2025, also the default MaximumMessageSize
	maxBatchEntries    = 10
	maxVisibility      = 43200 // 12 hours
	maxWaitSeconds     = 20
	maxDelaySeconds    = 900
	maxMessageAttrs    = 10
	purgeInterval      = 60 * time.Second
	deletedNameBlocked = 60 * time.Second
)

var (
	queueNameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	batchIDRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	attrNameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)
	attrTypeRE   = regexp.MustCompile(`^(String|Number|Binary)(\.[A-Za-z0-9_.-]{1,250})?$`)
	sqsHostRE    = regexp.MustCompile(`^sqs\.([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)\.amazonaws\.com(?:\.cn)?$`)
	legacyHostRE = regexp.MustCompile(`^([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)\.queue\.amazonaws\.com(?:\.cn)?$`)
)

// ---- queues ----------------------------------------------------------------

var defaultQueueAttributes = QueueAttributes{
	VisibilityTimeout:      30,
	MessageRetentionPeriod: 345600, // 4 days
	MaximumMessageSize:     maxMessageSize,
	SqsManagedSseEnabled:   true,
}

func sqsARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, account, name)
}

func newQueue(region, account, name string, now time.Time) *Queue {
	return &Queue{Name: name, Account: account, ARN: sqsARN(region, account, name), Created: now, Modified: now,
		Attributes: defaultQueueAttributes, Messages: []*QueueMessage{}}
}

// changed wakes the long polls waiting on q.
func (q *Queue) changed() {
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
}

// waiter is closed at the queue's next change.
func (q *Queue) waiter() <-chan struct{} {
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

// settle brings q to now: seeded messages that gave no time are sent now,
// and messages past the retention period are gone.
func (q *Queue) settle(now time.Time) {
	kept := q.Messages[:0]
	for _, m := range q.Messages {
		if m.Sent.IsZero() {
			m.Sent, m.VisibleAt = now, now
		}
		if !now.Before(m.Sent.Add(time.Duration(q.Attributes.MessageRetentionPeriod) * time.Second)) {
			continue
		}
		kept = append(kept, m)
	}
	clear(q.Messages[len(kept):])
	q.Messages = kept
}

// MessageState is where a message is in its life.
type MessageState string

const (
	MessageVisible  MessageState = "visible"   // receivable
	MessageInFlight MessageState = "in-flight" // received, within its visibility timeout
	MessageDelayed  MessageState = "delayed"   // sent with a delay that has not passed
)

func (m *QueueMessage) state(now time.Time) MessageState {
	switch {
	case !m.VisibleAt.After(now):
		return MessageVisible
	case m.ReceiveCount > 0:
		return MessageInFlight
	}
	return MessageDelayed
}

// nextVisible is how long until a message of q becomes visible.
func (q *Queue) nextVisible(now time.Time) (time.Duration, bool) {
	var next time.Time
	for _, m := range q.Messages {
		if m.VisibleAt.After(now) && (next.IsZero() || m.VisibleAt.Before(next)) {
			next = m.VisibleAt
		}
	}
	return next.Sub(now), !next.IsZero()
}

func (q *Queue) message(id string) (int, *QueueMessage) {
	for i, m := range q.Messages {
		if m.ID == id {
			return i, m
		}
	}
	return -1, nil
}

func (q *Queue) remove(i int) {
	q.Messages = append(q.Messages[:i], q.Messages[i+1:]...)
}

// queueByARN finds a queue of the region by ARN.
func (reg *Region) queueByARN(arn string) *Queue {
	name := arn[strings.LastIndexByte(arn, ':')+1:]
	if q := reg.Queues[name]; q != nil && q.ARN == arn {
		return q
	}
	return nil
}

// enqueue sends m to q at now after delay seconds.
func (e *Emulator) enqueue(q *Queue, m *QueueMessage, now time.Time, delay int) {
	m.ID = e.ids.uuid("sqs-message", q.ARN)
	m.Sent = now
	m.VisibleAt = now.Add(time.Duration(delay) * time.Second)
	q.Messages = append(q.Messages, m)
	q.changed()
}

// receive delivers up to max visible messages of q, oldest first, each
// invisible for visibility seconds with a new receipt handle. A message
// its redrive policy's maxReceiveCount has been reached for goes to the
// dead-letter queue instead, as SQS moves it on the receive that would
// exceed the count.
func (e *Emulator) receive(reg *Region, q *Queue, max, visibility int, now time.Time) []*QueueMessage {
	var out []*QueueMessage
	kept := make([]*QueueMessage, 0, len(q.Messages))
	for _, m := range q.Messages {
		if len(out) == max || m.VisibleAt.After(now) {
			kept = append(kept, m)
			continue
		}
		if p := q.Attributes.RedrivePolicy; p != nil && m.ReceiveCount >= p.MaxReceiveCount {
			if dlq := reg.queueByARN(p.DeadLetterTargetARN); dlq != nil && dlq != q {
				m.VisibleAt, m.ReceiptHandle, m.DeadLetterSourceARN = now, "", q.ARN
				dlq.Messages = append(dlq.Messages, m)
				dlq.changed()
				continue
			}
		}
		m.ReceiveCount++
		if m.FirstReceived.IsZero() {
			m.FirstReceived = now
		}
		m.LastReceived = now
		m.VisibleAt = now.Add(time.Duration(visibility) * time.Second)
		m.ReceiptHandle = e.receiptHandle(q, m)
		out = append(out, m)
		kept = append(kept, m)
	}
	q.Messages = kept
	return out
}

// receiptHandle identifies one receive of a message: the queue, the
// message and its receive count, and a nonce, as opaque base64.
func (e *Emulator) receiptHandle(q *Queue, m *QueueMessage) string {
	raw := strings.Join([]string{"v1", q.ARN, m.ID, strconv.Itoa(m.ReceiveCount), e.ids.secret("receipt", m.ID, 32)}, "\x00")
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

// handleStatus is what a receipt handle names now.
type handleStatus int

const (
	handleCurrent handleStatus = iota // the latest receive of a message in the queue
	handleStale                       // an earlier receive: the message was received again
	handleGone                        // a message deleted or expired
)

// byHandle resolves a receipt handle of q. A handle that does not decode,
// or names another queue, is invalid.
func (q *Queue) byHandle(h string) (int, *QueueMessage, handleStatus, *apiError) {
	if h == "" {
		return -1, nil, 0, sqsMissing("ReceiptHandle")
	}
	raw, err := base64.StdEncoding.DecodeString(h)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 5 || parts[0] != "v1" || parts[1] != q.ARN {
		return -1, nil, 0, sqsBadHandle(h)
	}
	i, m := q.message(parts[2])
	switch {
	case m == nil:
		return -1, nil, handleGone, nil
	case m.ReceiptHandle != h:
		return i, m, handleStale, nil
	}
	return i, m, handleCurrent, nil
}

// ---- queue attributes ------------------------------------------------------

// readOnlyQueueAttributes are reported by GetQueueAttributes, never set.
var readOnlyQueueAttributes = map[string]bool{
	"ApproximateNumberOfMessages": true, "ApproximateNumberOfMessagesNotVisible": true,
	"ApproximateNumberOfMessagesDelayed": true, "CreatedTimestamp": true, "LastModifiedTimestamp": true,
	"QueueArn": true,
}

// unsupportedQueueAttributes are real attributes of features the emulator
// does not have.
var unsupportedQueueAttributes = map[string]bool{
	"FifoQueue": true, "ContentBasedDeduplication": true, "DeduplicationScope": true, "FifoThroughputLimit": true,
	"KmsMasterKeyId": true, "KmsDataKeyReusePeriodSeconds": true, "RedriveAllowPolicy": true,
}

// queueAttrLimits are the settable integer attributes and their ranges.
var queueAttrLimits = map[string][2]int{
	"DelaySeconds":                  {0, maxDelaySeconds},
	"MaximumMessageSize":            {1024, maxMessageSize},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, maxWaitSeconds},
	"VisibilityTimeout":             {0, maxVisibility},
}

func (qa *QueueAttributes) intField(name string) *int {
	switch name {
	case "DelaySeconds":
		return &qa.DelaySeconds
	case "MaximumMessageSize":
		return &qa.MaximumMessageSize
	case "MessageRetentionPeriod":
		return &qa.MessageRetentionPeriod
	case "ReceiveMessageWaitTimeSeconds":
		return &qa.ReceiveMessageWaitTimeSeconds
	case "VisibilityTimeout":
		return &qa.VisibilityTimeout
	}
	return nil
}

// set applies CreateQueue's or SetQueueAttributes' attributes, in name
// order. dlq reports whether a dead-letter target ARN names an existing
// queue of the same account and region.
func (qa *QueueAttributes) set(in map[string]string, dlq func(arn string) bool) *apiError {
	for _, name := range sortedKeys(in) {
		v := in[name]
		if lim, ok := queueAttrLimits[name]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < lim[0] || n > lim[1] {
				return errf(400, "InvalidAttributeValue", "Invalid value for the parameter %s.", name)
			}
			*qa.intField(name) = n
			continue
		}
		switch name {
		case "Policy":
			if v != "" {
				var doc map[string]any
				if json.Unmarshal([]byte(v), &doc) != nil || doc == nil {
					return errf(400, "InvalidAttributeValue", "Invalid value for the parameter Policy.")
				}
			}
			qa.Policy = v
		case "RedrivePolicy":
			if v == "" {
				qa.RedrivePolicy = nil
				continue
			}
			p, err := parseRedrivePolicy(v, dlq)
			if err != nil {
				return err
			}
			qa.RedrivePolicy = p
		case "SqsManagedSseEnabled":
			b, err := strconv.ParseBool(v)
			if err != nil || (v != "true" && v != "false") {
				return errf(400, "InvalidAttributeValue", "Invalid value for the parameter SqsManagedSseEnabled.")
			}
			qa.SqsManagedSseEnabled = b
		default:
			if unsupportedQueueAttributes[name] {
				return errf(400, "InvalidAttributeName", "Attribute %s is not supported by this emulator, which has standard queues with SQS-managed encryption only.", name)
			}
			return errf(400, "InvalidAttributeName", "Unknown Attribute %s.", name)
		}
	}
	return nil
}

func parseRedrivePolicy(v string, dlq func(string) bool) (*RedrivePolicy, *apiError) {
	bad := func(reason string) *apiError {
		return sqsInvalid("Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(v), &raw) != nil || raw == nil {
		return nil, bad("Redrive policy is not a valid JSON map.")
	}
	for k := range raw {
		if k != "deadLetterTargetArn" && k != "maxReceiveCount" {
			return nil, bad("Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount].")
		}
	}
	var p RedrivePolicy
	if json.Unmarshal(raw["deadLetterTargetArn"], &p.DeadLetterTargetARN) != nil || p.DeadLetterTargetARN == "" {
		return nil, bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	count, ok := raw["maxReceiveCount"]
	if !ok {
		return nil, bad("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
	}
	// A number or a string of one: both are accepted.
	s := strings.Trim(string(count), `"`)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return nil, bad(fmt.Sprintf("Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", s))
	}
	p.MaxReceiveCount = n
	if !dlq(p.DeadLetterTargetARN) {
		return nil, bad("Dead letter target does not exist.")
	}
	return &p, nil
}

// value is an attribute as GetQueueAttributes reports it; ok is false for
// one the queue does not have.
func (qa *QueueAttributes) value(name string) (string, bool) {
	if f := qa.intField(name); f != nil {
		return strconv.Itoa(*f), true
	}
	switch name {
	case "Policy":
		return qa.Policy, qa.Policy != ""
	case "RedrivePolicy":
		if qa.RedrivePolicy == nil {
			return "", false
		}
		b, _ := json.Marshal(qa.RedrivePolicy)
		return string(b), true
	case "SqsManagedSseEnabled":
		return strconv.FormatBool(qa.SqsManagedSseEnabled), true
	}
	return "", false
}

// dlqCheck resolves dead-letter targets in reg for account.
func dlqCheck(reg *Region, account string) func(string) bool {
	return func(arn string) bool {
		q := reg.queueByARN(arn)
		return q != nil && q.Account == account
	}
}

// ---- messages --------------------------------------------------------------

// sqsAttrValue is a message attribute on the wire.
type sqsAttrValue struct {
	DataType         string   `json:"DataType"`
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

// sqsSendEntry is a message to send: SendMessage's input and an entry of
// SendMessageBatch.
type sqsSendEntry struct {
	Id                      string
	MessageBody             *string
	DelaySeconds            *int
	MessageAttributes       map[string]sqsAttrValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
	MessageSystemAttributes map[string]json.RawMessage
}

// validBody reports whether s holds only the characters SQS accepts.
func validBody(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

func invalidContents() *apiError {
	return errf(400, "InvalidMessageContents", "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
}

// prepare validates a message for q as SendMessage does and returns it,
// not yet sent, with its delay.
func (q *Queue) prepare(in *sqsSendEntry) (*QueueMessage, int, *apiError) {
	if in.MessageBody == nil || *in.MessageBody == "" {
		return nil, 0, sqsMissing("MessageBody")
	}
	body := *in.MessageBody
	if !validBody(body) {
		return nil, 0, invalidContents()
	}
	delay := q.Attributes.DelaySeconds
	if in.DelaySeconds != nil {
		delay = *in.DelaySeconds
		if delay < 0 || delay > maxDelaySeconds {
			return nil, 0, sqsInvalid("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", delay)
		}
	}
	if in.MessageDeduplicationId != nil {
		return nil, 0, sqsInvalid("The request include parameter that is not valid for this queue type")
	}
	if len(in.MessageSystemAttributes) > 0 {
		return nil, 0, sqsInvalid("MessageSystemAttributes (AWSTraceHeader) are not supported by this emulator.")
	}
	m := &QueueMessage{Body: body}
	if in.MessageGroupId != nil {
		m.GroupID = *in.MessageGroupId
	}
	size := len(body)
	if len(in.MessageAttributes) > maxMessageAttrs {
		return nil, 0, sqsInvalid("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(in.MessageAttributes), maxMessageAttrs)
	}
	for _, name := range sortedKeys(in.MessageAttributes) {
		a, err := messageAttribute(name, in.MessageAttributes[name])
		if err != nil {
			return nil, 0, err
		}
		if m.Attributes == nil {
			m.Attributes = map[string]MessageAttribute{}
		}
		m.Attributes[name] = a
		size += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	if size > q.Attributes.MaximumMessageSize {
		return nil, 0, sqsInvalid("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.Attributes.MaximumMessageSize)
	}
	return m, delay, nil
}

func messageAttribute(name string, v sqsAttrValue) (MessageAttribute, *apiError) {
	lower := strings.ToLower(name)
	if !attrNameRE.MatchString(name) || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return MessageAttribute{}, sqsInvalid("Message (user) attribute name '%s' is invalid: names are 1 to 256 characters of A-Z, a-z, 0-9, '_', '-' and '.', without '..', a leading or trailing '.', or an 'AWS.' or 'Amazon.' prefix.", name)
	}
	if v.DataType == "" {
		return MessageAttribute{}, sqsInvalid("The message attribute '%s' must contain non-empty message attribute type.", name)
	}
	if !attrTypeRE.MatchString(v.DataType) {
		return MessageAttribute{}, sqsInvalid("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
	}
	if v.StringListValues != nil || v.BinaryListValues != nil {
		return MessageAttribute{}, sqsInvalid("Message attribute list values in SendMessage operation are not supported.")
	}
	a := MessageAttribute{DataType: v.DataType}
	base, _, _ := strings.Cut(v.DataType, ".")
	if base == "Binary" {
		if len(v.BinaryValue) == 0 || v.StringValue != nil {
			return a, sqsInvalid("Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", name)
		}
		a.BinaryValue = append([]byte(nil), v.BinaryValue...)
		return a, nil
	}
	if v.StringValue == nil || *v.StringValue == "" || v.BinaryValue != nil {
		return a, sqsInvalid("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", name, base)
	}
	if !validBody(*v.StringValue) {
		return a, invalidContents()
	}
	if base == "Number" {
		if _, err := strconv.ParseFloat(*v.StringValue, 64); err != nil {
			return a, sqsInvalid("Can't cast the value of message (user) attribute '%s' to a number.", name)
		}
	}
	a.StringValue = *v.StringValue
	return a, nil
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// md5OfAttributes is SQS's digest of message attributes: for each, by
// name, the length-prefixed name, data type and value, with a transport
// byte (1 string, 2 binary) before the value.
func md5OfAttributes(attrs map[string]MessageAttribute) string {
	if len(attrs) == 0 {
		return ""
	}
	var b []byte
	field := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		field([]byte(name))
		field([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			b = append(b, 2)
			field(a.BinaryValue)
		} else {
			b = append(b, 1)
			field([]byte(a.StringValue))
		}
	}
	return md5Hex(b)
}

func wireAttributes(attrs map[string]MessageAttribute) map[string]sqsAttrValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make(map[string]sqsAttrValue, len(attrs))
	for k, a := range attrs {
		v := sqsAttrValue{DataType: a.DataType, BinaryValue: a.BinaryValue}
		if a.BinaryValue == nil {
			s := a.StringValue
			v.StringValue = &s
		}
		out[k] = v
	}
	return out
}

// ---- requests --------------------------------------------------------------

// parseQueueURL reads a queue URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME,
// the legacy REGION.queue.amazonaws.com and queue.amazonaws.com hosts, or
// the emulator's http://HOST/ACCOUNT/NAME. region is empty for a host
// that names none.
func parseQueueURL(raw string) (account, region, name string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", "", "", false
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 || !accountRE.MatchString(parts[0]) || !queueNameRE.MatchString(parts[1]) {
		return "", "", "", false
	}
	host := u.Hostname()
	if m := sqsHostRE.FindStringSubmatch(host); m != nil {
		region = m[1]
	} else if m := legacyHostRE.FindStringSubmatch(host); m != nil {
		region = m[1]
	} else if host == "queue.amazonaws.com" {
		region = "us-east-1"
	}
	return parts[0], region, parts[1], true
}

// queueURL is the URL of q as the emulator hands it out: on the host the
// request came to.
func (r *request) queueURL(q *Queue) string {
	scheme := "http"
	if r.http.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.http.Host + "/" + q.Account + "/" + q.Name
}

// sqsRegion is the caller's region, which a long poll must look up again
// after waiting.
func (r *request) sqsRegion() *Region {
	if reg := r.acct.Regions[r.region.Name]; reg != nil {
		return reg
	}
	return r.region
}

// queueOf resolves a QueueUrl to the caller's queue, settled to now.
func (r *request) queueOf(raw *string) (*Queue, error) {
	if raw == nil || *raw == "" {
		if err := r.resources(); err != nil {
			return nil, err
		}
		return nil, sqsMissing("QueueUrl")
	}
	account, region, name, ok := parseQueueURL(*raw)
	if !ok {
		if err := r.resources(); err != nil {
			return nil, err
		}
		return nil, errf(404, "InvalidAddress", "The address %s is not valid for this endpoint.", *raw)
	}
	if err := r.resources(name); err != nil {
		return nil, err
	}
	if account != r.acct.ID {
		// Another account's queue: without a queue policy granting the
		// caller (which the emulator does not evaluate), SQS denies.
		return nil, errf(403, "AccessDenied", "Access to the resource https://sqs.%s.amazonaws.com/ is denied.", r.region.Name)
	}
	q := r.sqsRegion().Queues[name]
	if q == nil || (region != "" && region != r.region.Name) {
		return nil, sqsNoQueue()
	}
	// Every operation on a queue acts on it (queue*); a batch operation
	// is authorized as its single form.
	action := strings.TrimSuffix(r.action(), "Batch")
	if err := r.authorize(action, authzItem{arn: r.queueARN(q.Name), keys: tagKeys(q.Tags, "aws:ResourceTag/")}); err != nil {
		return nil, err
	}
	q.settle(r.now)
	return q, nil
}

// queueARN is the ARN of a queue of the caller's account and region.
func (r *request) queueARN(name string) string {
	return "arn:aws:sqs:" + r.region.Name + ":" + r.acct.ID + ":" + name
}

// waitUnlocked waits with the state lock released until wake is closed, d
// has passed or the client goes away. Handlers run under the lock serve
// holds; a long poll gives it up only here, and must look up again what
// it holds when this returns.
func (r *request) waitUnlocked(wake <-chan struct{}, d time.Duration) error {
	r.e.mu.Unlock()
	t := time.NewTimer(d)
	var err error
	select {
	case <-wake:
	case <-t.C:
	case <-r.http.Context().Done():
		err = r.http.Context().Err()
	}
	t.Stop()
	r.e.mu.Lock()
	r.now = r.e.now()
	return err
}

func unixSeconds(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
func unixMillis(t time.Time) string  { return strconv.FormatInt(t.UnixMilli(), 10) }

// ---- handlers: queues ------------------------------------------------------

func createQueue(r *request) (any, error) {
	var in struct {
		QueueName  *string
		Attributes map[string]string
		Tags       map[string]string `json:"tags"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.QueueName == nil {
		return nil, sqsMissing("QueueName")
	}
	name := *in.QueueName
	if err := r.resources(name); err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, ".fifo") {
		return nil, sqsInvalid("FIFO queues are not supported by this emulator.")
	}
	if !queueNameRE.MatchString(name) {
		return nil, sqsInvalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if len(in.Tags) > 50 {
		return nil, sqsInvalid("Too many tags added for queue %s.", name)
	}
	reg := r.sqsRegion()
	attrs := defaultQueueAttributes
	if err := attrs.set(in.Attributes, dlqCheck(reg, r.acct.ID)); err != nil {
		return nil, err
	}
	r.setRequestTags(in.Tags)
	if err := r.authorize(r.action(), plainItem(r.queueARN(name))); err != nil {
		return nil, err
	}
	if q := reg.Queues[name]; q != nil {
		// Creating an existing queue returns it, unless an attribute given
		// differs.
		for _, k := range sortedKeys(in.Attributes) {
			have, _ := q.Attributes.value(k)
			want, _ := attrs.value(k)
			if have != want {
				return nil, errf(400, "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return struct{ QueueUrl string }{r.queueURL(q)}, nil
	}
	if at, ok := reg.QueuesDeleted[name]; ok && r.now.Sub(at) < deletedNameBlocked {
		return nil, errf(400, "AWS.SimpleQueueService.QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	q := newQueue(reg.Name, r.acct.ID, name, r.now)
	q.Attributes = attrs
	q.Tags = cloneTags(in.Tags)
	if r.acct.Regions[reg.Name] == nil {
		r.acct.Regions[reg.Name] = reg
	}
	reg.Queues[name] = q
	delete(reg.QueuesDeleted, name)
	return struct{ QueueUrl string }{r.queueURL(q)}, nil
}

func getQueueURL(r *request) (any, error) {
	var in struct {
		QueueName              *string
		QueueOwnerAWSAccountId *string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, sqsMissing("QueueName")
	}
	if err := r.resources(*in.QueueName); err != nil {
		return nil, err
	}
	if in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != r.acct.ID {
		return nil, errf(403, "AccessDenied", "Access to the resource https://sqs.%s.amazonaws.com/ is denied.", r.region.Name)
	}
	q := r.sqsRegion().Queues[*in.QueueName]
	if q == nil {
		return nil, sqsNoQueue()
	}
	if err := r.authorize(r.action(), authzItem{arn: r.queueARN(q.Name), keys: tagKeys(q.Tags, "aws:ResourceTag/")}); err != nil {
		return nil, err
	}
	return struct{ QueueUrl string }{r.queueURL(q)}, nil
}

// allQueueAttributes are the attributes "All" names, in the order
// GetQueueAttributes considers them.
var allQueueAttributes = []string{
	"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
	"CreatedTimestamp", "DelaySeconds", "LastModifiedTimestamp", "MaximumMessageSize", "MessageRetentionPeriod",
	"Policy", "QueueArn", "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
}

func getQueueAttributes(r *request) (any, error) {
	var in struct {
		QueueUrl       *string
		AttributeNames []string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	names := in.AttributeNames
	for _, n := range names {
		if n == "All" {
			names = allQueueAttributes
			break
		}
	}
	counts := map[MessageState]int{}
	for _, m := range q.Messages {
		counts[m.state(r.now)]++
	}
	out := map[string]string{}
	for _, n := range names {
		switch n {
		case "ApproximateNumberOfMessages":
			out[n] = strconv.Itoa(counts[MessageVisible])
		case "ApproximateNumberOfMessagesNotVisible":
			out[n] = strconv.Itoa(counts[MessageInFlight])
		case "ApproximateNumberOfMessagesDelayed":
			out[n] = strconv.Itoa(counts[MessageDelayed])
		case "CreatedTimestamp":
			out[n] = unixSeconds(q.Created)
		case "LastModifiedTimestamp":
			out[n] = unixSeconds(q.Modified)
		case "QueueArn":
			out[n] = q.ARN
		default:
			if v, ok := q.Attributes.value(n); ok {
				out[n] = v
			} else if n != "Policy" && n != "RedrivePolicy" {
				// Policy and RedrivePolicy are left out when unset.
				return nil, errf(400, "InvalidAttributeName", "Unknown Attribute %s.", n)
			}
		}
	}
	if len(out) == 0 {
		return struct{}{}, nil
	}
	return struct{ Attributes map[string]string }{out}, nil
}

func setQueueAttributes(r *request) (any, error) {
	var in struct {
		QueueUrl   *string
		Attributes map[string]string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, sqsMissing("Attributes")
	}
	attrs := q.Attributes
	if err := attrs.set(in.Attributes, dlqCheck(r.sqsRegion(), r.acct.ID)); err != nil {
		return nil, err
	}
	q.Attributes = attrs
	q.Modified = r.now
	q.changed()
	return nil, nil
}

func listQueues(r *request) (any, error) {
	var in struct {
		QueueNamePrefix *string
		MaxResults      *int
		NextToken       *string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if err := r.resources(); err != nil {
		return nil, err
	}
	size := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, sqsInvalid("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
		}
		size = *in.MaxResults
	}
	reg := r.sqsRegion()
	var names []string
	for _, n := range sortedKeys(reg.Queues) {
		if in.QueueNamePrefix == nil || strings.HasPrefix(n, *in.QueueNamePrefix) {
			names = append(names, n)
		}
	}
	if in.NextToken != nil && *in.NextToken != "" {
		last, ok := decodeToken(r.op, *in.NextToken)
		if !ok {
			return nil, sqsInvalid("Invalid NextToken value.")
		}
		names = names[sort.SearchStrings(names, last+"\x00"):]
	}
	out := struct {
		QueueUrls []string `json:"QueueUrls,omitempty"`
		NextToken string   `json:"NextToken,omitempty"`
	}{}
	if len(names) > size {
		names = names[:size]
		if in.MaxResults != nil {
			out.NextToken = encodeToken(r.op, names[size-1])
		}
	}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, r.queueURL(reg.Queues[n]))
	}
	return out, nil
}

func deleteQueue(r *request) (any, error) {
	var in struct{ QueueUrl *string }
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	reg := r.sqsRegion()
	delete(reg.Queues, q.Name)
	if reg.QueuesDeleted == nil {
		reg.QueuesDeleted = map[string]time.Time{}
	}
	reg.QueuesDeleted[q.Name] = r.now
	q.changed()
	return nil, nil
}

func purgeQueue(r *request) (any, error) {
	var in struct{ QueueUrl *string }
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if !q.LastPurge.IsZero() && r.now.Sub(q.LastPurge) < purgeInterval {
		return nil, errf(403, "AWS.SimpleQueueService.PurgeQueueInProgress", "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.Name)
	}
	q.LastPurge = r.now
	clear(q.Messages)
	q.Messages = q.Messages[:0]
	return nil, nil
}

// ---- handlers: messages ----------------------------------------------------

type sqsSendResult struct {
	Id                     string `json:"Id,omitempty"`
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
}

func (r *request) send(q *Queue, in *sqsSendEntry) (*sqsSendResult, *apiError) {
	m, delay, err := q.prepare(in)
	if err != nil {
		return nil, err
	}
	m.SenderID = r.caller.userID
	r.e.enqueue(q, m, r.now, delay)
	return &sqsSendResult{MessageId: m.ID, MD5OfMessageBody: md5Hex([]byte(m.Body)), MD5OfMessageAttributes: md5OfAttributes(m.Attributes)}, nil
}

func sendMessage(r *request) (any, error) {
	var in struct {
		QueueUrl *string
		sqsSendEntry
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	res, aerr := r.send(q, &in.sqsSendEntry)
	if aerr != nil {
		return nil, aerr
	}
	return res, nil
}

// batchFailure is a failed entry of a batch.
type batchFailure struct {
	Id          string
	Code        string
	Message     string
	SenderFault bool
}

func batchFail(id string, err *apiError) batchFailure {
	return batchFailure{Id: id, Code: err.Code, Message: err.Message, SenderFault: err.Status < 500}
}

// checkBatch applies the rules every batch shares: 1 to 10 entries, ids
// of 1 to 80 characters of [A-Za-z0-9_-], each distinct.
func checkBatch(entry string, ids []string) *apiError {
	if len(ids) == 0 {
		return errf(400, "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one %s in the request.", entry)
	}
	if len(ids) > maxBatchEntries {
		return errf(400, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Maximum number of entries per request are %d. You have sent %d.", maxBatchEntries, len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return errf(400, "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return errf(400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

func sendMessageBatch(r *request) (any, error) {
	var in struct {
		QueueUrl *string
		Entries  []sqsSendEntry
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = e.Id
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for k, a := range e.MessageAttributes {
			total += len(k) + len(a.DataType) + len(a.BinaryValue)
			if a.StringValue != nil {
				total += len(*a.StringValue)
			}
		}
	}
	if err := checkBatch("SendMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	if total > maxMessageSize {
		return nil, errf(400, "AWS.SimpleQueueService.BatchRequestTooLong", "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxMessageSize, total)
	}
	out := struct {
		Successful []*sqsSendResult `json:"Successful"`
		Failed     []batchFailure   `json:"Failed"`
	}{Successful: []*sqsSendResult{}, Failed: []batchFailure{}}
	for i := range in.Entries {
		e := &in.Entries[i]
		res, err := r.send(q, e)
		if err != nil {
			out.Failed = append(out.Failed, batchFail(e.Id, err))
			continue
		}
		res.Id = e.Id
		out.Successful = append(out.Successful, res)
	}
	return out, nil
}

// messageSystemAttributes are the names ReceiveMessage's AttributeNames
// and MessageSystemAttributeNames accept.
var messageSystemAttributes = map[string]bool{
	"All": true, "SenderId": true, "SentTimestamp": true, "ApproximateReceiveCount": true,
	"ApproximateFirstReceiveTimestamp": true, "SequenceNumber": true, "MessageDeduplicationId": true,
	"MessageGroupId": true, "AWSTraceHeader": true, "DeadLetterQueueSourceArn": true,
}

type sqsMessageOut struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string       `json:",omitempty"`
	MD5OfMessageAttributes string                  `json:",omitempty"`
	MessageAttributes      map[string]sqsAttrValue `json:",omitempty"`
}

// systemAttributes are the requested system attributes m has.
func systemAttributes(m *QueueMessage, names map[string]bool) map[string]string {
	all := names["All"]
	out := map[string]string{}
	add := func(name, v string) {
		if v != "" && (all || names[name]) {
			out[name] = v
		}
	}
	add("SenderId", m.SenderID)
	add("SentTimestamp", unixMillis(m.Sent))
	add("ApproximateReceiveCount", strconv.Itoa(m.ReceiveCount))
	add("ApproximateFirstReceiveTimestamp", unixMillis(m.FirstReceived))
	add("MessageGroupId", m.GroupID)
	add("DeadLetterQueueSourceArn", m.DeadLetterSourceARN)
	if len(out) == 0 {
		return nil
	}
	return out
}

// selectAttributes are the user attributes MessageAttributeNames asks
// for: "All", ".*", names, or prefixes ending in ".*".
func selectAttributes(attrs map[string]MessageAttribute, names []string) map[string]MessageAttribute {
	out := map[string]MessageAttribute{}
	for k, a := range attrs {
		for _, n := range names {
			if n == "All" || n == ".*" || n == k || (strings.HasSuffix(n, ".*") && strings.HasPrefix(k, strings.TrimSuffix(n, "*"))) {
				out[k] = a
				break
			}
		}
	}
	return out
}

func receiveMessage(r *request) (any, error) {
	var in struct {
		QueueUrl                    *string
		AttributeNames              []string
		MessageSystemAttributeNames []string
		MessageAttributeNames       []string
		MaxNumberOfMessages         *int
		VisibilityTimeout           *int
		WaitTimeSeconds             *int
		ReceiveRequestAttemptId     *string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	limit := 1
	if in.MaxNumberOfMessages != nil {
		limit = *in.MaxNumberOfMessages
		if limit < 1 || limit > maxBatchEntries {
			return nil, sqsInvalid("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", limit)
		}
	}
	visibility := q.Attributes.VisibilityTimeout
	if in.VisibilityTimeout != nil {
		visibility = *in.VisibilityTimeout
		if visibility < 0 || visibility > maxVisibility {
			return nil, sqsInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", visibility)
		}
	}
	wait := q.Attributes.ReceiveMessageWaitTimeSeconds
	if in.WaitTimeSeconds != nil {
		wait = *in.WaitTimeSeconds
		if wait < 0 || wait > maxWaitSeconds {
			return nil, sqsInvalid("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", wait)
		}
	}
	sysNames := map[string]bool{}
	for _, n := range append(in.AttributeNames, in.MessageSystemAttributeNames...) {
		if !messageSystemAttributes[n] {
			return nil, errf(400, "InvalidAttributeName", "Unknown Attribute %s.", n)
		}
		sysNames[n] = true
	}

	// Long polling: wait, with the lock released, for a message to be
	// sent or to become visible, and answer as soon as one is there.
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	var got []*QueueMessage
	for {
		got = r.e.receive(r.sqsRegion(), q, limit, visibility, r.now)
		left := time.Until(deadline)
		if len(got) > 0 || left <= 0 {
			break
		}
		if next, ok := q.nextVisible(r.now); ok && next < left {
			left = max(next, time.Millisecond)
		}
		q.polls++
		err := r.waitUnlocked(q.waiter(), left)
		q.polls--
		if err != nil {
			return nil, err
		}
		if r.sqsRegion().Queues[q.Name] != q {
			// Deleted while we waited.
			break
		}
		q.settle(r.now)
	}

	out := struct {
		Messages []sqsMessageOut `json:"Messages,omitempty"`
	}{}
	for _, m := range got {
		o := sqsMessageOut{MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: md5Hex([]byte(m.Body)), Body: m.Body,
			Attributes: systemAttributes(m, sysNames)}
		if attrs := selectAttributes(m.Attributes, in.MessageAttributeNames); len(attrs) > 0 {
			o.MessageAttributes = wireAttributes(attrs)
			o.MD5OfMessageAttributes = md5OfAttributes(attrs)
		}
		out.Messages = append(out.Messages, o)
	}
	return out, nil
}

// deleteByHandle deletes the message a receipt handle names. As in SQS, a
// handle of a message already deleted succeeds, and a stale handle (the
// message was received again since) succeeds without deleting it.
func deleteByHandle(q *Queue, h string) *apiError {
	i, _, st, err := q.byHandle(h)
	if err != nil {
		return err
	}
	if st == handleCurrent {
		q.remove(i)
	}
	return nil
}

func deleteMessage(r *request) (any, error) {
	var in struct {
		QueueUrl      *string
		ReceiptHandle string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := deleteByHandle(q, in.ReceiptHandle); err != nil {
		return nil, err
	}
	return nil, nil
}

type batchIDResult struct{ Id string }

func deleteMessageBatch(r *request) (any, error) {
	var in struct {
		QueueUrl *string
		Entries  []struct {
			Id            string
			ReceiptHandle string
		}
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch("DeleteMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	out := struct {
		Successful []batchIDResult `json:"Successful"`
		Failed     []batchFailure  `json:"Failed"`
	}{Successful: []batchIDResult{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		if err := deleteByHandle(q, e.ReceiptHandle); err != nil {
			out.Failed = append(out.Failed, batchFail(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, batchIDResult{e.Id})
	}
	return out, nil
}

// changeVisibility makes the message a current receipt handle names
// visible timeout seconds from now.
func (r *request) changeVisibility(q *Queue, h string, timeout *int) *apiError {
	_, m, st, err := q.byHandle(h)
	if err != nil {
		return err
	}
	if timeout == nil {
		return sqsMissing("VisibilityTimeout")
	}
	if *timeout < 0 || *timeout > maxVisibility {
		return sqsInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *timeout)
	}
	if st != handleCurrent {
		return sqsExpiredHandle(h)
	}
	if m.state(r.now) != MessageInFlight {
		return sqsNotInflight()
	}
	// A message stays in flight at most 12 hours from its receive.
	if r.now.Sub(m.LastReceived)+time.Duration(*timeout)*time.Second > maxVisibility*time.Second {
		return sqsInvalid("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", *timeout)
	}
	m.VisibleAt = r.now.Add(time.Duration(*timeout) * time.Second)
	q.changed()
	return nil
}

func changeMessageVisibility(r *request) (any, error) {
	var in struct {
		QueueUrl          *string
		ReceiptHandle     string
		VisibilityTimeout *int
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := r.changeVisibility(q, in.ReceiptHandle, in.VisibilityTimeout); err != nil {
		return nil, err
	}
	return nil, nil
}

func changeMessageVisibilityBatch(r *request) (any, error) {
	var in struct {
		QueueUrl *string
		Entries  []struct {
			Id                string
			ReceiptHandle     string
			VisibilityTimeout *int
		}
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	q, err := r.queueOf(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch("ChangeMessageVisibilityBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	out := struct {
		Successful []batchIDResult `json:"Successful"`
		Failed     []batchFailure  `json:"Failed"`
	}{Successful: []batchIDResult{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		timeout := e.VisibilityTimeout
		if timeout == nil {
			// The SDK leaves out a zero timeout.
			timeout = new(int)
		}
		if err := r.changeVisibility(q, e.ReceiptHandle, timeout); err != nil {
			out.Failed = append(out.Failed, batchFail(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, batchIDResult{e.Id})
	}
	return out, nil
}

// ---- direct access ---------------------------------------------------------

// wakeQueues wakes every long poll, to look again at the time (SetClock).
func (e *Emulator) wakeQueues() {
	for _, a := range e.state.Accounts {
		for _, reg := range a.Regions {
			for _, q := range reg.Queues {
				q.changed()
			}
		}
	}
}

// queue finds a queue for the direct methods.
func (e *Emulator) queue(account, region, name string) (*Region, *Queue, error) {
	a := e.state.Accounts[account]
	if a == nil {
		return nil, nil, fmt.Errorf("awsemu: no account %s", account)
	}
	reg := a.Regions[region]
	if reg == nil || reg.Queues[name] == nil {
		return nil, nil, fmt.Errorf("awsemu: no queue %s in %s/%s", name, account, region)
	}
	q := reg.Queues[name]
	q.settle(e.now())
	return reg, q, nil
}

// SendMessage sends a message to a queue as the SendMessage API does (the
// queue's delay applies, long polls wake), as a producer such as
// EventBridge would; the sender is the account.
func (e *Emulator) SendMessage(account, region, queueName, body string) (messageID string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, q, err := e.queue(account, region, queueName)
	if err != nil {
		return "", err
	}
	m, delay, aerr := q.prepare(&sqsSendEntry{MessageBody: &body})
	if aerr != nil {
		return "", fmt.Errorf("awsemu: queue %s: %s: %s", queueName, aerr.Code, aerr.Message)
	}
	m.SenderID = account
	e.enqueue(q, m, e.now(), delay)
	return m.ID, nil
}

// QueuedMessage is a message as QueueMessages shows it: a copy, with the
// state it is in at the emulator's clock.
type QueuedMessage struct {
	QueueMessage
	State MessageState `json:"state"`
}

// QueueMessages returns a snapshot of a queue's messages, oldest first.
func (e *Emulator) QueueMessages(account, region, queueName string) ([]QueuedMessage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, q, err := e.queue(account, region, queueName)
	if err != nil {
		return nil, err
	}
	now := e.now()
	out := make([]QueuedMessage, len(q.Messages))
	for i, m := range q.Messages {
		out[i] = QueuedMessage{QueueMessage: *m.clone(), State: m.state(now)}
	}
	return out, nil
}
