package actions

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cordonhq/cordon/internal/wait"
)

// Notification delivery, shared by the webhook and slack types: one JSON
// POST, retried with exponential backoff on what may pass (5xx, 429,
// timeouts, connection failures) and never on what will not (other 4xx,
// redirects, certificate errors). Debug lines and errors name the URL
// redacted (scheme and host) and the HTTP status, never the URL's path or
// query, a header value or the secret: webhook URLs and headers are
// credentials.

// Version is cordon's version, sent in the User-Agent of notifications
// ("cordon/<version>"). The program sets it at start.
var Version = "dev"

// delivery is how a notification is sent and retried.
type delivery struct {
	attempts int           // at most this many POSTs
	backoff  time.Duration // the wait after the first failure, doubled after each next one
	maxWait  time.Duration // cap on any wait, a server's Retry-After included
	timeout  time.Duration // per attempt, response body included
}

// newDelivery is the production policy: 4 attempts over about 7 s of
// backoff (1 s, 2 s, 4 s, each with jitter), plus the attempts' timeouts.
func newDelivery(timeout time.Duration) delivery {
	return delivery{attempts: 4, backoff: time.Second, maxWait: 30 * time.Second, timeout: timeout}
}

// notification is one message to post.
type notification struct {
	kind   string // the action type, naming debug lines
	url    string
	shown  string // the URL as debug lines and errors show it
	header http.Header
	body   []byte
	// secrets are values, besides the URL, that must never show in an
	// error or debug line: header values and the signing secret.
	secrets []string
	// errorDetail extracts a detail that is safe to show from the body
	// of a failed response ("" for none); nil shows none.
	errorDetail func(body []byte) string
}

// maxErrorBody bounds what is read of a response: enough for an error
// code, and for the connection to be reused after a short body.
const maxErrorBody = 4 << 10

// send posts n, retrying as d says, and returns the final HTTP status.
func (d delivery) send(ctx context.Context, env *Env, n *notification) (int, error) {
	client := noRedirects(env.HTTP)
	where := n.shown
	if where == "" {
		where = redactURL(n.url)
	}
	for attempt := 1; ; attempt++ {
		res := d.attempt(ctx, client, n)
		if res.err == nil {
			debugf(env, "%s: POST %s: HTTP %d (attempt %d)", n.kind, where, res.status, attempt)
			return res.status, nil
		}
		if ctx.Err() != nil {
			// Cancelled from outside: stop now, whatever the attempt said.
			return res.status, &deliveryError{url: where, attempts: attempt, cause: ctx.Err(), secrets: n.allSecrets()}
		}
		failure := &deliveryError{url: where, status: res.status, detail: res.detail, attempts: attempt,
			cause: res.err, timedOut: res.timedOut, timeout: d.timeout, secrets: n.allSecrets()}
		if !res.retryable || attempt >= d.attempts {
			return res.status, failure
		}
		pause := d.wait(attempt, res.retryAfter)
		debugf(env, "%s: POST %s: attempt %d of %d failed (%s); retrying in %s", n.kind, where, attempt, d.attempts, failure.reason(), pause)
		if err := wait.Sleep(ctx, pause); err != nil {
			return res.status, &deliveryError{url: where, attempts: attempt, cause: err, secrets: n.allSecrets()}
		}
	}
}

// result is the outcome of one attempt.
type result struct {
	status     int
	detail     string
	retryAfter time.Duration
	retryable  bool
	timedOut   bool
	err        error // nil on a 2xx
}

// errHTTPStatus marks a failure that is the response's status.
var errHTTPStatus = errors.New("unsuccessful HTTP status")

func (d delivery) attempt(ctx context.Context, client *http.Client, n *notification) result {
	actx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, n.url, bytes.NewReader(n.body))
	if err != nil {
		// The URL was checked at configuration; this is not transient.
		return result{err: errors.New("malformed request")}
	}
	req.Header = n.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL: keep only what it wraps.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		return result{err: err, timedOut: timedOut, retryable: timedOut || retryableTransport(err)}
	}
	defer resp.Body.Close()
	// Read (a bounded part of) the body whatever the status: a failure
	// may be explained there, and a drained body lets the connection be
	// reused. A 2xx is a delivery even if the rest of its body never
	// comes.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	r := result{status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return r
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		r.retryable = true
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	r.err = errHTTPStatus
	if n.errorDetail != nil {
		r.detail = n.errorDetail(body)
	}
	return r
}

// retryableTransport reports whether a failure to get a response may pass:
// a refused or reset connection, a DNS failure, a proxy error may; a
// certificate the client does not trust will not.
func retryableTransport(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return !(errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid))
}

