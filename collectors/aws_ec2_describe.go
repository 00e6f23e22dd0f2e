package collectors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/schema"
)

// ec2Describe gathers what the EC2 actions need to plan offline, from the
// APIs they read live, the same way: the instance, its attributes and
// volumes, its instance profile's role, and its Auto Scaling group and
// load balancer memberships. A plan built on these facts then agrees with
// what the actions read when they apply.
//
// The facts are bounded by AWS's own limits (interfaces, volumes and tags
// per instance), so they carry no truncated flag.
type ec2Describe struct{}

func init() {
	Register(&Definition{
		Type:           "aws_ec2_describe",
		Summary:        "Instance state, network interfaces and their security groups, volumes, IAM profile, tags, ASG and load balancer membership",
		ResourceTypes:  []string{schema.ResourceInstance},
		DefaultTimeout: 30 * time.Second,
		FactsSchema:    "aws_ec2_describe",
		Resources:      describedResources,
		New:            func(cty.Value) (Collector, error) { return ec2Describe{}, nil },
	})
}

func (ec2Describe) Permissions() []string {
	return []string{
		"autoscaling:DescribeAutoScalingInstances",
		"ec2:DescribeInstanceAttribute",
		"ec2:DescribeInstances",
		"ec2:DescribeVolumes",
		"elasticloadbalancing:DescribeLoadBalancers",
		"elasticloadbalancing:DescribeTargetGroups",
		"elasticloadbalancing:DescribeTargetHealth",
		"iam:GetInstanceProfile",
	}
}

// ec2Target is the instance an EC2 collector investigates and where to
// call AWS about it.
type ec2Target struct {
	id, account, region string
}

// ec2TargetOf checks a request can reach its instance: AWS access, and a
// primary resource that is an instance.
func ec2TargetOf(typ string, req *Request) (ec2Target, error) {
	if req.AWS == nil {
		return ec2Target{}, fmt.Errorf("collector type %s needs AWS access; run plan with -facts to plan offline", typ)
	}
	if req.Resource.Type != schema.ResourceInstance || req.Resource.ID == "" {
		return ec2Target{}, fmt.Errorf("collector type %s collects facts about EC2 instances, not %s %q", typ, req.Resource.Type, req.Resource.ID)
	}
	t := ec2Target{id: req.Resource.ID}
	if req.Finding != nil {
		t.account, t.region = req.Finding.Account, req.Finding.Region
	}
	return t, nil
}

// where names the account and region, for errors.
func (t ec2Target) where() string {
	s := ""
	if t.account != "" {
		s = " in account " + t.account
	}
	if t.region != "" {
		s += " in " + t.region
	}
	return s
}

// describeEC2Instance returns one instance. An instance EC2 does not know is
// an error that names it and where it was looked for.
func describeEC2Instance(ctx context.Context, client *ec2.Client, t ec2Target) (ec2types.Instance, error) {
	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{t.id}})
	if err != nil {
		if ec2ErrorCode(err) == "InvalidInstanceID.NotFound" {
			return ec2types.Instance{}, fmt.Errorf("instance %s does not exist%s", t.id, t.where())
		}
		return ec2types.Instance{}, fmt.Errorf("describing instance %s: %w", t.id, err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == t.id {
				return in, nil
			}
		}
	}
	// EC2 answers NotFound itself; an empty answer is eventual
	// consistency right after launch.
	return ec2types.Instance{}, fmt.Errorf("describing instance %s: EC2 did not describe it%s", t.id, t.where())
}

