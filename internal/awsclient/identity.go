package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Identity is who cordon acts as in an account: STS GetCallerIdentity's
// answer with the credentials (and the role) used there.
type Identity struct {
	Account string
	ARN     string
	UserID  string
}

// identityAttempts bounds the attempts of an access check: an endpoint
// that refuses connections must fail the check in a second, not after the
// retries an incident's own calls are given.
const identityAttempts = 2

// CheckAccess asks STS who cordon is in account (the role assumed there,
// when the provider assumes one), with the credentials every call there
// would use: the one call that tells, before any other, whether calls in
// the account can succeed at all. It also refuses credentials of another
// account than the one asked for (account empty: any), which would read
// and change another account's resources, or none. The error names the
// account and says why, in one line (see Cause).
func (f *Factory) CheckAccess(ctx context.Context, account, region string) (Identity, error) {
	cfg := f.Config(account, region)
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.RetryMaxAttempts = identityAttempts
	})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	where := "in account " + account
	if account == "" {
		where = "with the configured credentials"
	}
	if err != nil {
		return Identity{}, &AccessError{Account: account, Err: err, msg: fmt.Sprintf("cannot call AWS %s: %s", where, Cause(err))}
	}
	id := Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId)}
	if account != "" && id.Account != account {
		return id, &AccessError{Account: account, msg: fmt.Sprintf(
			"cannot act in account %s: the credentials are %s, of account %s (set assume_role_arn in the provider block to a role in each finding's account)",
			account, id.ARN, id.Account)}
	}
	return id, nil
}

// AccessError is a failed CheckAccess: no call in the account can succeed.
type AccessError struct {
	// Account is the account checked; empty for the base credentials.
	Account string
	// Err is the SDK's error, nil for credentials of the wrong account.
	Err error
	msg string
}

func (e *AccessError) Error() string { return e.msg }
func (e *AccessError) Unwrap() error { return e.Err }

// Cause says in one line why an AWS call failed, without the SDK's
// wrapping ("operation error STS: GetCallerIdentity, https response error
// StatusCode: 403, RequestID: …"): the connection error for an endpoint
// that cannot be reached, the service's error code and message for a
// refusal, or the credential chain's own reason. Many calls failing for one
// reason give one cause, so their failures can be grouped.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) && send.Err != nil {
		return innermost(send.Err)
	}
	msg := err.Error()
	// The credential chain's error: "failed to refresh cached credentials,
	// no EC2 IMDS role found, …" under the operation's wrapping.
	if i := strings.LastIndex(msg, "failed to refresh cached credentials"); i >= 0 {
		return "no AWS credentials: " + strings.TrimPrefix(msg[i:], "failed to refresh cached credentials, ")
	}
	if i := strings.LastIndex(msg, "failed to retrieve credentials"); i >= 0 {
		return "no AWS credentials: " + strings.TrimPrefix(msg[i:], "failed to retrieve credentials: ")
	}
	return innermost(err)
}

// innermost is the message of the deepest error of a chain.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// IsAccessError reports whether err means that cordon cannot call AWS at
// all with its credentials (none, refused, expired, a role it cannot
// assume) or cannot reach it (connection refused, DNS): every call would
// fail the same way, whatever it asks.
func IsAccessError(err error) bool {
	if err == nil {
		return false
	}
	var ae *AccessError
	if errors.As(err, &ae) {
		return true
	}
	var send *smithyhttp.RequestSendError
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &send) || errors.As(err, &op) || errors.As(err, &dns) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
			"ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId", "AuthFailure",
			"IncompleteSignature", "MissingAuthenticationToken":
			return true
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "failed to refresh cached credentials") || strings.Contains(msg, "failed to retrieve credentials")
}
