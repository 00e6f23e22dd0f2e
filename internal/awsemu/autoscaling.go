package awsemu

import (
	"fmt"
	"sort"
	"strings"
)

// Auto Scaling speaks awsQuery; a group's members are the instances that
// name it.
var autoscalingAPI = queryErrors(&api{id: "autoscaling", prefix: "autoscaling", protocol: protoQuery, version: "2011-01-01",
	xmlns: "http://autoscaling.amazonaws.com/doc/2011-01-01/"})

func init() {
	autoscalingAPI.ops = map[string]handler{
		"DescribeAutoScalingInstances": describeAutoScalingInstances,
		"DetachInstances":              detachInstances,
		"AttachInstances":              attachInstances,
	}
}

func describeAutoScalingInstances(r *request) (any, error) {
	ids := r.params.list("InstanceIds.member")
	if len(ids) > 50 {
		return nil, validationError("The number of instance ids that may be passed in is limited to 50.")
	}
	max := 50
	if n, ok, err := r.params.int("MaxRecords"); err != nil {
		return nil, validationError("MaxRecords must be an integer")
	} else if ok {
		if n < 1 || n > 50 {
			return nil, validationError("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 50", n)
		}
		max = n
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	var list []string
	for _, id := range sortedKeys(r.region.Instances) {
		in := r.region.Instances[id]
		if in.AutoScalingGroup == "" || (len(ids) > 0 && !contains(ids, id)) {
			continue
		}
		list = append(list, id)
	}
	if tok := r.params.get("NextToken"); tok != "" {
		last, ok := decodeToken(r.op, tok)
		if !ok {
			return nil, errf(400, "InvalidNextToken", "The token '%s' is invalid.", tok)
		}
		i := sort.SearchStrings(list, last)
		if i < len(list) && list[i] == last {
			i++
		}
		list = list[i:]
	}
	type detail struct {
		InstanceId           string
		InstanceType         string
		AutoScalingGroupName string
		AvailabilityZone     string
		LifecycleState       string
		HealthStatus         string
		ImageId              string
		ProtectedFromScaleIn bool
	}
	out := &struct {
		AutoScalingInstances []detail `xml:"AutoScalingInstances>member"`
		NextToken            string   `xml:",omitempty"`
	}{AutoScalingInstances: []detail{}}
	if len(list) > max {
		out.NextToken = encodeToken(r.op, list[max-1])
		list = list[:max]
	}
	for _, id := range list {
		in := r.region.Instances[id]
		d := detail{InstanceId: in.ID, InstanceType: in.Type, AutoScalingGroupName: in.AutoScalingGroup, AvailabilityZone: in.AvailabilityZone,
			LifecycleState: "InService", HealthStatus: "HEALTHY", ImageId: in.ImageID}
		if in.State != "running" {
			d.HealthStatus = "UNHEALTHY"
			if in.State == "pending" {
				d.LifecycleState, d.HealthStatus = "Pending", "HEALTHY"
			}
		}
		out.AutoScalingInstances = append(out.AutoScalingInstances, d)
	}
	return out, nil
}

// group reads AutoScalingGroupName and InstanceIds.member.N.
func (r *request) group() (*AutoScalingGroup, []*Instance, error) {
	name := r.params.get("AutoScalingGroupName")
	if name == "" {
		return nil, nil, validationError("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	ids := r.params.list("InstanceIds.member")
	if len(ids) > 20 {
		return nil, nil, validationError("The number of instance ids that may be passed in is limited to 20.")
	}
	if err := r.resources(append([]string{name}, ids...)...); err != nil {
		return nil, nil, err
	}
	g := r.region.AutoScalingGroups[name]
	if g == nil {
		return nil, nil, validationError("AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
	}
	var ins []*Instance
	for _, id := range ids {
		in := r.region.Instances[id]
		if in == nil {
			return nil, nil, validationError("Instance Id not found - No managed instance found for instance ID: %s", id)
		}
		ins = append(ins, in)
	}
	// DetachInstances and AttachInstances act on the group
	// (autoScalingGroup*), not on the instances.
	if err := r.authorize(r.action(), plainItem(g.ARN)); err != nil {
		return nil, nil, err
	}
	return g, ins, nil
}

type qActivity struct {
	ActivityId           string
	AutoScalingGroupName string
	Description          string
	Cause                string
	StartTime            xmlTime
	StatusCode           string
	Progress             int
	Details              string
}

func detachInstances(r *request) (any, error) {
	g, ins, err := r.group()
	if err != nil {
		return nil, err
	}
	dec, ok, perr := r.params.bool("ShouldDecrementDesiredCapacity")
	if perr != nil {
		return nil, validationError("ShouldDecrementDesiredCapacity must be true or false")
	}
	if !ok {
		return nil, validationError("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	for _, in := range ins {
		if in.AutoScalingGroup != g.Name {
			return nil, validationError("The instance %s is not part of Auto Scaling group %s.", in.ID, g.Name)
		}
	}
	if dec && g.DesiredCapacity-len(ins) < g.MinSize {
		return nil, validationError("Currently, desiredSize equals minSize (%d). Detaching %d instance(s) with ShouldDecrementDesiredCapacity set to true would reduce the desired capacity below minSize.", g.MinSize, len(ins))
	}
	out := &struct {
		Activities []qActivity `xml:"Activities>member"`
	}{Activities: []qActivity{}}
	before := g.DesiredCapacity
	if dec {
		g.DesiredCapacity -= len(ins)
	}
	for _, in := range ins {
		in.AutoScalingGroup = ""
		cause := fmt.Sprintf("At %s instance %s was detached in response to a user request", r.now.Format("2006-01-02T15:04:05Z"), in.ID)
		if dec {
			cause += fmt.Sprintf(", shrinking the capacity from %d to %d.", before, g.DesiredCapacity)
		} else {
			cause += fmt.Sprintf(", keeping the capacity at %d: a replacement instance is launched.", before)
		}
		d := dec
		act := &ScalingActivity{ID: r.e.ids.uuid("activity", g.Name+"/"+in.ID), Kind: "detach", InstanceIDs: []string{in.ID},
			Description: "Detaching EC2 instance: " + in.ID, Cause: cause, StatusCode: "InProgress", Start: r.now, ShouldDecrementDesiredCapacity: &d}
		g.Activities = append(g.Activities, act)
		out.Activities = append(out.Activities, qActivity{ActivityId: act.ID, AutoScalingGroupName: g.Name, Description: act.Description,
			Cause: cause, StartTime: xmlTime(r.now), StatusCode: act.StatusCode, Progress: 50,
			Details: fmt.Sprintf(`{"Subnet ID":"%s","Availability Zone":"%s"}`, in.SubnetID, in.AvailabilityZone)})
	}
	return out, nil
}

func attachInstances(r *request) (any, error) {
	g, ins, err := r.group()
	if err != nil {
		return nil, err
	}
	var add []*Instance
	for _, in := range ins {
		switch {
		case in.AutoScalingGroup == g.Name:
			continue // already a member: AttachInstances is idempotent
		case in.AutoScalingGroup != "":
			return nil, validationError("The instance %s is already part of Auto Scaling group %s.", in.ID, in.AutoScalingGroup)
		case in.State != "running":
			return nil, validationError("Instance %s is not in correct state (%s) to be attached; it must be running.", in.ID, in.State)
		case len(g.AvailabilityZones) > 0 && !contains(g.AvailabilityZones, in.AvailabilityZone):
			return nil, validationError("Instance %s is in %s, which is not an Availability Zone of group %s (%s).", in.ID, in.AvailabilityZone, g.Name, strings.Join(g.AvailabilityZones, ", "))
		}
		add = append(add, in)
	}
	if g.DesiredCapacity+len(add) > g.MaxSize {
		return nil, validationError("AutoScalingGroup: %s, attaching %d instance(s) would exceed the max size of the group (%d).", g.Name, len(add), g.MaxSize)
	}
	for _, in := range add {
		in.AutoScalingGroup = g.Name
		g.DesiredCapacity++
		g.Activities = append(g.Activities, &ScalingActivity{ID: r.e.ids.uuid("activity", g.Name+"/"+in.ID), Kind: "attach",
			InstanceIDs: []string{in.ID}, Description: "Attaching an existing EC2 instance: " + in.ID,
			Cause:      fmt.Sprintf("At %s an instance was added in response to a user request, increasing the capacity to %d.", r.now.Format("2006-01-02T15:04:05Z"), g.DesiredCapacity),
			StatusCode: "Successful", Start: r.now})
	}
	return nil, nil
}