// ec2ErrorCode is the AWS error code of err, "" when it is not an API error.
func ec2ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (ec2Describe) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	t, err := ec2TargetOf("aws_ec2_describe", req)
	if err != nil {
		return nil, err
	}
	client := req.AWS.EC2(t.account, t.region)
	in, err := describeEC2Instance(ctx, client, t)
	if err != nil {
		return nil, err
	}
	facts := describeInstanceFacts(in)

	// The rest depends only on the instance: ask every service at once.
	var (
		disableAPITermination bool
		shutdownBehavior      string
		volumes               map[string]ec2types.Volume
		roleName              string
		asg                   string
		targetGroups          []string
		loadBalancers         []string
	)
	lookups := []func(context.Context) error{
		func(ctx context.Context) error {
			out, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
				InstanceId: aws.String(t.id), Attribute: ec2types.InstanceAttributeNameDisableApiTermination})
			if err != nil {
				return fmt.Errorf("reading the termination protection of %s: %w", t.id, err)
			}
			if out.DisableApiTermination != nil {
				disableAPITermination = aws.ToBool(out.DisableApiTermination.Value)
			}
			return nil
		},
		func(ctx context.Context) error {
			out, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
				InstanceId: aws.String(t.id), Attribute: ec2types.InstanceAttributeNameInstanceInitiatedShutdownBehavior})
			if err != nil {
				return fmt.Errorf("reading the shutdown behavior of %s: %w", t.id, err)
			}
			if out.InstanceInitiatedShutdownBehavior != nil {
				shutdownBehavior = aws.ToString(out.InstanceInitiatedShutdownBehavior.Value)
			}
			return nil
		},
		func(ctx context.Context) (err error) {
			volumes, err = describeVolumes(ctx, client, in)
			return err
		},
		func(ctx context.Context) (err error) {
			roleName, err = describeProfileRole(ctx, req, t, in)
			return err
		},
		func(ctx context.Context) (err error) {
			asg, err = describeAutoScalingGroup(ctx, req, t)
			return err
		},
		func(ctx context.Context) (err error) {
			ports, err := awsclient.TargetGroupPorts(ctx, req.AWS.ELBv2(t.account, t.region), t.id, aws.ToString(in.VpcId))
			targetGroups = slices.Sorted(maps.Keys(ports))
			return err
		},
		func(ctx context.Context) (err error) {
			loadBalancers, err = awsclient.ClassicLoadBalancers(ctx, req.AWS.ELB(t.account, t.region), t.id)
			return err
		},
	}
	if err := ec2Concurrently(ctx, lookups); err != nil {
		return nil, err
	}

	facts["disable_api_termination"] = disableAPITermination
	if shutdownBehavior != "" {
		facts["instance_initiated_shutdown_behavior"] = shutdownBehavior
	}
	if p, ok := facts["iam_instance_profile"].(map[string]any); ok && roleName != "" {
		p["role_name"] = roleName
	}
	if vols, ok := facts["volumes"].([]any); ok {
		for _, e := range vols {
			v := e.(map[string]any)
			if d, ok := volumes[v["id"].(string)]; ok {
				if d.Size != nil {
					v["size_gb"] = int(*d.Size)
				}
				if d.Encrypted != nil {
					v["encrypted"] = *d.Encrypted
				}
				if d.VolumeType != "" {
					v["volume_type"] = string(d.VolumeType)
				}
			}
		}
	}
	if asg != "" {
		facts["autoscaling_group"] = asg
	}
	facts["target_groups"] = ec2List(targetGroups)
	facts["load_balancers"] = ec2List(loadBalancers)
	return facts, nil
}

// describeInstanceFacts are the facts DescribeInstances alone gives: only
// the keys the instance has (a stopped instance has no public IP, a
// terminated one no network).
func describeInstanceFacts(in ec2types.Instance) map[string]any {
	facts := map[string]any{"instance_id": aws.ToString(in.InstanceId)}
	put := func(k string, v *string) { ec2Put(facts, k, v) }
	if in.State != nil {
		facts["state"] = string(in.State.Name)
	}
	if in.InstanceType != "" {
		facts["instance_type"] = string(in.InstanceType)
	}
	put("image_id", in.ImageId)
	if in.LaunchTime != nil {
		facts["launch_time"] = in.LaunchTime.UTC().Format(time.RFC3339)
	}
	if in.Placement != nil {
		put("availability_zone", in.Placement.AvailabilityZone)
	}
	put("private_ip", in.PrivateIpAddress)
	put("public_ip", in.PublicIpAddress)
	put("vpc_id", in.VpcId)
	put("subnet_id", in.SubnetId)
	if p := in.IamInstanceProfile; p != nil && aws.ToString(p.Arn) != "" {
		facts["iam_instance_profile"] = map[string]any{"arn": aws.ToString(p.Arn), "id": aws.ToString(p.Id)}
	}

	enis := slices.Clone(in.NetworkInterfaces)
	sort.SliceStable(enis, func(i, j int) bool { return ec2DeviceIndex(enis[i]) < ec2DeviceIndex(enis[j]) })
	nics := make([]any, 0, len(enis))
	for _, n := range enis {
		nic := map[string]any{"id": aws.ToString(n.NetworkInterfaceId), "device_index": int(ec2DeviceIndex(n))}
		ec2Put(nic, "private_ip", n.PrivateIpAddress)
		if n.Association != nil {
			ec2Put(nic, "public_ip", n.Association.PublicIp)
		}
		ec2Put(nic, "subnet_id", n.SubnetId)
		ec2Put(nic, "vpc_id", n.VpcId)
		groups := make([]any, 0, len(n.Groups))
		for _, g := range n.Groups {
			groups = append(groups, aws.ToString(g.GroupId))
		}
		nic["security_groups"] = groups
		nics = append(nics, nic)
	}
	facts["network_interfaces"] = nics

	vols := []any{}
	for _, m := range in.BlockDeviceMappings {
		if m.Ebs == nil || aws.ToString(m.Ebs.VolumeId) == "" {
			continue
		}
		v := map[string]any{"id": aws.ToString(m.Ebs.VolumeId), "delete_on_termination": aws.ToBool(m.Ebs.DeleteOnTermination)}
		if d := aws.ToString(m.DeviceName); d != "" {
			v["device"] = d
		}
		vols = append(vols, v)
	}
	facts["volumes"] = vols

	tags := make(map[string]any, len(in.Tags))
	for _, tag := range in.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	facts["tags"] = tags
	return facts
}

