package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/demo"
)

// A revert that cannot call AWS is refused before it locks or records
// anything, as an apply is: the incident's record is what it was, and a
// revert with access afterwards undoes everything.
func TestRevertChecksAccessFirst(t *testing.T) {
	tests := []struct {
		name string
		// factory returns the clients the failing revert is given, for
		// the emulator at endpoint.
		factory func(t *testing.T, endpoint string) *awsclient.Factory
		cause   string
	}{
		{"credentials refused", func(t *testing.T, endpoint string) *awsclient.Factory {
			return factory(t, awsclient.Options{Endpoint: endpoint, AssumeRoleARN: demo.ResponderRoleARN,
				Credentials: credentials.NewStaticCredentialsProvider("AKIAUNKNOWNKEY000001", demo.CordonSecretKey, "")})
		}, "InvalidClientTokenId"},
		{"no credentials", func(t *testing.T, endpoint string) *awsclient.Factory {
			// The SDK's default chain, finding nothing anywhere.
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
			t.Setenv("AWS_SESSION_TOKEN", "")
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
			t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
			t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
			return factory(t, awsclient.Options{Endpoint: endpoint, AssumeRoleARN: demo.ResponderRoleARN})
		}, "no AWS credentials"},
		{"role that cannot be assumed", func(t *testing.T, endpoint string) *awsclient.Factory {
			return factory(t, awsclient.Options{Endpoint: endpoint, AssumeRoleARN: "arn:aws:iam::{account}:role/cordon-nobody",
				Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, "")})
		}, "AccessDenied"},
		{"credentials of another account", func(t *testing.T, endpoint string) *awsclient.Factory {
			return factory(t, awsclient.Options{Endpoint: endpoint,
				Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, "")})
		}, "of account " + demo.SecurityAccount},
		{"endpoint unreachable", func(t *testing.T, _ string) *awsclient.Factory {
			gone := httptest.NewServer(nil)
			gone.Close()
			return factory(t, awsclient.Options{Endpoint: gone.URL, AssumeRoleARN: demo.ResponderRoleARN,
				Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, "")})
		}, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ae := newApplyEnv(t)
			res, err := ae.apply(ae.plan(web1Findings))
			if err != nil || res.Failed() {
				t.Fatal(err, res.Summary)
			}
			inc := res.Actions[0].Incident
			rp, err := ae.eng.PlanRevert(ctx, ae.store, inc)
			if err != nil || len(rp.Actions) != 4 {
				t.Fatalf("revert plan: %v, %d actions", err, len(rp.Actions))
			}
			recorded := incidentJSON(t, ae, inc)
			calls := len(ae.emu.Calls())

			opts := ae.options()
			opts.AWS = tt.factory(t, emulatorURL(t, ae))
			start := time.Now()
			rres, err := ae.eng.Revert(ctx, rp, opts)
			if !errors.Is(err, engine.ErrNoAccess) || rres != nil {
				t.Fatalf("revert without access: %v, %+v; want ErrNoAccess", err, rres)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.cause) || !strings.Contains(msg, "in account "+demo.ProdAccount) ||
				!strings.Contains(msg, "Nothing was reverted or recorded") || !strings.Contains(msg, "cordon revert "+inc) {
				t.Errorf("the error does not say what failed and what to do: %s", msg)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("the error is not one line: %q", msg)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the refusal took %s", d)
			}
			// The same refusal from the check alone, as `cordon revert`
			// runs it before asking for approval.
			if err := ae.eng.CheckRevertAccess(ctx, rp, opts); !errors.Is(err, engine.ErrNoAccess) || !strings.Contains(err.Error(), tt.cause) {
				t.Errorf("CheckRevertAccess: %v", err)
			}

			// Nothing changed: no call but STS's, the same record, no
			// lock left, web-1 still stopped.
			for _, c := range ae.emu.Calls()[calls:] {
				if c.Service != "sts" {
					t.Errorf("a revert without access called %s", c.Action())
				}
			}
			if got := incidentJSON(t, ae, inc); got != recorded {
				t.Errorf("the refused revert changed the incident's record:\nbefore %s\nafter  %s", recorded, got)
			}
			if locks, err := ae.store.Locks(ctx); err != nil || len(locks) != 0 {
				t.Errorf("locks after the refusal: %v %+v", err, locks)
			}
			if s := ae.region().Instances[web1].State; s != "stopped" {
				t.Errorf("web-1 is %s after a refused revert", s)
			}

			// With access, the same revert plan undoes everything.
			if err := ae.eng.CheckRevertAccess(ctx, rp, ae.options()); err != nil {
				t.Errorf("CheckRevertAccess with access: %v", err)
			}
			rres, err = ae.eng.Revert(ctx, rp, ae.options())
			if err != nil || rres.Failed() || rres.Summary.Applied != 4 {
				t.Fatalf("revert with access: %v %+v", err, rres)
			}
			if s := ae.region().Instances[web1].State; s != "running" {
				t.Errorf("web-1 is %s after the revert", s)
			}
		})
	}
}

// A revert with nothing left to undo calls nothing, not even STS.
func TestRevertWithNothingToUndoChecksNothing(t *testing.T) {
	ctx := context.Background()
	ae := newApplyEnv(t)
	res, err := ae.apply(ae.plan(web1Findings))
	if err != nil || res.Failed() {
		t.Fatal(err)
	}
	inc := res.Actions[0].Incident
	rp, err := ae.eng.PlanRevert(ctx, ae.store, inc)
	if err != nil {
		t.Fatal(err)
	}
	if rr, err := ae.eng.Revert(ctx, rp, ae.options()); err != nil || rr.Failed() {
		t.Fatal(err)
	}
	if rp, err = ae.eng.PlanRevert(ctx, ae.store, inc); err != nil || len(rp.Actions) != 0 {
		t.Fatalf("second revert plan: %v", err)
	}
	calls := len(ae.emu.Calls())
	opts := ae.options()
	opts.AWS = factory(t, awsclient.Options{Endpoint: emulatorURL(t, ae),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAUNKNOWNKEY000001", demo.CordonSecretKey, "")})
	if err := ae.eng.CheckRevertAccess(ctx, rp, opts); err != nil {
		t.Errorf("CheckRevertAccess of an empty revert: %v", err)
	}
	if rr, err := ae.eng.Revert(ctx, rp, opts); err != nil || len(rr.Actions) != 0 {
		t.Errorf("empty revert: %v %+v", err, rr)
	}
	if n := len(ae.emu.Calls()) - calls; n != 0 {
		t.Errorf("an empty revert made %d calls", n)
	}
}

// factory builds clients for the emulator, in the demo's region, retrying
// without delay.
func factory(t *testing.T, o awsclient.Options) *awsclient.Factory {
	t.Helper()
	o.Region, o.MaxBackoff = demo.Region, time.Millisecond
	f, err := awsclient.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// emulatorURL is the endpoint ae's clients call.
func emulatorURL(t *testing.T, ae *applyEnv) string {
	t.Helper()
	ep := aws.ToString(ae.aws.Config(demo.ProdAccount, demo.Region).BaseEndpoint)
	if ep == "" {
		t.Fatal("the test clients have no endpoint")
	}
	return ep
}

// incidentJSON is the incident's whole record in state.
func incidentJSON(t *testing.T, ae *applyEnv, inc string) string {
	t.Helper()
	d, err := ae.store.Incident(context.Background(), inc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
