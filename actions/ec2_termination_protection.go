package actions

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2TerminationProtection keeps an instance and its disks from being
// destroyed while it is evidence: API termination disabled, shutdown from
// inside the instance only stops it, and volumes survive termination.
type ec2TerminationProtection struct{}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_termination_protection",
		Summary:     "Disable API termination, make shutdown stop the instance, keep volumes on termination",
		Phase:       Preserve,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return ec2TerminationProtection{}, nil },
	})
}

func (ec2TerminationProtection) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{
		Before: map[string]any{},
		After: map[string]any{
			"disable_api_termination":              true,
			"instance_initiated_shutdown_behavior": "stop",
		},
	}
	if b, ok := v.facts["disable_api_termination"].(bool); ok {
		c.Before["disable_api_termination"] = b
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "disable_api_termination")
	}
	if s, ok := v.str("instance_initiated_shutdown_behavior", ""); ok {
		c.Before["instance_initiated_shutdown_behavior"] = s
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "instance_initiated_shutdown_behavior")
	}
	if ids, dot, ok := v.volumes(); ok {
		before, after := map[string]any{}, map[string]any{}
		for _, id := range ids {
			if b, known := dot[id]; known {
				before[id] = b
			}
			after[id] = false
		}
		c.Before["delete_on_termination"] = before
		c.After["delete_on_termination"] = after
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "delete_on_termination")
		c.AfterUnknown = append(c.AfterUnknown, "delete_on_termination")
	}
	return c
}

// Grants: ModifyInstanceAttribute is authorized on the instance
// (instance*), the target, and on the volumes whose DeleteOnTermination
// it changes (volume, an optional resource type). Source: the Service
// Authorization Reference for Amazon EC2.
func (ec2TerminationProtection) Grants() []Grant {
	return []Grant{
		{Name: "Read", Actions: []string{"ec2:DescribeInstanceAttribute"}, Resources: allResources},
		{Actions: []string{"ec2:ModifyInstanceAttribute"}, Resources: []string{ec2InstanceARN}, TargetTagKey: ec2TagKey},
		{Name: "Volumes", Actions: []string{"ec2:ModifyInstanceAttribute"}, Resources: []string{ec2VolumeARN}},
	}
}

func (a ec2TerminationProtection) Permissions() []string { return grantActions(a.Grants()) }

// terminationState is what the action protects: the two instance
// attributes and each attached EBS volume's DeleteOnTermination flag.
type terminationState struct {
	disableAPITermination bool
	shutdownBehavior      string
	volumes               []attachedVolume // in the instance's mapping order
}

// attachedVolume is an EBS volume in an instance's block device mapping.
// EC2 changes DeleteOnTermination by device name, so both are kept.
type attachedVolume struct {
	id, device          string
	deleteOnTermination bool
}

func (s terminationState) toMap() map[string]any {
	dot := make(map[string]any, len(s.volumes))
	for _, v := range s.volumes {
		dot[v.id] = v.deleteOnTermination
	}
	return map[string]any{
		"disable_api_termination":              s.disableAPITermination,
		"instance_initiated_shutdown_behavior": s.shutdownBehavior,
		"delete_on_termination":                dot,
	}
}

// readTermination reads the three attributes. DescribeInstanceAttribute
// answers one attribute per call.
func readTermination(ctx context.Context, client *ec2.Client, id string) (terminationState, error) {
	var s terminationState
	attr := func(a ec2types.InstanceAttributeName) (*ec2.DescribeInstanceAttributeOutput, error) {
		out, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: a})
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s: %w", a, id, err)
		}
		return out, nil
	}
	out, err := attr(ec2types.InstanceAttributeNameDisableApiTermination)
	if err != nil {
		return s, err
	}
	if out.DisableApiTermination != nil {
		s.disableAPITermination = aws.ToBool(out.DisableApiTermination.Value)
	}
	if out, err = attr(ec2types.InstanceAttributeNameInstanceInitiatedShutdownBehavior); err != nil {
		return s, err
	}
	if out.InstanceInitiatedShutdownBehavior != nil {
		s.shutdownBehavior = aws.ToString(out.InstanceInitiatedShutdownBehavior.Value)
	}
	if out, err = attr(ec2types.InstanceAttributeNameBlockDeviceMapping); err != nil {
		return s, err
	}
	for _, m := range out.BlockDeviceMappings {
		if m.Ebs == nil || m.Ebs.VolumeId == nil {
			continue // instance store: nothing survives termination anyway
		}
		s.volumes = append(s.volumes, attachedVolume{
			id: aws.ToString(m.Ebs.VolumeId), device: aws.ToString(m.DeviceName),
			deleteOnTermination: aws.ToBool(m.Ebs.DeleteOnTermination),
		})
	}
	return s, nil
}

