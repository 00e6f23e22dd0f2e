// Package awsclient builds the aws-sdk-go-v2 clients cordon's actions and
// collectors use, one configuration per (account, region): the default
// credential chain or a named profile, an optional role assumed in the
// finding's account, one endpoint override for every service (the
// emulator, VPC endpoints), the SDK's adaptive retry mode, and a user
// agent naming cordon.
//
// Credentials never leave the SDK's providers: nothing here logs or
// formats them.
package awsclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// Options configure a Factory. They mirror the `provider "aws"` block.
type Options struct {
	// Region is the fallback region when a finding has none.
	Region string
	// Profile selects a shared-config profile; empty uses the default chain.
	Profile string
	// Endpoint overrides every service's endpoint.
	Endpoint string
	// AssumeRoleARN is assumed per account, with "{account}" replaced by
	// the finding's account id.
	AssumeRoleARN string
	// Credentials replaces the default chain (tests, the demo).
	Credentials aws.CredentialsProvider
	// HTTPClient replaces the SDK's HTTP client.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts per call (default 5: an incident is
	// exactly when an account's API rate limits are being hit).
	MaxAttempts int
	// MaxBackoff caps the delay between retries (default the SDK's 20s);
	// tests against the emulator set it low.
	MaxBackoff time.Duration
	// Debug receives the SDK's retry log lines; nil discards them.
	Debug io.Writer
	// Version is cordon's version, sent in the user agent.
	Version string
}

// DefaultMaxAttempts is the attempts per AWS call when Options does not
// say.
const DefaultMaxAttempts = 5

// Factory hands out configurations and clients per (account, region). It
// is safe for concurrent use, and caches assumed-role credentials until
// they expire (aws.CredentialsCache refreshes them ahead of expiry).
type Factory struct {
	opts Options
	base aws.Config

	mu    sync.Mutex
	byKey map[key]aws.Config
}

type key struct{ account, region string }

// New loads the base configuration (credential chain, profile, shared
// config) once.
func New(ctx context.Context, opts Options) (*Factory, error) {
	var loads []func(*awsconfig.LoadOptions) error
	if opts.Region != "" {
		loads = append(loads, awsconfig.WithRegion(opts.Region))
	}
	if opts.Profile != "" {
		loads = append(loads, awsconfig.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Credentials != nil {
		loads = append(loads, awsconfig.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		loads = append(loads, awsconfig.WithHTTPClient(opts.HTTPClient))
	}
	if opts.Endpoint != "" {
		loads = append(loads, awsconfig.WithBaseEndpoint(opts.Endpoint))
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	loads = append(loads,
		awsconfig.WithAppID("cordon/"+version),
		awsconfig.WithRetryer(func() aws.Retryer {
			attempts := opts.MaxAttempts
			if attempts <= 0 {
				attempts = DefaultMaxAttempts
			}
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(s *retry.StandardOptions) {
					s.MaxAttempts = attempts
					if opts.MaxBackoff > 0 {
						s.MaxBackoff = opts.MaxBackoff
					}
				})
			})
		}),
	)
	if opts.Debug != nil {
		loads = append(loads,
			awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
				fmt.Fprintf(opts.Debug, "[DEBUG] aws: "+format+"\n", v...)
			})),
			// Retries only: request and response logging would print
			// signed headers and bodies.
			awsconfig.WithClientLogMode(aws.LogRetries),
		)
	} else {
		// The SDK's default logger writes its warnings (an IMDS fallback)
		// to stderr, between cordon's own output; they belong to -debug.
		loads = append(loads, awsconfig.WithLogger(logging.Nop{}))
	}
	base, err := awsconfig.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	// Wrapped after loading, so the loader's own customizations (a CA
	// bundle) apply to the SDK's client first.
	base.HTTPClient = HTTPClient(base.HTTPClient)
	if base.Credentials != nil {
		base.Credentials = &failFastCredentials{inner: base.Credentials, ttl: credentialFailureTTL}
	}
	return &Factory{opts: opts, base: base, byKey: map[key]aws.Config{}}, nil
}

