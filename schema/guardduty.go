package schema

import (
	"errors"
	"slices"
	"strings"
)

// isGuardDuty reports whether m looks like a GuardDuty finding, in the
// API's camelCase shape or the SDKs' PascalCase one.
func isGuardDuty(m map[string]any) bool {
	if _, ok := get(m, "type").(string); !ok {
		return false
	}
	if strings.Contains(str(m, "arn"), ":guardduty:") {
		return true
	}
	if svc := obj(m, "service"); svc != nil && str(svc, "serviceName") == "guardduty" {
		return true
	}
	_, sev := asFloat(get(m, "severity"))
	return sev && (obj(m, "resource") != nil || obj(m, "service") != nil)
}

// parseGuardDuty normalizes a GuardDuty finding (docs/findings.md). region is the
// enclosing EventBridge event's region, used when the finding has none.
func parseGuardDuty(m map[string]any, region string) (*Finding, error) {
	f := &Finding{Source: SourceGuardDuty}
	arn := str(m, "arn")
	f.ID = str(m, "id")
	if f.ID == "" {
		if i := strings.LastIndex(arn, "/finding/"); i >= 0 {
			f.ID = arn[i+len("/finding/"):]
		}
	}
	f.Type = str(m, "type")
	f.Title = str(m, "title")
	f.Description = str(m, "description")

	score, ok := asFloat(get(m, "severity"))
	if !ok {
		return nil, errors.New("GuardDuty finding: severity is missing or not a number")
	}
	f.SeverityScore = clampScore(score)
	f.Severity = GuardDutySeverity(f.SeverityScore)

	f.Account = str(m, "accountId")
	// The finding's own region first: an ARN's region is the detector's,
	// which in a delegated-administrator setup is not always the same.
	f.Region = firstNonEmpty(str(m, "region"), region, arnField(arn, 3))
	f.Partition = firstNonEmpty(str(m, "partition"), arnPartition(arn))
	f.CreatedAt = normTime(get(m, "createdAt"))
	f.UpdatedAt = normTime(get(m, "updatedAt"))

	svc := obj(m, "service")
	f.Count = 1
	if n := intField(svc, "count"); n > 1 {
		f.Count = n
	}

	res := obj(m, "resource")
	action := obj(svc, "action")
	rs := guardDutyResources(res, svc, f.Type)
	if len(rs) == 0 {
		// No resource block (it is optional): the API call's affected
		// resources are the best primary there is.
		rs = affectedResources(obj(action, "awsApiCallAction"))
	}
	finishResources(f, rs)
	locateBackupResources(f)

	f.Network, f.Actor = guardDutyActivity(action, obj(res, "accessKeyDetails"), obj(res, "kubernetesDetails"))
	return f, nil
}

func clampScore(s float64) float64 {
	return min(max(s, 0), 10)
}

// The detail blocks of a GuardDuty resource, in the order secondary
// resources are listed.
const (
	blockInstance = iota
	blockAccessKey
	blockBuckets
	blockEKS
	blockECS
	blockRDS
	blockLambda
	blockContainer
	blockK8sWorkload
	blockK8sUser
	blockEBSSnapshot
	blockEC2Image
	blockRecoveryPoint
	numBlocks
)

// primaryBlocks maps resourceType to the block that holds the primary
// resource.
var primaryBlocks = map[string]int{
	"Instance":       blockInstance,
	"AccessKey":      blockAccessKey,
	"S3Bucket":       blockBuckets,
	"S3Object":       blockBuckets,
	"EKSCluster":     blockEKS,
	"ECSCluster":     blockECS,
	"RDSDBInstance":  blockRDS,
	"RDSLimitlessDB": blockRDS,
	"Lambda":         blockLambda,
	"Container":      blockContainer,
}

