package actions

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// autoscalingDetach takes the instance out of its Auto Scaling group without
// decrementing the desired capacity, so the group launches a clean
// replacement and never terminates the compromised instance (evidence) as
// part of scaling in.
type autoscalingDetach struct{}

func init() {
	Register(&Definition{
		Type:        "aws_autoscaling_detach",
		Summary:     "Detach an instance from its Auto Scaling group (capacity is replaced)",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return autoscalingDetach{}, nil },
	})
}

func (autoscalingDetach) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{Before: map[string]any{}, After: map[string]any{"autoscaling_group": nil}}
	switch {
	case v.facts == nil:
		c.BeforeUnknown = []string{"autoscaling_group"}
	default:
		asg, _ := v.facts["autoscaling_group"].(string)
		if asg == "" {
			c.Before["autoscaling_group"] = nil
		} else {
			c.Before["autoscaling_group"] = asg
		}
	}
	return c
}

// Grants: DetachInstances and AttachInstances are authorized on the
// group (autoScalingGroup*, whose own tags are autoscaling:ResourceTag
// keys, not the instance's), DescribeAutoScalingInstances on "*"
// (Service Authorization Reference for Amazon EC2 Auto Scaling).
func (autoscalingDetach) Grants() []Grant {
	return []Grant{
		{Name: "Read", Actions: []string{"autoscaling:DescribeAutoScalingInstances"}, Resources: allResources},
		{Actions: []string{"autoscaling:AttachInstances", "autoscaling:DetachInstances"},
			Resources: []string{"arn:${Partition}:autoscaling:${Region}:${Account}:autoScalingGroup:*:autoScalingGroupName/*"}},
	}
}

func (a autoscalingDetach) Permissions() []string { return grantActions(a.Grants()) }

// Read returns {autoscaling_group: name or nil}. An instance that is
// already leaving its group (lifecycle Detaching or Detached) counts as out
// of it: a detach just applied shows that way for a while.
func (autoscalingDetach) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	id := req.Target.ID
	out, err := env.AWS.AutoScaling(req.Target.Account, req.Target.Region).DescribeAutoScalingInstances(ctx,
		&autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return nil, fmt.Errorf("reading the Auto Scaling group of %s: %w", id, err)
	}
	for _, in := range out.AutoScalingInstances {
		if aws.ToString(in.InstanceId) != id {
			continue
		}
		switch aws.ToString(in.LifecycleState) {
		case "Detaching", "Detached":
			continue
		}
		if g := aws.ToString(in.AutoScalingGroupName); g != "" {
			return asgState(g), nil
		}
	}
	return asgState(""), nil
}

func (autoscalingDetach) Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (map[string]any, bool, error) {
	group, _ := live["autoscaling_group"].(string)
	if group == "" {
		return asgState(""), false, nil
	}
	id := req.Target.ID
	_, err := env.AWS.AutoScaling(req.Target.Account, req.Target.Region).DetachInstances(ctx, &autoscaling.DetachInstancesInput{
		AutoScalingGroupName: aws.String(group),
		InstanceIds:          []string{id},
		// The group replaces the capacity; decrementing instead could
		// make it scale in, and terminate, the instance under
		// investigation before the detach completes.
		ShouldDecrementDesiredCapacity: aws.Bool(false),
	})
	if err != nil {
		return nil, false, fmt.Errorf("detaching %s from Auto Scaling group %s: %w", id, group, err)
	}
	return asgState(""), true, nil
}

// Revert attaches the instance to its group again. AttachInstances raises
// the group's desired capacity by one, so the replacement launched at
// detach time stays: the group ends one instance larger, which its scaling
// policies (or an operator) bring back down. Setting the capacity here
// instead could make the group terminate the very instance just restored.
func (autoscalingDetach) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	group, _ := before["autoscaling_group"].(string)
	if group == "" {
		return asgState(""), nil // it was in no group: nothing was detached
	}
	id := req.Target.ID
	_, err := env.AWS.AutoScaling(req.Target.Account, req.Target.Region).AttachInstances(ctx, &autoscaling.AttachInstancesInput{
		AutoScalingGroupName: aws.String(group),
		InstanceIds:          []string{id},
	})
	if err != nil {
		return nil, fmt.Errorf("attaching %s to Auto Scaling group %s again: %w", id, group, err)
	}
	return asgState(group), nil
}

func asgState(group string) map[string]any {
	if group == "" {
		return map[string]any{"autoscaling_group": nil}
	}
	return map[string]any{"autoscaling_group": group}
}
