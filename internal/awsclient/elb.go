package awsclient

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// The load balancers an instance is behind, read the same way by the
// aws_ec2_describe collector (facts) and the aws_elb_deregister action
// (its before-state), so the two always agree.

// healthLookups bounds the DescribeTargetHealth calls in flight: one per
// target group of the region, which can be hundreds.
const healthLookups = 8

// TargetGroupPorts returns the ports instanceID is registered on, per
// target group ARN, each list sorted. ELBv2 has no reverse lookup, so each
// instance target group (of vpc, unless vpc is empty) is asked about it. A
// target draining, or reported Target.NotRegistered, is not registered: a
// deregistration just applied shows as draining for the group's
// deregistration delay (300 s by default).
func TargetGroupPorts(ctx context.Context, client *elbv2.Client, instanceID, vpc string) (map[string][]int32, error) {
	var arns []string
	pages := elbv2.NewDescribeTargetGroupsPaginator(client, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing target groups: %w", err)
		}
		for _, tg := range page.TargetGroups {
			// Only instance target groups can hold an instance id;
			// asking an ip or lambda group about one is an error.
			if tg.TargetType != elbv2types.TargetTypeEnumInstance && tg.TargetType != "" {
				continue
			}
			if vpc != "" && aws.ToString(tg.VpcId) != "" && aws.ToString(tg.VpcId) != vpc {
				continue
			}
			arns = append(arns, aws.ToString(tg.TargetGroupArn))
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		ports    = map[string][]int32{}
		sem      = make(chan struct{}, healthLookups)
	)
	for _, arn := range arns {
		if ctx.Err() != nil {
			break // a call failed: the rest would be wasted
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			// The target without a port: ELB answers every port it is
			// registered on.
			out, err := client.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{
				TargetGroupArn: aws.String(arn),
				Targets:        []elbv2types.TargetDescription{{Id: aws.String(instanceID)}},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("reading the registrations of %s in target group %s: %w", instanceID, arn, err)
					cancel()
				}
				return
			}
			for _, h := range out.TargetHealthDescriptions {
				if h.Target == nil || aws.ToString(h.Target.Id) != instanceID || h.Target.Port == nil || !registered(h.TargetHealth) {
					continue
				}
				ports[arn] = append(ports[arn], *h.Target.Port)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil { // cancelled from outside before every group was read
		return nil, fmt.Errorf("reading the target group registrations of %s: %w", instanceID, err)
	}
	for arn, p := range ports {
		slices.Sort(p)
		ports[arn] = slices.Compact(p)
	}
	return ports, nil
}

func registered(th *elbv2types.TargetHealth) bool {
	return th != nil && th.State != elbv2types.TargetHealthStateEnumDraining && th.Reason != elbv2types.TargetHealthReasonEnumNotRegistered
}

// ClassicLoadBalancers returns the names, sorted, of the classic load
// balancers instanceID is registered with.
func ClassicLoadBalancers(ctx context.Context, client *elb.Client, instanceID string) ([]string, error) {
	var names []string
	pages := elb.NewDescribeLoadBalancersPaginator(client, &elb.DescribeLoadBalancersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing classic load balancers: %w", err)
		}
		for _, lb := range page.LoadBalancerDescriptions {
			for _, in := range lb.Instances {
				if aws.ToString(in.InstanceId) == instanceID {
					names = append(names, aws.ToString(lb.LoadBalancerName))
					break
				}
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