func (ec2TerminationProtection) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	s, err := readTermination(ctx, env.AWS.EC2(req.Target.Account, req.Target.Region), req.Target.ID)
	if err != nil {
		return nil, err
	}
	return s.toMap(), nil
}

// Apply reads the attributes again rather than trusting live: it needs the
// device names, which the plan's state does not carry.
func (ec2TerminationProtection) Apply(ctx context.Context, env *Env, req *Request, _ map[string]any) (map[string]any, bool, error) {
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	cur, err := readTermination(ctx, client, req.Target.ID)
	if err != nil {
		return nil, false, err
	}
	want := terminationState{disableAPITermination: true, shutdownBehavior: string(ec2types.ShutdownBehaviorStop)}
	for _, v := range cur.volumes {
		v.deleteOnTermination = false
		want.volumes = append(want.volumes, v)
	}
	changed, err := setTermination(ctx, env, client, req.Target.ID, cur, want)
	if err != nil {
		return nil, changed, err
	}
	return want.toMap(), changed, nil
}

// Revert restores the three attributes to before. A volume detached since
// has no DeleteOnTermination flag left to restore; it is skipped.
func (ec2TerminationProtection) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	id := req.Target.ID
	wantDisable, ok1 := before["disable_api_termination"].(bool)
	wantShutdown, ok2 := before["instance_initiated_shutdown_behavior"].(string)
	wantDOT, ok3 := before["delete_on_termination"].(map[string]any)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("reverting the termination protection of %s: the recorded before-state is incomplete", id)
	}
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	cur, err := readTermination(ctx, client, id)
	if err != nil {
		return nil, err
	}
	want := terminationState{disableAPITermination: wantDisable, shutdownBehavior: wantShutdown}
	attached := map[string]bool{}
	for _, v := range cur.volumes {
		attached[v.id] = true
		if b, recorded := wantDOT[v.id].(bool); recorded {
			v.deleteOnTermination = b
		}
		want.volumes = append(want.volumes, v)
	}
	for _, vol := range sortedKeys(wantDOT) {
		if !attached[vol] {
			ec2Debugf(env, "%s: volume %s is no longer attached; its DeleteOnTermination is not restored", id, vol)
		}
	}
	if _, err := setTermination(ctx, env, client, id, cur, want); err != nil {
		return nil, err
	}
	return want.toMap(), nil
}

// setTermination changes what differs between cur and want: one
// ModifyInstanceAttribute call per attribute, as EC2 requires, with every
// volume to change in the one block device mapping call. Termination is
// disabled first, as the change that matters most.
func setTermination(ctx context.Context, env *Env, client *ec2.Client, id string, cur, want terminationState) (changed bool, err error) {
	if cur.disableAPITermination != want.disableAPITermination {
		if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), DisableApiTermination: &ec2types.AttributeBooleanValue{Value: aws.Bool(want.disableAPITermination)},
		}); err != nil {
			return changed, fmt.Errorf("setting disableApiTermination of %s to %t: %w", id, want.disableAPITermination, err)
		}
		changed = true
		ec2Debugf(env, "%s: disableApiTermination = %t", id, want.disableAPITermination)
	}
	if cur.shutdownBehavior != want.shutdownBehavior && want.shutdownBehavior != "" {
		if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), InstanceInitiatedShutdownBehavior: &ec2types.AttributeValue{Value: aws.String(want.shutdownBehavior)},
		}); err != nil {
			return changed, fmt.Errorf("setting instanceInitiatedShutdownBehavior of %s to %s: %w", id, want.shutdownBehavior, err)
		}
		changed = true
		ec2Debugf(env, "%s: instanceInitiatedShutdownBehavior = %s", id, want.shutdownBehavior)
	}
	was := make(map[string]bool, len(cur.volumes))
	for _, v := range cur.volumes {
		was[v.id] = v.deleteOnTermination
	}
	var mappings []ec2types.InstanceBlockDeviceMappingSpecification
	for _, v := range want.volumes {
		if old, ok := was[v.id]; ok && old != v.deleteOnTermination {
			mappings = append(mappings, ec2types.InstanceBlockDeviceMappingSpecification{
				DeviceName: aws.String(v.device),
				Ebs:        &ec2types.EbsInstanceBlockDeviceSpecification{VolumeId: aws.String(v.id), DeleteOnTermination: aws.Bool(v.deleteOnTermination)},
			})
		}
	}
	if len(mappings) > 0 {
		if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), BlockDeviceMappings: mappings,
		}); err != nil {
			return changed, fmt.Errorf("setting DeleteOnTermination of the volumes of %s: %w", id, err)
		}
		changed = true
		ec2Debugf(env, "%s: DeleteOnTermination changed on %d volume(s)", id, len(mappings))
	}
	return changed, nil
}
