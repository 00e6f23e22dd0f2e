package awsclient

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// chain is a credential chain that fails until told otherwise.
type chain struct {
	calls atomic.Int32
	ok    atomic.Bool
}

func (c *chain) Retrieve(context.Context) (aws.Credentials, error) {
	c.calls.Add(1)
	if c.ok.Load() {
		return aws.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "x", Source: "test"}, nil
	}
	return aws.Credentials{}, errors.New("no EC2 IMDS role found")
}

func TestFailFastCredentials(t *testing.T) {
	inner := &chain{}
	c := &failFastCredentials{inner: inner, ttl: time.Hour}
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.Retrieve(ctx); err == nil || err.Error() != "no EC2 IMDS role found" {
			t.Fatalf("call %d: %v, want the chain's error", i, err)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("the failing chain was asked %d times, want once", n)
	}

	// After the TTL the chain is asked again, and success is not cached here
	// (the SDK's cache does that).
	c.ttl = 0
	inner.ok.Store(true)
	creds, err := c.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKIAEXAMPLE" {
		t.Fatalf("after the TTL: %v %v", creds, err)
	}

	// A caller's cancelled context is not remembered as the chain failing.
	inner.ok.Store(false)
	c2 := &failFastCredentials{inner: inner, ttl: time.Hour}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	c2.Retrieve(cancelled)
	if c2.err != nil {
		t.Errorf("a cancelled caller's failure was remembered: %v", c2.err)
	}
}