// wait is the pause after failed attempt n (1-based): the doubled backoff
// with "equal jitter" (half fixed, half random, so that many cordons
// retrying at once spread out), or the server's Retry-After if longer;
// never more than maxWait.
func (d delivery) wait(n int, retryAfter time.Duration) time.Duration {
	w := d.maxWait
	if k := n - 1; k < 63 && d.backoff <= d.maxWait>>k { // so the shift cannot overflow
		w = d.backoff << k
	}
	if half := w / 2; half > 0 {
		w = half + rand.N(half+1)
	}
	if retryAfter > w {
		w = retryAfter
	}
	return min(w, d.maxWait)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. Anything else is no advice.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// noRedirects returns a copy of c that does not follow redirects: a POST
// turned into a GET would drop the message, and following one to another
// host would hand it the configured headers.
func noRedirects(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// allSecrets is every string an error must not show: the URL's path and
// query as well as the declared secrets.
func (n *notification) allSecrets() []string {
	out := append([]string{}, n.secrets...)
	if u, err := url.Parse(n.url); err == nil {
		out = append(out, u.RawQuery, u.EscapedPath(), u.Path)
		if u.User != nil {
			out = append(out, u.User.String())
		}
	}
	return out
}

// deliveryError is a notification that could not be delivered.
type deliveryError struct {
	url      string // redacted
	status   int    // the last response's, 0 for none
	detail   string // a safe detail of the response (Slack's error code)
	attempts int
	timedOut bool
	timeout  time.Duration
	cause    error
	secrets  []string
}

func (e *deliveryError) Error() string {
	msg := "posting to " + e.url + ": " + e.reason()
	if e.attempts > 1 {
		msg += fmt.Sprintf(" (after %d attempts)", e.attempts)
	}
	return msg
}

// reason says what went wrong, scrubbed of every secret.
func (e *deliveryError) reason() string {
	var r string
	switch {
	case e.status != 0:
		r = fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
		if e.status >= 300 && e.status < 400 {
			r += " (redirects are not followed)"
		}
		if e.detail != "" {
			r += ": " + e.detail
		}
	case e.timedOut:
		r = fmt.Sprintf("no response within %s", e.timeout)
	case e.cause != nil:
		r = e.cause.Error()
	default:
		r = "failed"
	}
	return scrub(r, e.secrets)
}

// Unwrap gives the transport error (context.DeadlineExceeded for a
// timeout), or nil for a response with a failing status.
func (e *deliveryError) Unwrap() error {
	if e.status != 0 {
		return nil
	}
	return e.cause
}

// scrub replaces every secret of 4 characters or more in s (shorter ones
// would match innocent text and give nothing away).
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "…")
		}
	}
	return s
}

// DeliveryKey is the delivery key of a notification: 32 hex digits of a
// SHA-256 over what identifies it, the kind of sending ("apply": the
// response's notification), the incident, the action's address and the
// update of the finding it is about. A notification cannot be read back
// from its receiver, so after a crash cordon cannot know whether it
// arrived and sends it again (the resumed apply, or the next plan of the
// incident): with the same key, which the receiver uses to drop the copy.
// A recurrence (a newer update of the finding) is a new notification, with
// a new key. Each part is length-prefixed, so no choice of values makes two
// different notifications' keys equal.
func DeliveryKey(kind, incident, address, findingUpdatedAt string) string {
	h := sha256.New()
	for _, part := range []string{"cordon-delivery-v1", kind, incident, address, findingUpdatedAt} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// deliveryKey is the X-Cordon-Delivery of the notification env sends: the
// engine's key, else a random one (a notification cordon does not record,
// such as an approval request). Either stays the same across the retries
// of one POST, so a receiver can drop the duplicate a timed-out attempt
// that did arrive would cause.
func deliveryKey(env *Env) string {
	if env.Delivery != "" {
		return env.Delivery
	}
	var b [16]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// incidentSummary is the summary a notification sends: the engine's, or
// when it gave none, what the request itself knows.
func incidentSummary(env *Env, req *Request) *IncidentSummary {
	if env.Incident != nil {
		return env.Incident
	}
	s := &IncidentSummary{IncidentID: req.IncidentID, Verdicts: []VerdictBrief{}, Actions: []ActionOutcome{}}
	if f := req.Finding; f != nil {
		s.Finding = FindingBrief{ID: f.ID, Source: f.Source, Type: f.Type, Title: f.Title, Severity: f.Severity,
			Account: f.Account, Region: f.Region,
			Resource: Target{Type: f.Resource.Type, ID: f.Resource.ID, Account: f.Account, Region: f.Region}}
	}
	return s
}

func debugf(env *Env, format string, args ...any) {
	if env.Debug != nil {
		fmt.Fprintf(env.Debug, "[DEBUG] "+format+"\n", args...)
	}
}

// reservedHeaders are set by cordon on every notification and cannot be
// configured.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Host": true, "Transfer-Encoding": true,
	"Connection": true, "X-Cordon-Signature": true, "X-Cordon-Delivery": true,
}

// checkHeaders rejects header names that are not HTTP tokens or are
// cordon's own, and values net/http would refuse to send. Only names show
// in the diagnostic: values are commonly tokens.
func checkHeaders(attr string, headers map[string]string) error {
	for _, name := range sortedKeys(headers) {
		if !isToken(name) {
			return &AttributeError{Attribute: attr, Summary: "Invalid header name",
				Detail: fmt.Sprintf("%q is not a valid HTTP header name.", name)}
		}
		if reservedHeaders[http.CanonicalHeaderKey(name)] {
			return &AttributeError{Attribute: attr, Summary: "Reserved header",
				Detail: fmt.Sprintf("cordon sets the %s header itself; remove it from %s.", http.CanonicalHeaderKey(name), attr)}
		}
		if strings.ContainsAny(headers[name], "\r\n\x00") {
			return &AttributeError{Attribute: attr, Summary: "Invalid header value",
				Detail: fmt.Sprintf("The value of header %s contains a line break or NUL character.", name)}
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
