package actions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2Stop stops the instance: the workload ends, the disks stay. It runs in
// the disrupt phase, after acquisition, and never for an instance whose
// containment failed (the engine stops later phases for that target).
type ec2Stop struct {
	force bool
	// wait bounds how long Apply waits for "stopped" and Revert for
	// "running".
	wait time.Duration
}

// defaultStopWait is long enough for an instance with large instance
// store or a slow shutdown script; EC2 forces nothing on its own before.
const defaultStopWait = 10 * time.Minute

func init() {
	Register(&Definition{
		Type:        "aws_ec2_stop",
		Summary:     "Stop the instance",
		Phase:       Disrupt,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"force": &hcldec.AttrSpec{Name: "force", Type: cty.Bool},
			"wait":  &hcldec.AttrSpec{Name: "wait", Type: cty.String},
		},
		New: newEC2Stop,
	})
}

func newEC2Stop(cfg cty.Value) (Action, error) {
	wait, err := attrDuration(cfg, "wait", defaultStopWait)
	if err != nil {
		return nil, err
	}
	if wait == 0 {
		return nil, &AttributeError{Attribute: "wait", Summary: "Invalid duration",
			Detail: "The wait for the instance to stop must be longer than zero."}
	}
	return ec2Stop{force: attrBool(cfg, "force"), wait: wait}, nil
}

func (ec2Stop) Describe(req *Request) Change {
	c := Change{Before: map[string]any{}, After: map[string]any{"state": "stopped"}}
	if s, ok := viewInstance(req).str("state", "instance_state"); ok {
		c.Before["state"] = s
	} else {
		c.BeforeUnknown = []string{"state"}
	}
	return c
}

// Grants: StopInstances and StartInstances act on the instance
// (instance*), the target (Service Authorization Reference for Amazon
// EC2).
func (ec2Stop) Grants() []Grant {
	return []Grant{
		{Name: "Read", Actions: []string{"ec2:DescribeInstances"}, Resources: allResources},
		{Actions: []string{"ec2:StartInstances", "ec2:StopInstances"}, Resources: []string{ec2InstanceARN}, TargetTagKey: ec2TagKey},
	}
}

func (a ec2Stop) Permissions() []string { return grantActions(a.Grants()) }

func (ec2Stop) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	in, err := lookupInstance(ctx, env.AWS.EC2(req.Target.Account, req.Target.Region), req.Target.ID)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", req.Target.ID, err)
	}
	return map[string]any{"state": string(in.State.Name)}, nil
}

func (a ec2Stop) Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (map[string]any, bool, error) {
	id := req.Target.ID
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	state, _ := live["state"].(string)
	if state == "" {
		read, err := a.Read(ctx, env, req)
		if err != nil {
			return nil, false, err
		}
		state, _ = read["state"].(string)
	}
	switch ec2types.InstanceStateName(state) {
	case ec2types.InstanceStateNameStopped:
		return map[string]any{"state": state}, false, nil
	case ec2types.InstanceStateNameTerminated, ec2types.InstanceStateNameShuttingDown:
		return nil, false, fmt.Errorf("stopping %s: the instance is %s", id, state)
	}
	// A "stopping" instance is stopped again: harmless, and with force it
	// is how EC2 unsticks an instance hung in shutdown.
	in := &ec2.StopInstancesInput{InstanceIds: []string{id}}
	if a.force {
		in.Force = aws.Bool(true)
	}
	if _, err := client.StopInstances(ctx, in); err != nil {
		return nil, false, fmt.Errorf("stopping %s: %w", id, err)
	}
	ec2Debugf(env, "stopping %s (was %s), waiting up to %s", id, state, a.wait)
	minDelay, maxDelay := waiterDelays(a.wait)
	w := ec2.NewInstanceStoppedWaiter(client, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = minDelay, maxDelay
	})
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, a.wait); err != nil {
		return nil, true, fmt.Errorf("waiting up to %s for %s to stop: %w", a.wait, id, err)
	}
	return map[string]any{"state": string(ec2types.InstanceStateNameStopped)}, true, nil
}

// Revert starts the instance again when it was running (or starting)
// before, and waits until it runs. An instance that was already stopped
// stays stopped.
func (a ec2Stop) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	id := req.Target.ID
	want, _ := before["state"].(string)
	switch ec2types.InstanceStateName(want) {
	case ec2types.InstanceStateNameRunning, ec2types.InstanceStateNamePending:
	case ec2types.InstanceStateNameStopped, ec2types.InstanceStateNameStopping:
		return a.Read(ctx, env, req)
	default:
		return nil, fmt.Errorf("reverting the stop of %s: the recorded state %q is not one to return to", id, want)
	}
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	in, err := lookupInstance(ctx, client, id)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", id, err)
	}
	if in.State.Name != ec2types.InstanceStateNameRunning {
		if _, err := client.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
			return nil, fmt.Errorf("starting %s: %w", id, err)
		}
		ec2Debugf(env, "starting %s (was %s), waiting up to %s", id, in.State.Name, a.wait)
	}
	minDelay, maxDelay := waiterDelays(a.wait)
	w := ec2.NewInstanceRunningWaiter(client, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = minDelay, maxDelay
	})
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, a.wait); err != nil {
		return nil, fmt.Errorf("waiting up to %s for %s to run: %w", a.wait, id, err)
	}
	return map[string]any{"state": string(ec2types.InstanceStateNameRunning)}, nil
}

// waiterDelays scales the SDK waiters' polling to the wait: their defaults
// (15 s to 120 s) would, for a wait shorter than 15 s, give up after one
// look, and for a long one leave a stopped instance unnoticed for two
// minutes.
func waiterDelays(wait time.Duration) (minDelay, maxDelay time.Duration) {
	minDelay = min(max(wait/20, 10*time.Millisecond), 15*time.Second)
	maxDelay = min(max(wait/4, minDelay), 30*time.Second)
	return minDelay, maxDelay
}

// lookupInstance describes one instance. An unknown id is EC2's own
// InvalidInstanceID.NotFound, kept in the error chain.
func lookupInstance(ctx context.Context, client *ec2.Client, id string) (ec2types.Instance, error) {
	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return ec2types.Instance{}, err
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == id {
				return in, nil
			}
		}
	}
	// EC2 answers NotFound itself; an empty answer is eventual
	// consistency right after launch.
	return ec2types.Instance{}, errors.New("EC2 did not describe it")
}

// ec2Debugf writes a debug line when the environment has somewhere to put
// it.
func ec2Debugf(env *Env, format string, args ...any) {
	if env.Debug != nil {
		fmt.Fprintf(env.Debug, "[DEBUG] actions: "+format+"\n", args...)
	}
}
