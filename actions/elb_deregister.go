package actions

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/schema"
)

// elbDeregister takes the instance out of every target group and classic
// load balancer, so it stops serving (and receiving) user traffic.
type elbDeregister struct{}

func init() {
	Register(&Definition{
		Type:        "aws_elb_deregister",
		Summary:     "Deregister an instance from every target group and classic load balancer",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return elbDeregister{}, nil },
	})
}

func (elbDeregister) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{
		Before: map[string]any{},
		After:  map[string]any{"target_groups": []any{}, "load_balancers": []any{}},
	}
	if v.facts == nil {
		c.BeforeUnknown = []string{"load_balancers", "target_groups"}
		return c
	}
	c.Before["target_groups"] = list(stringList(v.facts["target_groups"]))
	c.Before["load_balancers"] = list(stringList(v.facts["load_balancers"]))
	return c
}

// Grants: (de)registering acts on the target group (targetgroup*) or the
// classic load balancer (loadbalancer*), describe calls on "*" (Service
// Authorization Reference for Elastic Load Balancing V2 and V1).
func (elbDeregister) Grants() []Grant {
	return []Grant{
		{Name: "Read", Actions: []string{"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
			"elasticloadbalancing:DescribeTargetHealth"}, Resources: allResources},
		{Actions: []string{"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"},
			Resources: []string{"arn:${Partition}:elasticloadbalancing:${Region}:${Account}:targetgroup/*/*"}},
		{Name: "Classic", Actions: []string{"elasticloadbalancing:DeregisterInstancesFromLoadBalancer", "elasticloadbalancing:RegisterInstancesWithLoadBalancer"},
			Resources: []string{"arn:${Partition}:elasticloadbalancing:${Region}:${Account}:loadbalancer/*"}},
	}
}

func (a elbDeregister) Permissions() []string { return grantActions(a.Grants()) }

// The state Read returns: target_groups (ARNs) and load_balancers (classic
// names), both sorted, and target_group_ports, the ports the instance is
// registered on per target group ({arn: [80, 8080]}), which revert needs
// to register it exactly as it was.
const targetGroupPorts = "target_group_ports"

func (elbDeregister) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	ports, err := awsclient.TargetGroupPorts(ctx, env.AWS.ELBv2(req.Target.Account, req.Target.Region), req.Target.ID, "")
	if err != nil {
		return nil, err
	}
	lbs, err := awsclient.ClassicLoadBalancers(ctx, env.AWS.ELB(req.Target.Account, req.Target.Region), req.Target.ID)
	if err != nil {
		return nil, err
	}
	return elbState(ports, lbs), nil
}

func elbState(ports map[string][]int32, lbs []string) map[string]any {
	arns := sortedKeys(ports)
	portsJSON := make(map[string]any, len(ports))
	for _, arn := range arns {
		l := make([]any, len(ports[arn]))
		for i, p := range ports[arn] {
			l[i] = int(p)
		}
		portsJSON[arn] = l
	}
	return map[string]any{"target_groups": list(arns), "load_balancers": list(lbs), targetGroupPorts: portsJSON}
}

// portsOf reads target_group_ports back from a state, which may have been
// through JSON (numbers as float64). A group with no recorded ports gets
// none: its registration then uses the group's own port.
func portsOf(state map[string]any) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, arn := range stringList(state["target_groups"]) {
		out[arn] = nil
	}
	recorded, _ := state[targetGroupPorts].(map[string]any)
	for arn, v := range recorded {
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s of %s: not a list of ports", targetGroupPorts, arn)
		}
		for _, it := range items {
			var f float64
			switch n := it.(type) {
			case int:
				f = float64(n)
			case int32:
				f = float64(n)
			case float64:
				f = n
			default:
				return nil, fmt.Errorf("%s of %s: %v is not a port", targetGroupPorts, arn, it)
			}
			if f != math.Trunc(f) || f < 1 || f > 65535 {
				return nil, fmt.Errorf("%s of %s: %v is not a port", targetGroupPorts, arn, it)
			}
			if _, known := out[arn]; known {
				out[arn] = append(out[arn], int32(f))
			}
		}
	}
	return out, nil
}

// targetsFor is the instance's registrations in a group: one per port, or
// the instance alone (the group's port) when no port was recorded.
func targetsFor(id string, ports []int32) []elbv2types.TargetDescription {
	if len(ports) == 0 {
		return []elbv2types.TargetDescription{{Id: aws.String(id)}}
	}
	out := make([]elbv2types.TargetDescription, len(ports))
	for i, p := range ports {
		out[i] = elbv2types.TargetDescription{Id: aws.String(id), Port: aws.Int32(p)}
	}
	return out
}

// Apply deregisters the instance from every target group, then every
// classic load balancer, it was registered with. A failure stops there
// and is returned: what was already deregistered stays so (Read shows it).
func (elbDeregister) Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (map[string]any, bool, error) {
	ports, err := portsOf(live)
	if err != nil {
		return nil, false, err
	}
	lbs := stringList(live["load_balancers"])
	after := elbState(nil, nil)
	if len(ports) == 0 && len(lbs) == 0 {
		return after, false, nil
	}
	id := req.Target.ID
	v2 := env.AWS.ELBv2(req.Target.Account, req.Target.Region)
	for _, arn := range sortedKeys(ports) {
		if _, err := v2.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(arn), Targets: targetsFor(id, ports[arn]),
		}); err != nil {
			return nil, false, fmt.Errorf("deregistering %s from target group %s: %w", id, arn, err)
		}
	}
	classic := env.AWS.ELB(req.Target.Account, req.Target.Region)
	for _, name := range lbs {
		if _, err := classic.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{
			LoadBalancerName: aws.String(name), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}},
		}); err != nil {
			return nil, false, fmt.Errorf("deregistering %s from load balancer %s: %w", id, name, err)
		}
	}
	return after, true, nil
}

// Revert registers the instance again everywhere before lists, on the
// ports it had.
func (elbDeregister) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	ports, err := portsOf(before)
	if err != nil {
		return nil, err
	}
	lbs := stringList(before["load_balancers"])
	id := req.Target.ID
	v2 := env.AWS.ELBv2(req.Target.Account, req.Target.Region)
	for _, arn := range sortedKeys(ports) {
		if _, err := v2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(arn), Targets: targetsFor(id, ports[arn]),
		}); err != nil {
			return nil, fmt.Errorf("registering %s with target group %s again: %w", id, arn, err)
		}
	}
	classic := env.AWS.ELB(req.Target.Account, req.Target.Region)
	for _, name := range lbs {
		if _, err := classic.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
			LoadBalancerName: aws.String(name), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}},
		}); err != nil {
			return nil, fmt.Errorf("registering %s with load balancer %s again: %w", id, name, err)
		}
	}
	sort.Strings(lbs)
	return elbState(ports, lbs), nil
}
