package awsemu

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Both load balancing APIs speak awsQuery and sign as
// elasticloadbalancing; the Version parameter tells them apart.
var (
	elbv2API = queryErrors(&api{id: "elbv2", prefix: "elasticloadbalancing", protocol: protoQuery, version: "2015-12-01",
		xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"})
	elbAPI = queryErrors(&api{id: "elb", prefix: "elasticloadbalancing", protocol: protoQuery, version: "2012-06-01",
		xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"})
)

func init() {
	elbv2API.ops = map[string]handler{
		"DescribeTargetGroups": describeTargetGroups,
		"DescribeTargetHealth": describeTargetHealth,
		"RegisterTargets":      registerTargets,
		"DeregisterTargets":    deregisterTargets,
	}
	elbAPI.ops = map[string]handler{
		"DescribeLoadBalancers":               describeLoadBalancers,
		"RegisterInstancesWithLoadBalancer":   registerInstancesWithLoadBalancer,
		"DeregisterInstancesFromLoadBalancer": deregisterInstancesFromLoadBalancer,
	}
}

// pageMarker pages a sorted list with Marker and PageSize (1-400).
func (r *request) pageMarker(keys []string) ([]string, string, error) {
	size := 400
	if n, ok, err := r.params.int("PageSize"); err != nil {
		return nil, "", validationError("PageSize must be an integer")
	} else if ok {
		if n < 1 || n > 400 {
			return nil, "", validationError("1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400", n)
		}
		size = n
	}
	if m := r.params.get("Marker"); m != "" {
		last, ok := decodeToken(r.op, m)
		if !ok {
			return nil, "", validationError("Invalid Marker: %s", m)
		}
		i := sort.SearchStrings(keys, last)
		if i < len(keys) && keys[i] == last {
			i++
		}
		keys = keys[i:]
	}
	if len(keys) <= size {
		return keys, "", nil
	}
	return keys[:size], encodeToken(r.op, keys[size-1]), nil
}

// ---- ELBv2 target groups ---------------------------------------------------

func targetGroupNotFound() *apiError {
	return errf(400, "TargetGroupNotFound", "One or more target groups not found")
}

func invalidTarget(format string, args ...any) *apiError {
	return errf(400, "InvalidTarget", format, args...)
}

func describeTargetGroups(r *request) (any, error) {
	arns := r.params.list("TargetGroupArns.member")
	names := r.params.list("Names.member")
	lbARN := r.params.get("LoadBalancerArn")
	if len(arns) > 0 && len(names) > 0 {
		return nil, validationError("Target group names and target group ARNs cannot be specified at the same time")
	}
	if err := r.resources(append(append([]string{}, arns...), names...)...); err != nil {
		return nil, err
	}
	var list []*TargetGroup
	switch {
	case len(arns) > 0:
		for _, a := range arns {
			tg := r.region.TargetGroups[a]
			if tg == nil {
				return nil, targetGroupNotFound()
			}
			list = append(list, tg)
		}
	case len(names) > 0:
		for _, n := range names {
			tg := findTargetGroupByName(r.region, n)
			if tg == nil {
				return nil, targetGroupNotFound()
			}
			list = append(list, tg)
		}
	default:
		for _, a := range sortedKeys(r.region.TargetGroups) {
			list = append(list, r.region.TargetGroups[a])
		}
	}
	if lbARN != "" {
		var kept []*TargetGroup
		for _, tg := range list {
			if contains(tg.LoadBalancerARNs, lbARN) {
				kept = append(kept, tg)
			}
		}
		list = kept
	}
	keys := make([]string, len(list))
	byARN := map[string]*TargetGroup{}
	for i, tg := range list {
		keys[i], byARN[tg.ARN] = tg.ARN, tg
	}
	sort.Strings(keys)
	page, next, err := r.pageMarker(keys)
	if err != nil {
		return nil, err
	}
	type targetGroup struct {
		TargetGroupArn             string
		TargetGroupName            string
		Protocol                   string
		Port                       int
		VpcId                      string
		HealthCheckProtocol        string
		HealthCheckPort            string
		HealthCheckEnabled         bool
		HealthCheckIntervalSeconds int
		HealthCheckTimeoutSeconds  int
		HealthyThresholdCount      int
		UnhealthyThresholdCount    int
		HealthCheckPath            string `xml:",omitempty"`
		Matcher                    *struct{ HttpCode string }
		LoadBalancerArns           []string `xml:"LoadBalancerArns>member"`
		TargetType                 string
		ProtocolVersion            string `xml:",omitempty"`
		IpAddressType              string
	}
	out := &struct {
		TargetGroups []targetGroup `xml:"TargetGroups>member"`
		NextMarker   string        `xml:",omitempty"`
	}{TargetGroups: []targetGroup{}, NextMarker: next}
	for _, a := range page {
		tg := byARN[a]
		x := targetGroup{TargetGroupArn: tg.ARN, TargetGroupName: tg.Name, Protocol: tg.Protocol, Port: tg.Port, VpcId: tg.VPCID,
			HealthCheckProtocol: tg.Protocol, HealthCheckPort: "traffic-port", HealthCheckEnabled: true, HealthCheckIntervalSeconds: 30,
			HealthCheckTimeoutSeconds: 5, HealthyThresholdCount: 5, UnhealthyThresholdCount: 2, HealthCheckPath: tg.HealthCheckPath,
			LoadBalancerArns: append([]string{}, tg.LoadBalancerARNs...), TargetType: "instance", IpAddressType: "ipv4"}
		if strings.HasPrefix(tg.Protocol, "HTTP") {
			x.Matcher, x.ProtocolVersion = &struct{ HttpCode string }{"200"}, "HTTP1"
		}
		out.TargetGroups = append(out.TargetGroups, x)
	}
	return out, nil
}

// targetGroupParam reads TargetGroupArn.
func (r *request) targetGroupParam() (*TargetGroup, error) {
	arn := r.params.get("TargetGroupArn")
	if arn == "" {
		return nil, validationError("1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null")
	}
	if err := r.resources(arn); err != nil {
		return nil, err
	}
	tg := r.region.TargetGroups[arn]
	if tg == nil {
		return nil, targetGroupNotFound()
	}
	return tg, nil
}

// targetsParam reads Targets.member.N, with the group's port by default.
func (r *request) targetsParam(tg *TargetGroup, required bool) ([]Target, error) {
	out, _, err := r.targetsWithPorts(tg, required)
	return out, err
}

// targetsWithPorts is targetsParam that also says, per target, whether the
// request gave its port.
func (r *request) targetsWithPorts(tg *TargetGroup, required bool) ([]Target, []bool, error) {
	items := r.params.items("Targets.member")
	if required && len(items) == 0 {
		return nil, nil, validationError("1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	var out []Target
	var portGiven []bool
	var ids []string
	for _, it := range items {
		id := r.params.get(it + ".Id")
		if id == "" {
			return nil, nil, validationError("A target ID must be specified")
		}
		t := Target{ID: id, Port: tg.Port}
		given := r.params.has(it + ".Port")
		if given {
			n, err := strconv.Atoi(r.params.get(it + ".Port"))
			if err != nil || n < 1 || n > 65535 {
				return nil, nil, validationError("1 validation error detected: Value '%s' at 'targets.%s.member.port' failed to satisfy constraint: Member must have value between 1 and 65535", r.params.get(it+".Port"), strings.TrimPrefix(it, "Targets.member."))
			}
			t.Port = n
		}
		out = append(out, t)
		portGiven = append(portGiven, given)
		ids = append(ids, id)
	}
	if err := r.resources(ids...); err != nil {
		return nil, nil, err
	}
	return out, portGiven, nil
}

func targetIndex(tg *TargetGroup, t Target) int {
	for i, x := range tg.Targets {
		if x == t {
			return i
		}
	}
	return -1
}

func quoteList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = "'" + id + "'"
	}
	return strings.Join(q, ", ")
}

func describeTargetHealth(r *request) (any, error) {
	tg, err := r.targetGroupParam()
	if err != nil {
		return nil, err
	}
	asked, portGiven, err := r.targetsWithPorts(tg, false)
	if err != nil {
		return nil, err
	}
	var invalid []string
	for _, t := range asked {
		if r.region.Instances[t.ID] == nil {
			invalid = append(invalid, t.ID)
		}
	}
	if len(invalid) > 0 {
		return nil, invalidTarget("The following targets are not valid instances: %s", quoteList(invalid))
	}
	targets := asked
	if len(asked) == 0 {
		targets = tg.Targets
	} else {
		// A target named without a port stands for every registration of
		// its id, as ELB answers it: an instance can be registered on
		// several ports (ECS dynamic ports, a port override), and only
		// when it has none is it reported unused on the group's port.
		targets = nil
		for i, t := range asked {
			n := len(targets)
			if !portGiven[i] {
				for _, reg := range tg.Targets {
					if reg.ID == t.ID {
						targets = append(targets, reg)
					}
				}
			}
			if len(targets) == n {
				targets = append(targets, t)
			}
		}
	}
	type health struct {
		Target struct {
			Id   string
			Port int
		}
		HealthCheckPort string
		TargetHealth    struct {
			State       string
			Reason      string `xml:",omitempty"`
			Description string `xml:",omitempty"`
		}
	}
	out := &struct {
		TargetHealthDescriptions []health `xml:"TargetHealthDescriptions>member"`
	}{TargetHealthDescriptions: []health{}}
	for _, t := range targets {
		var h health
		h.Target.Id, h.Target.Port = t.ID, t.Port
		h.HealthCheckPort = strconv.Itoa(t.Port)
		in := r.region.Instances[t.ID]
		switch {
		case targetIndex(tg, t) < 0:
			h.TargetHealth.State, h.TargetHealth.Reason, h.TargetHealth.Description = "unused", "Target.NotRegistered", "Target is not registered to the target group"
		case in.State == "running":
			h.TargetHealth.State = "healthy"
		default:
			h.TargetHealth.State, h.TargetHealth.Reason, h.TargetHealth.Description = "unused", "Target.InvalidState", "Target is in the "+in.State+" state"
		}
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, h)
	}
	return out, nil
}

func registerTargets(r *request) (any, error) {
	tg, err := r.targetGroupParam()
	if err != nil {
		return nil, err
	}
	if err := r.authorize(r.action(), plainItem(tg.ARN)); err != nil {
		return nil, err
	}
	targets, err := r.targetsParam(tg, true)
	if err != nil {
		return nil, err
	}
	var missing, otherVPC, notRunning []string
	for _, t := range targets {
		in := r.region.Instances[t.ID]
		switch {
		case in == nil:
			missing = append(missing, t.ID)
		case in.VPCID != tg.VPCID:
			otherVPC = append(otherVPC, t.ID)
		case in.State != "running":
			notRunning = append(notRunning, t.ID)
		}
	}
	switch {
	case len(missing) > 0:
		return nil, invalidTarget("The following targets are not valid instances: %s", quoteList(missing))
	case len(otherVPC) > 0:
		return nil, invalidTarget("The following targets are not in the target group's VPC '%s': %s", tg.VPCID, quoteList(otherVPC))
	case len(notRunning) > 0:
		return nil, invalidTarget("The following targets are not in a running state and cannot be registered: %s", quoteList(notRunning))
	}
	for _, t := range targets {
		if targetIndex(tg, t) < 0 {
			tg.Targets = append(tg.Targets, t)
		}
	}
	return &struct{}{}, nil // an empty <RegisterTargetsResult/>, as ELBv2 sends
}

func deregisterTargets(r *request) (any, error) {
	tg, err := r.targetGroupParam()
	if err != nil {
		return nil, err
	}
	if err := r.authorize(r.action(), plainItem(tg.ARN)); err != nil {
		return nil, err
	}
	targets, err := r.targetsParam(tg, true)
	if err != nil {
		return nil, err
	}
	var absent []string
	for _, t := range targets {
		if targetIndex(tg, t) < 0 {
			absent = append(absent, t.ID)
		}
	}
	if len(absent) > 0 {
		return nil, invalidTarget("The following targets are not registered in target group '%s': %s", tg.Name, quoteList(absent))
	}
	for _, t := range targets {
		if i := targetIndex(tg, t); i >= 0 {
			tg.Targets = append(tg.Targets[:i], tg.Targets[i+1:]...)
		}
	}
	return &struct{}{}, nil
}

// ---- classic load balancers ------------------------------------------------

func loadBalancerNotFound(name string) *apiError {
	return errf(400, "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", name)
}

type qInstanceRef struct{ InstanceId string }

func qInstanceRefs(ids []string) []qInstanceRef {
	out := make([]qInstanceRef, len(ids))
	for i, id := range ids {
		out[i] = qInstanceRef{id}
	}
	return out
}

func describeLoadBalancers(r *request) (any, error) {
	names := r.params.list("LoadBalancerNames.member")
	if err := r.resources(names...); err != nil {
		return nil, err
	}
	for _, n := range names {
		if r.region.LoadBalancers[n] == nil {
			return nil, loadBalancerNotFound(n)
		}
	}
	keys := names
	if len(keys) == 0 {
		keys = sortedKeys(r.region.LoadBalancers)
	} else {
		keys = append([]string{}, names...)
		sort.Strings(keys)
	}
	page, next, err := r.pageMarker(keys)
	if err != nil {
		return nil, err
	}
	type listener struct {
		Protocol         string
		LoadBalancerPort int
		InstanceProtocol string
		InstancePort     int
	}
	type listenerDescription struct {
		Listener    listener
		PolicyNames struct{}
	}
	type description struct {
		LoadBalancerName          string
		DNSName                   string
		CanonicalHostedZoneName   string
		CanonicalHostedZoneNameID string
		ListenerDescriptions      []listenerDescription `xml:"ListenerDescriptions>member"`
		AvailabilityZones         []string              `xml:"AvailabilityZones>member"`
		Subnets                   []string              `xml:"Subnets>member"`
		VPCId                     string
		Instances                 []qInstanceRef `xml:"Instances>member"`
		HealthCheck               struct {
			Target             string
			Interval           int
			Timeout            int
			UnhealthyThreshold int
			HealthyThreshold   int
		}
		SourceSecurityGroup struct {
			OwnerAlias string
			GroupName  string
		}
		SecurityGroups []string `xml:"SecurityGroups>member"`
		CreatedTime    xmlTime
		Scheme         string
	}
	out := &struct {
		LoadBalancerDescriptions []description `xml:"LoadBalancerDescriptions>member"`
		NextMarker               string        `xml:",omitempty"`
	}{LoadBalancerDescriptions: []description{}, NextMarker: next}
	for _, n := range page {
		lb := r.region.LoadBalancers[n]
		d := description{LoadBalancerName: lb.Name, DNSName: lb.DNSName, CanonicalHostedZoneName: lb.DNSName, CanonicalHostedZoneNameID: "Z35SXDOTRQ7X7K",
			AvailabilityZones: lb.AvailabilityZones, Subnets: lb.Subnets, VPCId: lb.VPCID, Instances: qInstanceRefs(lb.Instances),
			SecurityGroups: lb.SecurityGroups, CreatedTime: xmlTime(lb.Created), Scheme: lb.Scheme}
		for _, l := range lb.Listeners {
			d.ListenerDescriptions = append(d.ListenerDescriptions, listenerDescription{Listener: listener(l)})
		}
		if len(lb.Listeners) > 0 {
			d.HealthCheck.Target = fmt.Sprintf("%s:%d/", lb.Listeners[0].InstanceProtocol, lb.Listeners[0].InstancePort)
		}
		d.HealthCheck.Interval, d.HealthCheck.Timeout, d.HealthCheck.UnhealthyThreshold, d.HealthCheck.HealthyThreshold = 30, 5, 2, 10
		if len(lb.SecurityGroups) > 0 {
			if sg := r.region.SecurityGroups[lb.SecurityGroups[0]]; sg != nil {
				d.SourceSecurityGroup.OwnerAlias, d.SourceSecurityGroup.GroupName = r.acct.ID, sg.Name
			}
		}
		out.LoadBalancerDescriptions = append(out.LoadBalancerDescriptions, d)
	}
	return out, nil
}

// lbInstances reads LoadBalancerName and Instances.member.N.InstanceId.
func (r *request) lbInstances() (*LoadBalancer, []string, error) {
	name := r.params.get("LoadBalancerName")
	if name == "" {
		return nil, nil, validationError("1 validation error detected: Value null at 'loadBalancerName' failed to satisfy constraint: Member must not be null")
	}
	var ids []string
	for _, it := range r.params.items("Instances.member") {
		ids = append(ids, r.params.get(it+".InstanceId"))
	}
	if len(ids) == 0 {
		return nil, nil, validationError("1 validation error detected: Value null at 'instances' failed to satisfy constraint: Member must not be null")
	}
	if err := r.resources(append([]string{name}, ids...)...); err != nil {
		return nil, nil, err
	}
	lb := r.region.LoadBalancers[name]
	if lb == nil {
		return nil, nil, loadBalancerNotFound(name)
	}
	// Both callers (register and deregister) act on the load balancer
	// (loadbalancer*).
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/%s", r.region.Name, r.acct.ID, lb.Name)
	if err := r.authorize(r.action(), plainItem(arn)); err != nil {
		return nil, nil, err
	}
	return lb, ids, nil
}

func invalidInstance(format string, args ...any) *apiError {
	return errf(400, "InvalidInstance", format, args...)
}

func registerInstancesWithLoadBalancer(r *request) (any, error) {
	lb, ids, err := r.lbInstances()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		in := r.region.Instances[id]
		if in == nil || in.State == "terminated" {
			return nil, invalidInstance("The requested instance id %s is not a valid instance", id)
		}
		if in.VPCID != lb.VPCID {
			return nil, invalidInstance("Instance %s is in VPC %s, not in the load balancer's VPC %s", id, in.VPCID, lb.VPCID)
		}
	}
	for _, id := range ids {
		if !contains(lb.Instances, id) {
			lb.Instances = append(lb.Instances, id)
		}
	}
	return &struct {
		Instances []qInstanceRef `xml:"Instances>member"`
	}{qInstanceRefs(lb.Instances)}, nil
}

func deregisterInstancesFromLoadBalancer(r *request) (any, error) {
	lb, ids, err := r.lbInstances()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if r.region.Instances[id] == nil {
			return nil, invalidInstance("The requested instance id %s is not a valid instance", id)
		}
		if !contains(lb.Instances, id) {
			return nil, invalidInstance("The instance %s is not registered with load balancer %s", id, lb.Name)
		}
	}
	kept := lb.Instances[:0:0]
	for _, id := range lb.Instances {
		if !contains(ids, id) {
			kept = append(kept, id)
		}
	}
	lb.Instances = kept
	return &struct {
		Instances []qInstanceRef `xml:"Instances>member"`
	}{qInstanceRefs(lb.Instances)}, nil
}
