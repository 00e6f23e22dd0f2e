package awsemu

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func TestTargetGroups(t *testing.T) {
	e := newEnv(t)
	c := elbv2.NewFromConfig(e.prod())
	tgs, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"web-tg"}})
	wantOK(t, err)
	tg := tgs.TargetGroups[0]
	arn := *tg.TargetGroupArn
	if *tg.Port != 80 || tg.Protocol != elbv2types.ProtocolEnumHttp || *tg.VpcId != "vpc-0a1b2c3d4e5f60001" || *tg.HealthCheckPath != "/healthz" || tg.TargetType != elbv2types.TargetTypeEnumInstance {
		t.Errorf("target group %+v", tg)
	}
	health := func() map[string]string {
		out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		wantOK(t, err)
		m := map[string]string{}
		for _, h := range out.TargetHealthDescriptions {
			m[*h.Target.Id] = string(h.TargetHealth.State)
		}
		return m
	}
	if h := health(); h[web1] != "healthy" || h[web2] != "healthy" || len(h) != 2 {
		t.Errorf("health %v", h)
	}
	_, err = c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(web1), Port: aws.Int32(80)}}})
	wantOK(t, err)
	if h := health(); len(h) != 1 {
		t.Errorf("health after deregister %v", h)
	}
	one, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(web1)}}})
	wantOK(t, err)
	if th := one.TargetHealthDescriptions[0].TargetHealth; th.State != elbv2types.TargetHealthStateEnumUnused || th.Reason != elbv2types.TargetHealthReasonEnumNotRegistered {
		t.Errorf("deregistered target %+v", th)
	}
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(web1)}}})
	wantOK(t, err)
	if h := health(); h[web1] != "healthy" {
		t.Errorf("health after register %v", h)
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown group", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"nope"}})
			return err
		}, "TargetGroupNotFound"},
		{"unknown arn", func() error {
			_, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn + "0"), Targets: []elbv2types.TargetDescription{{Id: aws.String(web1)}}})
			return err
		}, "TargetGroupNotFound"},
		{"not registered", func() error {
			_, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(batch1)}}})
			return err
		}, "InvalidTarget"},
		{"register a stopped instance", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(batch1)}}})
			return err
		}, "InvalidTarget"},
		{"register an unknown instance", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String("i-0fffffffffffffff0")}}})
			return err
		}, "InvalidTarget"},
		{"names and arns", func() error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"web-tg"}, TargetGroupArns: []string{arn}})
			return err
		}, "ValidationError"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

// DescribeTargetHealth with a target id and no port answers every
// registration of that id, whatever its port; with a port, only that one.
func TestTargetHealthPorts(t *testing.T) {
	e := newEnv(t)
	c := elbv2.NewFromConfig(e.prod())
	tgs, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"web-tg"}})
	wantOK(t, err)
	arn := tgs.TargetGroups[0].TargetGroupArn
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: arn, Targets: []elbv2types.TargetDescription{{Id: aws.String(web2), Port: aws.Int32(8080)}}})
	wantOK(t, err)
	_, err = c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: arn, Targets: []elbv2types.TargetDescription{{Id: aws.String(web1), Port: aws.Int32(80)}}})
	wantOK(t, err)
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: arn, Targets: []elbv2types.TargetDescription{{Id: aws.String(web1), Port: aws.Int32(9000)}}})
	wantOK(t, err)

	tests := []struct {
		name    string
		targets []elbv2types.TargetDescription
		want    []string // id:port:state
	}{
		{"id on two ports", []elbv2types.TargetDescription{{Id: aws.String(web2)}},
			[]string{web2 + ":8080:healthy", web2 + ":80:healthy"}}, // sorted as strings
		{"id on an override port only", []elbv2types.TargetDescription{{Id: aws.String(web1)}},
			[]string{web1 + ":9000:healthy"}},
		{"id with its port", []elbv2types.TargetDescription{{Id: aws.String(web2), Port: aws.Int32(8080)}},
			[]string{web2 + ":8080:healthy"}},
		{"id with a port it is not on", []elbv2types.TargetDescription{{Id: aws.String(web1), Port: aws.Int32(80)}},
			[]string{web1 + ":80:unused"}},
		{"unregistered id", []elbv2types.TargetDescription{{Id: aws.String(batch1)}},
			[]string{batch1 + ":80:unused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: arn, Targets: tc.targets})
			wantOK(t, err)
			var got []string
			for _, h := range out.TargetHealthDescriptions {
				got = append(got, fmt.Sprintf("%s:%d:%s", *h.Target.Id, *h.Target.Port, h.TargetHealth.State))
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClassicLoadBalancers(t *testing.T) {
	e := newEnv(t)
	c := elb.NewFromConfig(e.prod())
	out, err := c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	wantOK(t, err)
	lb := out.LoadBalancerDescriptions[0]
	if *lb.LoadBalancerName != "legacy-web" || *lb.VPCId != "vpc-0a1b2c3d4e5f60001" || len(lb.Instances) != 1 || *lb.Instances[0].InstanceId != web1 ||
		*lb.ListenerDescriptions[0].Listener.InstancePort != 80 || !slices.Equal(lb.AvailabilityZones, []string{"us-east-1a", "us-east-1b"}) {
		t.Errorf("load balancer %+v", lb)
	}
	dereg, err := c.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: aws.String("legacy-web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(web1)}}})
	wantOK(t, err)
	if len(dereg.Instances) != 0 {
		t.Errorf("remaining %+v", dereg.Instances)
	}
	reg, err := c.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: aws.String("legacy-web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(web1)}, {InstanceId: aws.String(web2)}}})
	wantOK(t, err)
	if len(reg.Instances) != 2 {
		t.Errorf("registered %+v", reg.Instances)
	}
	_, err = c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"nope"}})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = c.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: aws.String("nope"), Instances: []elbtypes.Instance{{InstanceId: aws.String(web1)}}})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = c.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: aws.String("legacy-web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(batch1)}}})
	wantCode(t, err, "InvalidInstance")
	_, err = c.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: aws.String("legacy-web"), Instances: []elbtypes.Instance{{InstanceId: aws.String("i-0fffffffffffffff0")}}})
	wantCode(t, err, "InvalidInstance")
}
