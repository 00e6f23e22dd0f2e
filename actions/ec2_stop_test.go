package actions

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
)

func TestEC2StopRead(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_stop", nil)
	tests := []struct {
		id, want, code string
	}{
		{id: ec2Fleet.web1, want: "running"},
		{id: ec2Fleet.batch1, want: "stopped"},
		{id: ec2Fleet.terminated, want: "terminated"},
		{id: ec2Fleet.unknown, code: "InvalidInstanceID.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, err := ex.Read(context.Background(), te.env, instanceRequest(tc.id))
			if tc.code != "" {
				ec2WantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got["state"] != tc.want || len(got) != 1 {
				t.Errorf("Read = %v; want state %s", got, tc.want)
			}
		})
	}
}

func TestEC2StopLifecycle(t *testing.T) {
	tests := []struct {
		name string
		// delay is how many DescribeInstances calls an instance takes to
		// stop or start.
		delay int
		attrs map[string]cty.Value
	}{
		{"at once", 0, nil},
		{"after a while", 3, map[string]cty.Value{"wait": cty.StringVal("5s")}},
		{"forced", 0, map[string]cty.Value{"force": cty.True}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnvSeed(t, func(s *awsemu.Seed) { s.Options.TransitionDelayCalls = tc.delay })
			ex := newExecutor(t, "aws_ec2_stop", tc.attrs)
			req := instanceRequest(ec2Fleet.web1)

			before, after := applyTwice(t, te, ex, req)
			if before["state"] != "running" || after["state"] != "stopped" {
				t.Errorf("before %v, after %v", before, after)
			}
			if s := te.prodRegion().Instances[ec2Fleet.web1].State; s != "stopped" {
				t.Errorf("instance is %s after Apply", s)
			}
			n := len(te.emu.Calls())
			restored, err := ex.(Reverter).Revert(context.Background(), te.env, req, viaJSON(t, before), viaJSON(t, after))
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if restored["state"] != "running" {
				t.Errorf("Revert returned %v", restored)
			}
			if s := te.prodRegion().Instances[ec2Fleet.web1].State; s != "running" {
				t.Errorf("instance is %s after Revert", s)
			}
			if m := ec2Mutations(te, n); !slices.Equal(m, []string{"ec2:StartInstances " + ec2Fleet.web1}) {
				t.Errorf("Revert made calls %v; want one StartInstances", m)
			}
			ec2CheckPermissions(t, te, ex)
		})
	}
}

