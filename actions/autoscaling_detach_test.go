package actions

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// Fleet members the tests of this file and its siblings act on.
const (
	web1   = "i-0a1b2c3d4e5f60101" // web-asg, web-tg, legacy-web
	web2   = "i-0a1b2c3d4e5f60102" // web-asg, web-tg
	batch1 = "i-0a1b2c3d4e5f60103" // stopped, in nothing
	nosuch = "i-0fffffffffffffff0"
)

var bg = context.Background()

// apiCode is the AWS error code in err's chain, "" for none: actions must
// keep the SDK error wrapped.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// actionCalls are the IAM actions of the calls cordon made (as its base
// user or the role it assumes, not as an attacker's key a test uses),
// without the AssumeRole calls the client factory makes by itself.
func actionCalls(emu *awsemu.Emulator) []string {
	var out []string
	for _, c := range emu.Calls() {
		ours := strings.HasSuffix(c.Principal, ":user/automation/cordon") || strings.Contains(c.Principal, ":assumed-role/cordon-responder/")
		if a := c.Action(); ours && a != "sts:AssumeRole" {
			out = append(out, a)
		}
	}
	return out
}

// checkPermitted fails when an action made a call Permissions does not list.
func checkPermitted(t *testing.T, ex Executor, calls []string) {
	t.Helper()
	perms := ex.Permissions()
	for _, c := range calls {
		if !slices.Contains(perms, c) {
			t.Errorf("call %s is not in Permissions() %v", c, perms)
		}
	}
	if !slices.IsSorted(perms) {
		t.Errorf("Permissions() %v is not sorted", perms)
	}
}

// countCalls counts the calls of any of the given actions.
func countCalls(calls []string, actions ...string) int {
	n := 0
	for _, c := range calls {
		if slices.Contains(actions, c) {
			n++
		}
	}
	return n
}

func TestAutoscalingDetachRead(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_autoscaling_detach", nil)
	tests := []struct {
		id   string
		want any
	}{
		{web1, "web-asg"},
		{web2, "web-asg"},
		{batch1, nil},
		{nosuch, nil}, // Auto Scaling knows nothing of it, as AWS answers
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			live, err := ex.Read(bg, te.env, instanceRequest(tc.id))
			if err != nil {
				t.Fatal(err)
			}
			if len(live) != 1 || live["autoscaling_group"] != tc.want {
				t.Errorf("Read = %v, want autoscaling_group %v", live, tc.want)
			}
		})
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

func TestAutoscalingDetachApplyRevert(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_autoscaling_detach", nil)
	req := instanceRequest(web1)
	rev := ex.(Reverter)

	before, err := ex.Read(bg, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(bg, te.env, req, before)
	if err != nil || !changed || after["autoscaling_group"] != nil {
		t.Fatalf("Apply = %v, %v, %v", after, changed, err)
	}
	r := te.emu.Snapshot().Accounts[prodAccount].Regions[region]
	if g := r.Instances[web1].AutoScalingGroup; g != "" {
		t.Errorf("instance still in group %q", g)
	}
	asg := r.AutoScalingGroups["web-asg"]
	if asg.DesiredCapacity != 2 {
		t.Errorf("desired capacity %d, want 2 (kept, so the group replaces the instance)", asg.DesiredCapacity)
	}
	last := asg.Activities[len(asg.Activities)-1]
	if last.Kind != "detach" || last.ShouldDecrementDesiredCapacity == nil || *last.ShouldDecrementDesiredCapacity {
		t.Errorf("last activity %+v, want a detach without decrement", last)
	}

	// Apply again on a fresh read: nothing to do, nothing called.
	live, err := ex.Read(bg, te.env, req)
	if err != nil || live["autoscaling_group"] != nil {
		t.Fatalf("Read after Apply = %v, %v", live, err)
	}
	te.emu.ResetCalls()
	if _, changed, err := ex.Apply(bg, te.env, req, live); err != nil || changed {
		t.Errorf("second Apply: changed=%v err=%v", changed, err)
	}
	if n := len(actionCalls(te.emu)); n != 0 {
		t.Errorf("second Apply made %d calls", n)
	}

	restored, err := rev.Revert(bg, te.env, req, before, after)
	if err != nil || restored["autoscaling_group"] != "web-asg" {
		t.Fatalf("Revert = %v, %v", restored, err)
	}
	live, err = ex.Read(bg, te.env, req)
	if err != nil || live["autoscaling_group"] != "web-asg" {
		t.Errorf("Read after Revert = %v, %v", live, err)
	}
	// Reverting what changed nothing does nothing.
	if got, err := rev.Revert(bg, te.env, instanceRequest(batch1), map[string]any{"autoscaling_group": nil}, map[string]any{"autoscaling_group": nil}); err != nil || got["autoscaling_group"] != nil {
		t.Errorf("Revert of a no-op = %v, %v", got, err)
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

func TestAutoscalingDetachErrors(t *testing.T) {
	inGroup := map[string]any{"autoscaling_group": "web-asg"}
	tests := []struct {
		name   string
		fault  func(*awsemu.Faults)
		run    func(Executor, *Env) error
		code   string
		member string // web1's group afterwards
	}{
		{"detach denied",
			func(f *awsemu.Faults) {
				f.Fail("autoscaling:DetachInstances", web1, "AccessDenied", "not authorized")
			},
			func(ex Executor, env *Env) error {
				_, _, err := ex.Apply(bg, env, instanceRequest(web1), inGroup)
				return err
			}, "AccessDenied", "web-asg"},
		{"describe denied",
			func(f *awsemu.Faults) {
				f.Fail("autoscaling:DescribeAutoScalingInstances", "*", "AccessDenied", "not authorized")
			},
			func(ex Executor, env *Env) error {
				_, err := ex.Read(bg, env, instanceRequest(web1))
				return err
			}, "AccessDenied", "web-asg"},
		{"group gone since the plan",
			nil,
			func(ex Executor, env *Env) error {
				_, _, err := ex.Apply(bg, env, instanceRequest(web1), map[string]any{"autoscaling_group": "old-asg"})
				return err
			}, "ValidationError", "web-asg"},
		{"revert of a stopped instance",
			nil,
			func(ex Executor, env *Env) error {
				_, err := ex.(Reverter).Revert(bg, env, instanceRequest(batch1), inGroup, map[string]any{"autoscaling_group": nil})
				return err
			}, "ValidationError", "web-asg"},
		{"throttled twice, then served",
			func(f *awsemu.Faults) {
				f.Throttle("autoscaling:DetachInstances", 2)
			},
			func(ex Executor, env *Env) error {
				_, _, err := ex.Apply(bg, env, instanceRequest(web1), inGroup)
				return err
			}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ex := newExecutor(t, "aws_autoscaling_detach", nil)
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			err := tc.run(ex, te.env)
			if tc.code == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.code != "" && apiCode(err) != tc.code {
				t.Fatalf("error %v (code %q), want code %s", err, apiCode(err), tc.code)
			}
			if g := te.emu.Snapshot().Accounts[prodAccount].Regions[region].Instances[web1].AutoScalingGroup; g != tc.member {
				t.Errorf("web-1 is in group %q, want %q", g, tc.member)
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
}