// guardDutyResources maps a finding's resource block: the primary resource
// as resourceType says (for a container, the host it runs on: runtime.go;
// for a Malware Protection for Backup scan, the scanned snapshot, AMI or
// recovery point), then every other resource the block details (the access
// key used on an S3 bucket, the instance whose credentials a key belongs
// to …). findingType is the finding's type.
func guardDutyResources(res, svc map[string]any, findingType string) []Resource {
	if res == nil {
		return nil
	}
	rs := make([]Resource, 0, 4)
	var done [numBlocks]bool
	rtype := str(res, "resourceType")
	if crs, used, ok := containerResources(res, rtype); ok {
		rs, done = append(rs, crs...), used
		done[blockK8sWorkload] = true
	} else if order, ok := backupScanBlocks(res, findingType, rtype); ok {
		for _, b := range order {
			done[b] = true
			if rs = gdBlock(rs, res, b); len(rs) > 0 {
				break
			}
		}
		if len(rs) == 0 {
			// The finding does not name what was scanned (no ARN in its
			// blocks): it gets no primary resource rather than a
			// bystander the block also names, such as an instance,
			// which rules could otherwise act on for malware in a backup.
			rs = append(rs, newResource("", "", ""))
		}
	} else if b, ok := primaryBlocks[rtype]; ok {
		rs = gdBlock(rs, res, b)
		done[b] = true
	} else if rtype == "AttackSequence" {
		rs = append(rs, sequenceResources(svc)...)
	}
	for b := 0; b < numBlocks; b++ {
		if !done[b] {
			rs = gdBlock(rs, res, b)
		}
	}
	return rs
}