// An instance already stopped is left alone, and so is it by Revert.
func TestEC2StopAlreadyStopped(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_stop", nil)
	req := instanceRequest(ec2Fleet.batch1)
	live, err := ex.Read(context.Background(), te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(context.Background(), te.env, req, viaJSON(t, live))
	if err != nil || changed || after["state"] != "stopped" {
		t.Errorf("Apply = %v, %t, %v; want stopped, unchanged", after, changed, err)
	}
	if _, err := ex.(Reverter).Revert(context.Background(), te.env, req, live, after); err != nil {
		t.Errorf("Revert: %v", err)
	}
	if m := ec2Mutations(te, 0); len(m) > 0 {
		t.Errorf("mutating calls %v", m)
	}
}

func TestEC2StopErrors(t *testing.T) {
	t.Parallel() // the throttled cases wait out the SDK's backoff
	tests := []struct {
		name  string
		id    string
		delay int
		wait  string
		fault func(*awsemu.Faults)
		code  string // AWS error in the chain
		msg   string // text in the error
	}{
		{name: "unknown instance", id: ec2Fleet.unknown, code: "InvalidInstanceID.NotFound"},
		{name: "terminated instance", id: ec2Fleet.terminated, msg: "is terminated"},
		{name: "not authorized", id: ec2Fleet.web1, fault: func(f *awsemu.Faults) {
			f.Fail("ec2:StopInstances", ec2Fleet.web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, code: "UnauthorizedOperation"},
		{name: "stop protection", id: ec2Fleet.web1, fault: func(f *awsemu.Faults) {
			f.Fail("ec2:StopInstances", "*", "OperationNotPermitted", "The instance may not be stopped.")
		}, code: "OperationNotPermitted"},
		{name: "does not stop in time", id: ec2Fleet.web1, delay: 1000, wait: "300ms", msg: "waiting up to 300ms for " + ec2Fleet.web1 + " to stop"},
		{name: "throttled, then fine", id: ec2Fleet.web1, fault: func(f *awsemu.Faults) { f.Throttle("ec2:StopInstances", 2) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newTestEnvSeed(t, func(s *awsemu.Seed) { s.Options.TransitionDelayCalls = tc.delay })
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			attrs := map[string]cty.Value{}
			if tc.wait != "" {
				attrs["wait"] = cty.StringVal(tc.wait)
			}
			ex := newExecutor(t, "aws_ec2_stop", attrs)
			req := instanceRequest(tc.id)
			live, err := ex.Read(context.Background(), te.env, req)
			if err == nil {
				_, _, err = ex.Apply(context.Background(), te.env, req, live)
			}
			switch {
			case tc.code != "":
				ec2WantCode(t, err, tc.code)
			case tc.msg != "":
				if err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %v; want one saying %q", err, tc.msg)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if throttledCalls(te) == 0 {
					t.Error("no call was throttled")
				}
				return
			}
			if !strings.Contains(err.Error(), tc.id) {
				t.Errorf("error %q does not name %s", err, tc.id)
			}
		})
	}
}

// The wait honours the context: a cancelled apply stops waiting at once.
func TestEC2StopWaitHonoursContext(t *testing.T) {
	te := newTestEnvSeed(t, func(s *awsemu.Seed) { s.Options.TransitionDelayCalls = 1000 })
	ex := newExecutor(t, "aws_ec2_stop", nil) // waits up to 10m
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, changed, err := ex.Apply(ctx, te.env, instanceRequest(ec2Fleet.web1), map[string]any{"state": "running"})
	if err == nil || !changed {
		t.Fatalf("Apply = %t, %v; want an error after stopping", changed, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v; want the context's deadline in the chain", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Apply returned after %s", d)
	}
}

func TestEC2StopConfig(t *testing.T) {
	def, _ := Lookup("aws_ec2_stop")
	tests := []struct {
		wait string
		ok   bool
		want time.Duration
	}{
		{"", true, defaultStopWait},
		{"90s", true, 90 * time.Second},
		{"0s", false, 0},
		{"-1m", false, 0},
		{"soon", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.wait, func(t *testing.T) {
			wait := cty.NullVal(cty.String)
			if tc.wait != "" {
				wait = cty.StringVal(tc.wait)
			}
			a, err := def.New(cty.ObjectVal(map[string]cty.Value{"force": cty.NullVal(cty.Bool), "wait": wait}))
			if !tc.ok {
				var ae *AttributeError
				if !errors.As(err, &ae) || ae.Attribute != "wait" {
					t.Fatalf("New: %v; want an AttributeError on wait", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := a.(ec2Stop).wait; got != tc.want {
				t.Errorf("wait %s; want %s", got, tc.want)
			}
		})
	}
}

func TestWaiterDelays(t *testing.T) {
	tests := []struct {
		wait, min, max time.Duration
	}{
		{10 * time.Minute, 15 * time.Second, 30 * time.Second},
		{time.Minute, 3 * time.Second, 15 * time.Second},
		{2 * time.Second, 100 * time.Millisecond, 500 * time.Millisecond},
		{time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		lo, hi := waiterDelays(tc.wait)
		if lo != tc.min || hi != tc.max || lo > hi {
			t.Errorf("waiterDelays(%s) = %s, %s; want %s, %s", tc.wait, lo, hi, tc.min, tc.max)
		}
	}
}
