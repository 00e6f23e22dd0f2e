package sources

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseQueueURL(t *testing.T) {
	tests := []struct {
		url                    string
		account, region, queue string
		err                    string
	}{
		{"https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings", "123456789012", "us-west-2", "cordon-findings", ""},
		{"https://sqs.us-gov-west-1.amazonaws.com/123456789012/q", "123456789012", "us-gov-west-1", "q", ""},
		{"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "123456789012", "cn-north-1", "q", ""},
		{"https://sqs-fips.us-east-1.amazonaws.com/123456789012/q", "123456789012", "us-east-1", "q", ""},
		{"https://sqs.eu-central-1.api.aws/123456789012/q", "123456789012", "eu-central-1", "q", ""},
		{"https://vpce-0a1b2c3d-e4f5g6h7.sqs.ap-southeast-2.vpce.amazonaws.com/123456789012/q", "123456789012", "ap-southeast-2", "q", ""},
		{"https://eu-west-1.queue.amazonaws.com/123456789012/q", "123456789012", "eu-west-1", "q", ""},
		{"https://queue.amazonaws.com/123456789012/q", "123456789012", "us-east-1", "q", ""},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo", "123456789012", "us-east-1", "orders.fifo", ""},
		// An emulator, LocalStack: no region in the host.
		{"http://127.0.0.1:4566/123456789012/q", "123456789012", "", "q", ""},
		{"", "", "", "", "queue_url is empty"},
		{"sqs.us-west-2.amazonaws.com/123456789012/q", "", "", "", "is not an http(s) URL"},
		{"arn:aws:sqs:us-west-2:123456789012:q", "", "", "", "is not an http(s) URL"},
		{"ftp://sqs.us-west-2.amazonaws.com/123456789012/q", "", "", "", "is not an http(s) URL"},
		{"https://sqs.us-west-2.amazonaws.com/123456789012/q?Action=ReceiveMessage", "", "", "", "has a user, query or fragment"},
		{"https://sqs.us-west-2.amazonaws.com/q", "", "", "", "its path must be /ACCOUNT/QUEUE"},
		{"https://sqs.us-west-2.amazonaws.com/123456789012/q/extra", "", "", "", "its path must be /ACCOUNT/QUEUE"},
		{"https://sqs.us-west-2.amazonaws.com/12345/q", "", "", "", `"12345" is not an account ID`},
		{"https://sqs.us-west-2.amazonaws.com/123456789012/bad%20name", "", "", "", "is not a queue name"},
		{"https://sqs.us-west-2.amazonaws.com/123456789012/" + strings.Repeat("q", 81), "", "", "", "is not a queue name"},
		{"https://sns.us-west-2.amazonaws.com/123456789012/q", "", "", "", "is another service's host"},
		{"https://hooks.slack.com/services/T000/B000", "", "", "", "its path must be /ACCOUNT/QUEUE"},
		{"https://hooks.example.com/T000/B000", "", "", "", `"T000" is not an account ID`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			account, region, queue, err := parseQueueURL(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if !strings.Contains(err.Error(), "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings") {
					t.Errorf("the error shows no example: %v", err)
				}
				return
			}
			if err != nil || account != tt.account || region != tt.region || queue != tt.queue {
				t.Errorf("got %q %q %q %v, want %q %q %q", account, region, queue, err, tt.account, tt.region, tt.queue)
			}
		})
	}
}

func TestUnwrapSNS(t *testing.T) {
	event := `{"detail-type":"GuardDuty Finding","detail":{"id":"a"}}`
	envelope := func(extra map[string]any) string {
		m := map[string]any{"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-west-2:123456789012:t", "Message": event}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, body, want string
		unwrapped        bool
	}{
		{"envelope", envelope(nil), event, true},
		{"envelope with leading space", "\n  " + envelope(nil), event, true},
		{"plain event", event, event, false},
		{"subscription confirmation", envelope(map[string]any{"Type": "SubscriptionConfirmation"}), "", false},
		{"no topic", envelope(map[string]any{"TopicArn": nil}), "", false},
		{"topic not an ARN", envelope(map[string]any{"TopicArn": "t"}), "", false},
		{"message not a string", envelope(map[string]any{"Message": map[string]any{"a": 1}}), "", false},
		{"no message", envelope(map[string]any{"Message": nil}), "", false},
		// encoding/json matches keys without regard to case: a finding
		// whose own "type" is Notification is not an envelope.
		{"lowercase keys", `{"type":"Notification","topicArn":"arn:aws:sns:us-west-2:123456789012:t","message":"{}"}`, "", false},
		{"array", `[{"Type":"Notification"}]`, "", false},
		{"not json", `{"Type":"Notification"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := unwrapSNS([]byte(tt.body))
			want := tt.want
			if !tt.unwrapped {
				want = tt.body
			}
			if ok != tt.unwrapped || string(got) != want {
				t.Errorf("unwrapSNS = %q, %v; want %q, %v", got, ok, want, tt.unwrapped)
			}
		})
	}
}

func TestSplitFindings(t *testing.T) {
	body := []byte(`{"findings":[{"id":"a","updatedAt":"2025-03-14T04:02:55.871Z"},{"id":"b","updatedAt":"2025-03-14T05:00:00.000Z"},` +
		`{"id":"c","updatedAt":"yesterday"},{"id":"d"},7]}`)
	fs, newest, err := splitFindings(body, 1<<62)
	if err != nil || len(fs) != 5 || newest != 1741928400000 {
		t.Errorf("splitFindings = %d findings, newest %d, %v", len(fs), newest, err)
	}
	// An update at or after the horizon does not count.
	if _, newest, _ := splitFindings(body, 1741928400000); newest != 1741924975871 {
		t.Errorf("newest before the horizon = %d", newest)
	}
	if _, _, err := splitFindings([]byte(`{"findings":`), 0); err == nil {
		t.Error("a truncated response read without error")
	}
}

func FuzzParseQueueURL(f *testing.F) {
	for _, s := range []string{
		"https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings", "http://127.0.0.1:4566/123456789012/q",
		"https://eu-west-1.queue.amazonaws.com/123456789012/q.fifo", "", "https://x/1/2", "https://sqs.a-b-1.amazonaws.com/123456789012/q",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		account, region, queue, err := parseQueueURL(raw)
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.ValidString(raw) {
				t.Errorf("invalid UTF-8 in the error for valid input")
			}
			return
		}
		if !accountPattern.MatchString(account) || queue == "" || (region != "" && !regionPattern.MatchString(region)) {
			t.Errorf("parseQueueURL(%q) = %q %q %q", raw, account, region, queue)
		}
	})
}

func FuzzUnwrapSNS(f *testing.F) {
	f.Add([]byte(`{"Type":"Notification","TopicArn":"arn:aws:sns:us-west-2:123456789012:t","Message":"{\"a\":1}"}`))
	f.Add([]byte(`{"detail":{}}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := unwrapSNS(body)
		if !ok && string(got) != string(body) {
			t.Errorf("not an envelope, but the body changed")
		}
		if ok && !json.Valid(body) {
			t.Errorf("unwrapped a body that is not JSON")
		}
	})
}