// gdBlock appends the resources of one detail block, if the finding has it.
func gdBlock(rs []Resource, res map[string]any, block int) []Resource {
	switch block {
	case blockInstance:
		if d := obj(res, "instanceDetails"); d != nil && str(d, "instanceId") != "" {
			rs = append(rs, gdInstance(d))
		}
	case blockAccessKey:
		if d := obj(res, "accessKeyDetails"); d != nil {
			rs = gdAccessKey(rs, d)
		}
	case blockBuckets:
		for _, b := range arr(res, "s3BucketDetails") {
			if d, ok := b.(map[string]any); ok {
				rs = append(rs, gdBucket(d))
			}
		}
	case blockEKS:
		if d := obj(res, "eksClusterDetails"); d != nil {
			rs = append(rs, gdNamed(ResourceEKSCluster, d, "name", "arn",
				"vpc_id", "vpcId", "status", "status"))
		}
	case blockECS:
		if d := obj(res, "ecsClusterDetails"); d != nil {
			rs = append(rs, gdNamed(ResourceECSCluster, d, "name", "arn", "status", "status"))
		}
	case blockRDS:
		if d := obj(res, "rdsDbInstanceDetails"); d != nil {
			rs = append(rs, gdNamed(ResourceDBInstance, d, "dbInstanceIdentifier", "dbInstanceArn",
				"engine", "engine", "engine_version", "engineVersion",
				"db_cluster_identifier", "dbClusterIdentifier"))
		}
	case blockLambda:
		if d := obj(res, "lambdaDetails"); d != nil {
			rs = append(rs, gdNamed(ResourceLambda, d, "functionName", "functionArn",
				"runtime", "runtime", "role", "role"))
		}
	case blockContainer:
		if d := obj(res, "containerDetails"); d != nil {
			r := newResource(ResourceContainer, str(d, "id"), "")
			for k, v := range containerDetails(d) {
				r.Details[k] = v
			}
			rs = append(rs, r)
		}
	case blockK8sWorkload:
		if w := pathObj(res, "kubernetesDetails", "kubernetesWorkloadDetails"); w != nil {
			rs = append(rs, kubernetesWorkload(w))
		}
	case blockK8sUser:
		if p, ok := kubernetesPrincipal(pathObj(res, "kubernetesDetails", "kubernetesUserDetails")); ok {
			rs = append(rs, p)
		}
	case blockEBSSnapshot:
		if arn := str(obj(res, "ebsSnapshotDetails"), "snapshotArn"); arn != "" {
			rs = append(rs, resourceFromID(ResourceEBSSnapshot, arn))
		}
	case blockEC2Image:
		if arn := str(obj(res, "ec2ImageDetails"), "imageArn"); arn != "" {
			rs = append(rs, resourceFromID(ResourceAMI, arn))
		}
	case blockRecoveryPoint:
		d := obj(res, "recoveryPointDetails")
		if arn := str(d, "recoveryPointArn"); arn != "" {
			r := resourceFromID(ResourceBackupRecoveryPoint, arn)
			setStr(r.Details, "backup_vault_name", str(d, "backupVaultName"))
			// A continuous (point-in-time) backup is scanned over a
			// window, which says which of its restore points hold the
			// malware.
			if c := obj(d, "continuousScanDetails"); c != nil {
				setTime(r.Details, "continuous_scan_start_time", get(c, "startTime"))
				setTime(r.Details, "continuous_scan_end_time", get(c, "endTime"))
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// backupBlocks are the resource blocks of what Malware Protection for
// Backup scans, by the suffix GuardDuty gives the types of its findings
// (Execution:EC2/MaliciousFile!Snapshot …).
var backupBlocks = [...]struct {
	suffix, key string
	block       int
}{
	{"!RecoveryPoint", "recoveryPointDetails", blockRecoveryPoint},
	{"!Snapshot", "ebsSnapshotDetails", blockEBSSnapshot},
	{"!AMI", "ec2ImageDetails", blockEC2Image},
}

// backupScanBlocks reports whether a finding is a Malware Protection for
// Backup scan's, and in which order its blocks are tried for the resource
// it is about: the one its type names first, then a recovery point before
// the snapshot or AMI it may also name. Its type says so (…!Snapshot,
// …!AMI, …!RecoveryPoint), or, when its resourceType is not one of the
// documented ones, a block it has: GuardDuty does not document the
// resourceType of these findings, so it is not relied on.
func backupScanBlocks(res map[string]any, findingType, resourceType string) ([]int, bool) {
	named := -1
	found := false
	for _, b := range backupBlocks {
		if strings.HasSuffix(findingType, b.suffix) {
			named = b.block
		}
		found = found || get(res, b.key) != nil
	}
	if _, documented := primaryBlocks[resourceType]; named < 0 && (documented || !found) {
		return nil, false
	}
	order := make([]int, 0, len(backupBlocks))
	if named >= 0 {
		order = append(order, named)
	}
	for _, b := range backupBlocks {
		if b.block != named {
			order = append(order, b.block)
		}
	}
	return order, true
}

// gdInstance maps instanceDetails to an aws_instance (FACTS.md).
func gdInstance(d map[string]any) Resource {
	id := str(d, "instanceId")
	r := newResource(ResourceInstance, id, "")
	det := r.Details
	setVal(det, "instance_id", get(d, "instanceId"))
	setVal(det, "image_id", get(d, "imageId"))
	setVal(det, "image_description", get(d, "imageDescription"))
	setVal(det, "instance_type", get(d, "instanceType"))
	setVal(det, "instance_state", get(d, "instanceState"))
	setVal(det, "availability_zone", get(d, "availabilityZone"))
	setVal(det, "platform", get(d, "platform"))
	setTime(det, "launch_time", get(d, "launchTime"))
	if p := obj(d, "iamInstanceProfile"); p != nil {
		setVal(det, "iam_instance_profile_arn", get(p, "arn"))
		setVal(det, "iam_instance_profile_id", get(p, "id"))
	}
	enis := arr(d, "networkInterfaces")
	var groups []string
	nis := make([]any, 0, len(enis))
	for _, e := range enis {
		n, ok := e.(map[string]any)
		if !ok {
			continue
		}
		ni := make(map[string]any, 6)
		setVal(ni, "id", get(n, "networkInterfaceId"))
		setVal(ni, "private_ip", get(n, "privateIpAddress"))
		setVal(ni, "public_ip", get(n, "publicIp"))
		setVal(ni, "subnet_id", get(n, "subnetId"))
		setVal(ni, "vpc_id", get(n, "vpcId"))
		var sgs []string
		for _, g := range arr(n, "securityGroups") {
			if gm, ok := g.(map[string]any); ok {
				if id := str(gm, "groupId"); id != "" {
					sgs = append(sgs, id)
					if !slices.Contains(groups, id) {
						groups = append(groups, id)
					}
				}
			}
		}
		if sgs != nil {
			ni["security_groups"] = sgs
		}
		nis = append(nis, ni)
		// The instance's addresses are its first interface's that has them.
		setIfAbsent(det, "public_ip", get(n, "publicIp"))
		setIfAbsent(det, "private_ip", get(n, "privateIpAddress"))
		setIfAbsent(det, "public_dns_name", get(n, "publicDnsName"))
		setIfAbsent(det, "private_dns_name", get(n, "privateDnsName"))
		setIfAbsent(det, "subnet_id", get(n, "subnetId"))
		setIfAbsent(det, "vpc_id", get(n, "vpcId"))
	}
	if groups != nil {
		det["security_groups"] = groups
	}
	if len(nis) > 0 {
		det["network_interfaces"] = nis
	}
	tagsFrom(get(d, "tags"), r.Tags)
	return r
}

func setIfAbsent(m map[string]any, k string, v any) {
	if _, ok := m[k]; !ok {
		setVal(m, k, v)
	}
}

// gdAccessKey appends the aws_iam_access_key of accessKeyDetails and the
// IAM user or role it belongs to.
func gdAccessKey(rs []Resource, d map[string]any) []Resource {
	id := str(d, "accessKeyId")
	userType, userName, principalID := str(d, "userType"), str(d, "userName"), str(d, "principalId")
	if id != "" {
		r := newResource(ResourceAccessKey, id, "")
		setVal(r.Details, "access_key_id", get(d, "accessKeyId"))
		setVal(r.Details, "principal_id", get(d, "principalId"))
		setVal(r.Details, "user_name", get(d, "userName"))
		setVal(r.Details, "user_type", get(d, "userType"))
		rs = append(rs, r)
	}
	if p, ok := principalResource(userType, userName, principalID); ok {
		rs = append(rs, p)
	}
	return rs
}

// gdBucket maps one of s3BucketDetails to an aws_s3_bucket.
func gdBucket(d map[string]any) Resource {
	name, arn := str(d, "name"), str(d, "arn")
	id := name
	if id == "" {
		id = naturalID(arn)
	}
	r := newResource(ResourceS3Bucket, id, arn)
	det := r.Details
	setStr(det, "name", name)
	setStr(det, "arn", arn)
	setTime(det, "created_at", get(d, "createdAt"))
	setStr(det, "owner_id", pathStr(d, "owner", "id"))
	if pa := obj(d, "publicAccess"); pa != nil {
		det["public_access"] = snakeCopy(pa)
	}
	setStr(det, "encryption_type", pathStr(d, "defaultServerSideEncryption", "encryptionType"))
	tagsFrom(get(d, "tags"), r.Tags)
	return r
}

// gdNamed maps a details block identified by a name field and an ARN
// field: nameKey and arnKey are the source's keys, fields pairs of
// (detail key, source key). The detail keys "name"/"arn" or the type's own
// identifier key are set from nameKey and arnKey.
func gdNamed(typ string, d map[string]any, nameKey, arnKey string, fields ...string) Resource {
	name, arn := str(d, nameKey), str(d, arnKey)
	id := name
	if id == "" {
		id = naturalID(arn)
	}
	r := newResource(typ, id, arn)
	det := r.Details
	switch typ {
	case ResourceDBInstance:
		setStr(det, "db_instance_identifier", name)
		setStr(det, "arn", arn)
	case ResourceLambda:
		setStr(det, "function_name", name)
		setStr(det, "function_arn", arn)
		setTime(det, "last_modified_at", get(d, "lastModifiedAt"))
	default:
		setStr(det, "name", name)
		setStr(det, "arn", arn)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		setStr(det, fields[i], str(d, fields[i+1]))
	}
	if typ == ResourceEKSCluster {
		setTime(det, "created_at", get(d, "createdAt"))
	}
	tagsFrom(get(d, "tags"), r.Tags)
	return r
}

// affectedResources maps an API call's affectedResources
// ({"AWS::IAM::Role": "arn:…"}) to resources, in key order for a stable
// result.
func affectedResources(api map[string]any) []Resource {
	ar := obj(api, "affectedResources")
	if len(ar) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ar))
	for k := range ar {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var rs []Resource
	for _, k := range keys {
		v := asString(ar[k])
		if v == "" {
			continue
		}
		rs = append(rs, resourceFromID(terraformType(k), v))
	}
	return rs
}

// sequenceResources maps the resources of an attack sequence
// (service.detection.sequence.resources, GuardDuty's ResourceV2 shape).
// Findings without them (older exports, Panther's test events) have no
// primary resource.
func sequenceResources(svc map[string]any) []Resource {
	var rs []Resource
	for _, e := range arr(pathObj(svc, "detection", "sequence"), "resources") {
		d, ok := e.(map[string]any)
		if !ok {
			continue
		}
		uid, name := str(d, "uid"), str(d, "name")
		typ := str(d, "resourceType")
		if t, ok := sequenceTypes[typ]; ok {
			typ = t
		}
		if uid == "" {
			uid = name
		}
		r := resourceFromID(typ, uid)
		tagsFrom(get(d, "tags"), r.Tags)
		rs = append(rs, r)
	}
	return rs
}

var sequenceTypes = map[string]string{
	"EC2_INSTANCE":          ResourceInstance,
	"EC2_NETWORK_INTERFACE": "aws_network_interface",
	"S3_BUCKET":             ResourceS3Bucket,
	"S3_OBJECT":             "aws_s3_object",
	"ACCESS_KEY":            ResourceAccessKey,
	"EKS_CLUSTER":           ResourceEKSCluster,
	"ECS_CLUSTER":           ResourceECSCluster,
	"CONTAINER":             ResourceContainer,
	"EC2_IMAGE":             ResourceAMI,
}

// guardDutyActivity reads the network activity and the actor of a
// GuardDuty action (service.action, or Security Hub's Action, which has
// the same shape).
func guardDutyActivity(action, accessKey, k8s map[string]any) (*Network, *Actor) {
	var n Network
	var callerIP, callerUser string
	kind := str(action, "actionType")
	pick := func(key, actionType string) map[string]any {
		if kind != "" && kind != actionType {
			return nil
		}
		return obj(action, key)
	}
	if a := pick("networkConnectionAction", "NETWORK_CONNECTION"); a != nil {
		n.Direction = strings.ToUpper(str(a, "connectionDirection"))
		n.Protocol = strings.ToUpper(str(a, "protocol"))
		n.LocalIP = ipOf(obj(a, "localIpDetails"))
		n.LocalPort = intField(obj(a, "localPortDetails"), "port")
		remoteIP(&n, obj(a, "remoteIpDetails"))
		n.RemotePort = intField(obj(a, "remotePortDetails"), "port")
	} else if a := pick("portProbeAction", "PORT_PROBE"); a != nil {
		// A probe comes from outside by definition; GuardDuty lists each
		// probed port, the first stands for them.
		n.Direction = "INBOUND"
		if ds := arr(a, "portProbeDetails"); len(ds) > 0 {
			if d, ok := ds[0].(map[string]any); ok {
				n.LocalIP = ipOf(obj(d, "localIpDetails"))
				n.LocalPort = intField(obj(d, "localPortDetails"), "port")
				remoteIP(&n, obj(d, "remoteIpDetails"))
			}
		}
	} else if a := pick("dnsRequestAction", "DNS_REQUEST"); a != nil {
		n.Domain = str(a, "domain")
		n.Protocol = strings.ToUpper(str(a, "protocol"))
	} else if a := pick("awsApiCallAction", "AWS_API_CALL"); a != nil {
		remoteIP(&n, obj(a, "remoteIpDetails"))
		n.Domain = pathStr(a, "domainDetails", "domain")
		callerIP = n.RemoteIP
	} else if a := pick("kubernetesApiCallAction", "KUBERNETES_API_CALL"); a != nil {
		remoteIP(&n, obj(a, "remoteIpDetails"))
		if n.RemoteIP == "" {
			if ips := arr(a, "sourceIps"); len(ips) > 0 {
				n.RemoteIP = asString(ips[0])
			}
		}
		callerIP = n.RemoteIP
		callerUser = pathStr(k8s, "kubernetesUserDetails", "username")
	} else if a := pick("rdsLoginAttemptAction", "RDS_LOGIN_ATTEMPT"); a != nil {
		remoteIP(&n, obj(a, "remoteIpDetails"))
		callerIP = n.RemoteIP
		if attrs := arr(a, "loginAttributes"); len(attrs) > 0 {
			if la, ok := attrs[0].(map[string]any); ok {
				callerUser = str(la, "user")
			}
		}
	}

	var network *Network
	if n != (Network{}) {
		network = &n
	}
	// accessKeyDetails describe the principal that did what the finding
	// reports, so it is the actor whatever the action.
	a := Actor{
		Type:        str(accessKey, "userType"),
		User:        firstNonEmpty(str(accessKey, "userName"), callerUser),
		AccessKeyID: str(accessKey, "accessKeyId"),
		IP:          callerIP,
	}
	var actor *Actor
	if a != (Actor{}) {
		actor = &a
	}
	return network, actor
}

func ipOf(d map[string]any) string {
	return firstNonEmpty(str(d, "ipAddressV4"), str(d, "ipAddressV6"))
}

func remoteIP(n *Network, d map[string]any) {
	n.RemoteIP = ipOf(d)
	n.RemoteCountry = pathStr(d, "country", "countryName")
}