// ec2Put sets m[k] to *v unless it is nil or empty: facts have only the
// keys the source has.
func ec2Put(m map[string]any, k string, v *string) {
	if s := aws.ToString(v); s != "" {
		m[k] = s
	}
}

func ec2DeviceIndex(n ec2types.InstanceNetworkInterface) int32 {
	if n.Attachment == nil {
		return 0
	}
	return aws.ToInt32(n.Attachment.DeviceIndex)
}

// describeVolumes describes the instance's EBS volumes, by id. It filters
// on the attachment rather than naming the ids, so that a volume detached
// and deleted since DescribeInstances is left out rather than an error.
func describeVolumes(ctx context.Context, client *ec2.Client, in ec2types.Instance) (map[string]ec2types.Volume, error) {
	out := map[string]ec2types.Volume{}
	if len(in.BlockDeviceMappings) == 0 {
		return out, nil
	}
	id := aws.ToString(in.InstanceId)
	p := ec2.NewDescribeVolumesPaginator(client, &ec2.DescribeVolumesInput{
		Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing the volumes of %s: %w", id, err)
		}
		for _, v := range page.Volumes {
			out[aws.ToString(v.VolumeId)] = v
		}
	}
	return out, nil
}

// describeProfileRole returns the name of the role in the instance's
// profile; "" when it has no profile, or the profile (or its role) has
// been deleted while still associated.
func describeProfileRole(ctx context.Context, req *Request, t ec2Target, in ec2types.Instance) (string, error) {
	if in.IamInstanceProfile == nil {
		return "", nil
	}
	arn := aws.ToString(in.IamInstanceProfile.Arn)
	// arn:aws:iam::111122223333:instance-profile/path/name: the name is
	// the last segment, whatever the path.
	name := arn[strings.LastIndexByte(arn, '/')+1:]
	if name == "" {
		return "", fmt.Errorf("instance %s has an instance profile ARN without a name: %q", t.id, arn)
	}
	out, err := req.AWS.IAM(t.account, t.region).GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		var gone *iamtypes.NoSuchEntityException
		if errors.As(err, &gone) {
			return "", nil
		}
		return "", fmt.Errorf("reading instance profile %s of %s: %w", name, t.id, err)
	}
	if p := out.InstanceProfile; p != nil && len(p.Roles) > 0 {
		return aws.ToString(p.Roles[0].RoleName), nil
	}
	return "", nil
}

// describeAutoScalingGroup returns the instance's Auto Scaling group, ""
// when it has none. An instance already leaving its group (Detaching, Detached)
// counts as out of it, as aws_autoscaling_detach reads it.
func describeAutoScalingGroup(ctx context.Context, req *Request, t ec2Target) (string, error) {
	out, err := req.AWS.AutoScaling(t.account, t.region).DescribeAutoScalingInstances(ctx,
		&autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{t.id}})
	if err != nil {
		return "", fmt.Errorf("reading the Auto Scaling group of %s: %w", t.id, err)
	}
	for _, in := range out.AutoScalingInstances {
		if aws.ToString(in.InstanceId) != t.id {
			continue
		}
		switch aws.ToString(in.LifecycleState) {
		case "Detaching", "Detached":
			continue
		}
		return aws.ToString(in.AutoScalingGroupName), nil
	}
	return "", nil
}

// ec2Concurrently runs fns at once and returns the first error, cancelling
// the others' context as soon as one fails.
func ec2Concurrently(ctx context.Context, fns []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// ec2List converts strings to the []any of JSON-shaped facts.
func ec2List(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// describedResources lists what aws_ec2_describe facts reveal besides the
// instance: its volumes and its instance profile's role, which responses
// may tag or contain. The facts may have been through JSON (a -facts
// file), so numbers may be float64.
func describedResources(facts map[string]any, primary schema.Resource) []schema.Resource {
	var out []schema.Resource
	if vols, ok := facts["volumes"].([]any); ok {
		for _, e := range vols {
			vol, _ := e.(map[string]any)
			id, _ := vol["id"].(string)
			if id == "" {
				continue
			}
			details := map[string]any{"volume_id": id, "instance_id": primary.ID}
			if dev, ok := vol["device"].(string); ok {
				details["device_name"] = dev
			}
			for _, k := range []string{"size_gb", "encrypted", "volume_type", "delete_on_termination"} {
				if v, ok := vol[k]; ok {
					details[k] = v
				}
			}
			out = append(out, schema.Resource{Type: schema.ResourceEBSVolume, ID: id, Tags: map[string]string{}, Details: details})
		}
	}
	if p, ok := facts["iam_instance_profile"].(map[string]any); ok {
		if role, _ := p["role_name"].(string); role != "" {
			out = append(out, schema.Resource{Type: schema.ResourceIAMRole, ID: role, Tags: map[string]string{},
				Details: map[string]any{"role_name": role, "instance_profile_arn": p["arn"]}})
		}
	}
	return out
}