// Config returns the configuration for acting in account and region: the
// base credentials, or the role assumed in that account.
func (f *Factory) Config(account, region string) aws.Config {
	if region == "" {
		region = f.base.Region
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key{account, region}
	if cfg, ok := f.byKey[k]; ok {
		return cfg
	}
	cfg := f.base.Copy()
	cfg.Region = region
	if f.opts.AssumeRoleARN != "" && account != "" {
		roleARN := strings.ReplaceAll(f.opts.AssumeRoleARN, "{account}", account)
		stsClient := sts.NewFromConfig(f.base, func(o *sts.Options) { o.Region = region })
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "cordon"
		}))
	}
	f.byKey[k] = cfg
	return cfg
}

// CheckCredentials retrieves the credentials for account and region (the
// role assumed there), from cache when it can: a caller that must wait
// before its calls (a rate limit) learns first whether they can succeed.
func (f *Factory) CheckCredentials(ctx context.Context, account, region string) error {
	_, err := f.Config(account, region).Credentials.Retrieve(ctx)
	return err
}

// AccessKeyID returns the access key id of the credentials cordon acts
// with in account, so actions can refuse to disable cordon's own key.
func (f *Factory) AccessKeyID(ctx context.Context, account, region string) (string, error) {
	creds, err := f.Config(account, region).Credentials.Retrieve(ctx)
	if err != nil {
		return "", err
	}
	return creds.AccessKeyID, nil
}

// BaseAccessKeyID returns the access key id of the base credentials (before
// any role is assumed).
func (f *Factory) BaseAccessKeyID(ctx context.Context) (string, error) {
	creds, err := f.base.Credentials.Retrieve(ctx)
	if err != nil {
		return "", err
	}
	return creds.AccessKeyID, nil
}

// The clients. Each is cheap to build from a cached configuration.

func (f *Factory) EC2(account, region string) *ec2.Client {
	return ec2.NewFromConfig(f.Config(account, region))
}

func (f *Factory) IAM(account, region string) *iam.Client {
	return iam.NewFromConfig(f.Config(account, region))
}

func (f *Factory) STS(account, region string) *sts.Client {
	return sts.NewFromConfig(f.Config(account, region))
}

func (f *Factory) SSM(account, region string) *ssm.Client {
	return ssm.NewFromConfig(f.Config(account, region))
}

func (f *Factory) CloudTrail(account, region string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(f.Config(account, region))
}

func (f *Factory) GuardDuty(account, region string) *guardduty.Client {
	return guardduty.NewFromConfig(f.Config(account, region))
}

// SQS is the client of a finding queue. Its long polls (ReceiveMessage
// with WaitTimeSeconds) hold a request open for up to 20 seconds.
func (f *Factory) SQS(account, region string) *sqs.Client {
	return sqs.NewFromConfig(f.Config(account, region))
}

func (f *Factory) AutoScaling(account, region string) *autoscaling.Client {
	return autoscaling.NewFromConfig(f.Config(account, region))
}

func (f *Factory) ELBv2(account, region string) *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.NewFromConfig(f.Config(account, region))
}

func (f *Factory) ELB(account, region string) *elasticloadbalancing.Client {
	return elasticloadbalancing.NewFromConfig(f.Config(account, region))
}

// credentialFailureTTL is how long a failure to find credentials is
// remembered.
const credentialFailureTTL = time.Minute

// failFastCredentials remembers for a while that the credential chain found
// no credentials. The SDK's cache retries a failed chain on every call, and
// the chain ends at the instance metadata service, which off EC2 takes
// seconds to fail: a plan of many findings without credentials would wait
// that long for every collector of every finding, instead of reporting the
// one cause in each.
type failFastCredentials struct {
	inner aws.CredentialsProvider
	ttl   time.Duration

	mu       sync.Mutex
	err      error
	failedAt time.Time
}

func (c *failFastCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.mu.Lock()
	if c.err != nil && time.Since(c.failedAt) < c.ttl {
		err := c.err
		c.mu.Unlock()
		return aws.Credentials{}, err
	}
	c.mu.Unlock()
	creds, err := c.inner.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		// A caller's own deadline says nothing about the chain.
		c.mu.Lock()
		c.err, c.failedAt = err, time.Now()
		c.mu.Unlock()
	}
	return creds, err
}
