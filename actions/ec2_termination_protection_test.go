package actions

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// protection is what aws_ec2_termination_protection governs of an
// instance, as the emulator holds it.
type protection struct {
	disableAPITermination bool
	shutdownBehavior      string
	deleteOnTermination   map[string]bool
}

func protectionOf(r *awsemu.Region, id string) protection {
	in := r.Instances[id]
	p := protection{in.DisableAPITermination, in.ShutdownBehavior, map[string]bool{}}
	for _, v := range r.Volumes {
		if v.Attachment != nil && v.Attachment.InstanceID == id {
			p.deleteOnTermination[v.ID] = v.Attachment.DeleteOnTermination
		}
	}
	return p
}

func (p protection) equal(q protection) bool {
	if p.disableAPITermination != q.disableAPITermination || p.shutdownBehavior != q.shutdownBehavior ||
		len(p.deleteOnTermination) != len(q.deleteOnTermination) {
		return false
	}
	for k, v := range p.deleteOnTermination {
		if w, ok := q.deleteOnTermination[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestEC2TerminationProtectionLifecycle(t *testing.T) {
	tests := []struct {
		name string
		id   string
		// setup changes the instance before the test, through EC2.
		setup      func(*ec2.Client) error
		wantBefore map[string]any
		// wantCalls are the mutating calls Apply makes: one per attribute.
		wantCalls int
	}{
		{
			name: "running web server", id: ec2Fleet.web1,
			wantBefore: map[string]any{
				"disable_api_termination": false, "instance_initiated_shutdown_behavior": "stop",
				"delete_on_termination": map[string]any{ec2Fleet.web1Root: true, ec2Fleet.web1Data: false},
			},
			wantCalls: 2,
		},
		{
			name: "shutdown terminates", id: ec2Fleet.web2,
			setup: func(c *ec2.Client) error {
				_, err := c.ModifyInstanceAttribute(context.Background(), &ec2.ModifyInstanceAttributeInput{
					InstanceId: aws.String(ec2Fleet.web2), InstanceInitiatedShutdownBehavior: &ec2types.AttributeValue{Value: aws.String("terminate")},
				})
				return err
			},
			wantBefore: map[string]any{
				"disable_api_termination": false, "instance_initiated_shutdown_behavior": "terminate",
				"delete_on_termination": map[string]any{ec2Fleet.web2Root: true},
			},
			wantCalls: 3,
		},
		{
			name: "stopped, already protected from API termination", id: ec2Fleet.batch1,
			wantBefore: map[string]any{
				"disable_api_termination": true, "instance_initiated_shutdown_behavior": "stop",
			},
			wantCalls: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ctx := context.Background()
			if tc.setup != nil {
				if err := tc.setup(te.env.AWS.EC2(prodAccount, region)); err != nil {
					t.Fatal(err)
				}
			}
			initial := protectionOf(te.prodRegion(), tc.id)
			ex := newExecutor(t, "aws_ec2_termination_protection", nil)
			req := instanceRequest(tc.id)

			n := len(te.emu.Calls())
			before, after := applyTwice(t, te, ex, req)
			for k, v := range tc.wantBefore {
				if !jsonEqual(before[k], v) {
					t.Errorf("Read: %s = %v; want %v", k, before[k], v)
				}
			}
			var applied int
			for _, m := range ec2Mutations(te, n) {
				if !strings.HasPrefix(m, "ec2:ModifyInstanceAttribute ") {
					t.Errorf("unexpected mutating call %s", m)
				}
				applied++
			}
			if applied != tc.wantCalls {
				t.Errorf("Apply made %d ModifyInstanceAttribute calls; want %d (one per attribute to change)", applied, tc.wantCalls)
			}
			got := protectionOf(te.prodRegion(), tc.id)
			if !got.disableAPITermination || got.shutdownBehavior != "stop" {
				t.Errorf("after Apply: %+v", got)
			}
			for vol, dot := range got.deleteOnTermination {
				if dot {
					t.Errorf("after Apply: %s still deleted on termination", vol)
				}
			}
			wantAfter := map[string]any{"disable_api_termination": true, "instance_initiated_shutdown_behavior": "stop"}
			for k, v := range wantAfter {
				if !jsonEqual(after[k], v) {
					t.Errorf("Apply returned %s = %v; want %v", k, after[k], v)
				}
			}

			restored, err := ex.(Reverter).Revert(ctx, te.env, req, viaJSON(t, before), viaJSON(t, after))
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if got := protectionOf(te.prodRegion(), tc.id); !got.equal(initial) {
				t.Errorf("after Revert %+v; want the original %+v", got, initial)
			}
			for k, v := range before {
				if !jsonEqual(restored[k], v) {
					t.Errorf("Revert returned %s = %v; want %v", k, restored[k], v)
				}
			}
			ec2CheckPermissions(t, te, ex)
		})
	}
}

func TestEC2TerminationProtectionErrors(t *testing.T) {
	t.Parallel() // the throttled cases wait out the SDK's backoff
	tests := []struct {
		name  string
		id    string
		fault func(*awsemu.Faults)
		code  string
	}{
		{"unknown instance", ec2Fleet.unknown, nil, "InvalidInstanceID.NotFound"},
		{"terminated instance", ec2Fleet.terminated, nil, "IncorrectInstanceState"},
		{"not authorized", ec2Fleet.web1, func(f *awsemu.Faults) {
			f.Fail("ec2:ModifyInstanceAttribute", ec2Fleet.web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, "UnauthorizedOperation"},
		{"throttled, then fine", ec2Fleet.web1, func(f *awsemu.Faults) {
			f.Throttle("ec2:DescribeInstanceAttribute", 2)
			f.Throttle("ec2:ModifyInstanceAttribute", 1)
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newTestEnv(t)
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			ex := newExecutor(t, "aws_ec2_termination_protection", nil)
			req := instanceRequest(tc.id)
			live, err := ex.Read(context.Background(), te.env, req)
			if err == nil {
				_, _, err = ex.Apply(context.Background(), te.env, req, live)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if throttledCalls(te) == 0 {
					t.Error("no call was throttled")
				}
				return
			}
			ec2WantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.id) {
				t.Errorf("error %q does not name %s", err, tc.id)
			}
		})
	}
}

// Revert refuses a before-state it cannot restore from rather than
// guessing.
func TestEC2TerminationProtectionRevertIncompleteBefore(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_termination_protection", nil)
	_, err := ex.(Reverter).Revert(context.Background(), te.env, instanceRequest(ec2Fleet.web1),
		map[string]any{"disable_api_termination": false}, map[string]any{})
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("Revert: %v; want an error about the incomplete before-state", err)
	}
	if m := ec2Mutations(te, 0); len(m) > 0 {
		t.Errorf("mutating calls %v", m)
	}
}
