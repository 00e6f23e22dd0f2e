package sources

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/zclconf/go-cty/cty"
)

// Helpers the source types share: reading their attributes, and the
// backoff of their receive loops.

var (
	accountPattern = regexp.MustCompile(`^\d{12}$`)
	// regionPattern is the shape of a region name: "us-west-2",
	// "ap-southeast-7", "us-gov-west-1", "cn-north-1".
	regionPattern = regexp.MustCompile(`^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+$`)
)

// attrString returns a string attribute, "" when it is not set.
func attrString(cfg cty.Value, name string) string {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return ""
	}
	return v.AsString()
}

// attrDuration reads a duration attribute ("20s", "5m"), def when it is
// not set. It must be within [min, max].
func attrDuration(cfg cty.Value, name string, def, min, max time.Duration) (time.Duration, error) {
	s := attrString(cfg, name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &AttributeError{Attribute: name, Summary: "Invalid duration",
			Detail: fmt.Sprintf("%q is not a duration like \"20s\", \"5m\" or \"1h\".", s)}
	}
	if d < min || d > max {
		return 0, &AttributeError{Attribute: name, Summary: "Invalid " + name,
			Detail: fmt.Sprintf("%s is %s; it must be from %s to %s.", name, s, shortDuration(min), shortDuration(max))}
	}
	return d, nil
}

// attrSeconds reads a duration attribute that AWS takes in whole seconds.
func attrSeconds(cfg cty.Value, name string, def, min, max time.Duration) (int32, error) {
	d, err := attrDuration(cfg, name, def, min, max)
	if err != nil {
		return 0, err
	}
	if d%time.Second != 0 {
		return 0, &AttributeError{Attribute: name, Summary: "Invalid " + name,
			Detail: fmt.Sprintf("%s is %s; AWS takes it in whole seconds, like %q.", name, attrString(cfg, name), shortDuration(d.Round(time.Second)))}
	}
	return int32(d / time.Second), nil
}

// attrInt reads a whole-number attribute within [min, max], def when it
// is not set.
func attrInt(cfg cty.Value, name string, def, min, max int) (int, error) {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return def, nil
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || n < int64(min) || n > int64(max) {
		return 0, &AttributeError{Attribute: name, Summary: "Invalid " + name,
			Detail: fmt.Sprintf("%s must be a whole number from %d to %d, not %s.", name, min, max, bf.Text('g', 10))}
	}
	return int(n), nil
}

// checkAccount checks an account attribute.
func checkAccount(attr, s string) error {
	if !accountPattern.MatchString(s) {
		return &AttributeError{Attribute: attr, Summary: "Invalid account ID",
			Detail: fmt.Sprintf("%q is not an AWS account ID (12 digits).", s)}
	}
	return nil
}

// checkRegion checks a region name.
func checkRegion(attr, s string) error {
	if strings.ContainsAny(s, "*?") {
		return &AttributeError{Attribute: attr, Summary: "Invalid region",
			Detail: fmt.Sprintf("%q is a glob; a source reads from the regions it names, so list them, like \"us-west-2\".", s)}
	}
	if !regionPattern.MatchString(s) {
		return &AttributeError{Attribute: attr, Summary: "Invalid region",
			Detail: fmt.Sprintf("%q is not an AWS region name, like \"us-west-2\" or \"eu-central-1\".", s)}
	}
	return nil
}

// shortDuration prints a duration without zero units: "5m", not "5m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// errNoAWS is a source started without AWS clients.
var errNoAWS = errors.New("no AWS access: the provider block (or the default credential chain) must give cordon credentials")

// backoff spaces out the attempts of a loop after failures: exponential
// from base, capped, with jitter so that replicas that failed together do
// not retry together.
type backoff struct {
	base, max time.Duration
	cur       time.Duration
}

func newBackoff(base, max time.Duration) *backoff { return &backoff{base: base, max: max} }

// next returns the delay before the next attempt.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.base
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	// Between half and all of it.
	half := b.cur / 2
	return half + rand.N(half+1)
}

// reset starts again from base after a success.
func (b *backoff) reset() { b.cur = 0 }

// Receive-loop backoff bounds.
const (
	backoffBase = 500 * time.Millisecond
	backoffMax  = 30 * time.Second
)

// transient reports whether an AWS error is worth retrying soon: the
// service was throttling or failing after the SDK's own attempts, or the
// network was. Anything else (access denied, a queue that does not exist)
// needs someone to change something.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429
	}
	// No HTTP response at all: the request never got an answer.
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}

// ackTimeout bounds the calls that acknowledge or give back what was
// received once the source is stopping: they must not hold up shutdown.
const ackTimeout = 10 * time.Second

// acknowledgeContext is the context of a call that must run even when the
// source was just told to stop: what was committed is acknowledged.
func acknowledgeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
}
