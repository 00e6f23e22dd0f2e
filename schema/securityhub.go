package schema

import (
	"errors"
	"net/netip"
	"strings"
)

// isASFF reports whether m looks like a Security Hub finding (AWS Security
// Finding Format).
func isASFF(m map[string]any) bool {
	if _, ok := m["ProductArn"].(string); ok {
		return true
	}
	_, acct := m["AwsAccountId"].(string)
	_, gen := m["GeneratorId"].(string)
	return acct && gen
}

// isGuardDutyASFF reports whether a Security Hub finding was produced by
// GuardDuty, whose native type and activity it carries in its own way. Only
// the ProductArn of AWS's own GuardDuty integration proves it (see
// identity.go): a custom product importing findings that say "GuardDuty"
// in ProductName, CompanyName or aws/guardduty ProductFields is read as
// the product it is.
func isGuardDutyASFF(m map[string]any) bool {
	return isGuardDutyProductArn(str(m, "ProductArn"), false)
}

// parseASFF normalizes a Security Hub finding (docs/findings.md).
func parseASFF(m map[string]any) (*Finding, error) {
	f := &Finding{Source: SourceSecurityHub}
	f.ID = str(m, "Id")
	f.Title = str(m, "Title")
	f.Description = str(m, "Description")
	f.Account = str(m, "AwsAccountId")
	productArn := str(m, "ProductArn")
	resources := arr(m, "Resources")
	var first map[string]any
	if len(resources) > 0 {
		first, _ = resources[0].(map[string]any)
	}
	f.Region = firstNonEmpty(str(m, "Region"), str(first, "Region"), arnField(productArn, 3))
	f.Partition = firstNonEmpty(str(first, "Partition"), arnPartition(productArn))
	f.CreatedAt = normTime(m["CreatedAt"])
	f.UpdatedAt = normTime(m["UpdatedAt"])

	var err error
	if f.Severity, f.SeverityScore, err = asffSeverity(m); err != nil {
		return nil, err
	}

	gd := isGuardDutyASFF(m)
	if gd {
		// GuardDuty's own score, which its native form carries, so that
		// the native, ASFF and OCSF forms of a finding agree.
		if score, ok := guardDutyProductScore(
			pathStr(m, "Severity", "Product"),
			pathStr(m, "FindingProviderFields", "Severity", "Original"),
			pathStr(m, "Severity", "Original"),
		); ok {
			f.SeverityScore, f.Severity = score, GuardDutySeverity(score)
		}
	}
	types := arr(m, "Types")
	if gd {
		f.Type = guardDutyTypeOf(types, f.Title)
	}
	if f.Type == "" && len(types) > 0 {
		f.Type = asString(types[0])
	}

	rs := make([]Resource, 0, len(resources)+1)
	for _, e := range resources {
		if r, ok := e.(map[string]any); ok {
			rs = asffResource(rs, r)
		}
	}
	finishResources(f, rs)
	locateBackupResources(f)

	// GuardDuty's activity: in Action when the finding has it (the same
	// shape as GuardDuty's, in PascalCase), else flattened into
	// ProductFields ("aws/guardduty/service/action/…").
	f.Count = 1
	action := obj(m, "Action")
	if gd {
		pf := obj(m, "ProductFields")
		if action == nil {
			action = unflatten(pf, "aws/guardduty/service/action/")
		}
		if n, ok := asInt(pf["aws/guardduty/service/count"]); ok && n > 1 {
			f.Count = n
		}
	}
	if action != nil {
		f.Network, f.Actor = guardDutyActivity(action, nil, nil)
	}
	if f.Network == nil {
		f.Network = asffNetwork(obj(m, "Network"))
	}
	f.Actor = accessKeyActor(f.Actor, f.Resources)
	return f, nil
}

// asffSeverity reads Severity: the label, and the score Normalized/10
// (docs/findings.md), falling back to Product (on a 0–10 or 0–100 scale) and then
// to the middle of the label's range.
func asffSeverity(m map[string]any) (string, float64, error) {
	sev := obj(m, "Severity")
	label := strings.ToLower(str(sev, "Label"))
	if label == "" {
		label = strings.ToLower(pathStr(m, "FindingProviderFields", "Severity", "Label"))
	}
	if _, ok := SeverityRank(label); !ok {
		label = ""
	}
	score, ok := asFloat(sev["Normalized"])
	if ok {
		score /= 10
	} else if p, pok := asFloat(sev["Product"]); pok && p <= 100 {
		score, ok = p, true
		if p > 10 {
			score = p / 10
		}
	}
	switch {
	case !ok && label == "":
		return "", 0, errors.New("Security Hub finding: Severity has no Label, Normalized or Product")
	case !ok:
		score = labelScores[label]
	case label == "":
		label = asffLabel(score)
	}
	return label, clampScore(score), nil
}

// guardDutyProductScore reads GuardDuty's own severity score (on its 1–10
// scale) from the first of the values that holds one. Security Hub's
// Normalized (0–100) and Label are its own mapping of that score and can
// put a finding in another band than GuardDuty does (Product 2, "LOW",
// Normalized 40: score 4.0, which is GuardDuty's medium), so for a finding
// proven GuardDuty's, GuardDuty's number wins and its label is GuardDuty's
// band of that number.
func guardDutyProductScore(values ...string) (float64, bool) {
	for _, v := range values {
		if s, ok := asFloat(v); ok && s > 0 && s <= 10 {
			return s, true
		}
	}
	return 0, false
}

// labelScores is the score given to a label when the source has no number:
// the middle of the label's range on GuardDuty's scale (OCSF's severity_id
// maps the same way).
var labelScores = map[string]float64{
	SeverityInformational: 0,
	SeverityLow:           2.5,
	SeverityMedium:        5.5,
	SeverityHigh:          8.0,
	SeverityCritical:      9.5,
}

// asffLabel is Security Hub's label of a normalized score: 0 is
// informational, and the bands above follow GuardDuty's.
func asffLabel(score float64) string {
	if score <= 0 {
		return SeverityInformational
	}
	if score < 1 {
		return SeverityLow
	}
	return GuardDutySeverity(score)
}

// guardDutyTypeOf recovers GuardDuty's finding type from a Security Hub
// finding GuardDuty produced: Types holds it as
// "TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled" for
// "Stealth:IAMUser/CloudTrailLoggingDisabled", and a few titles are the
// type itself.
func guardDutyTypeOf(types []any, title string) string {
	for _, t := range types {
		s := asString(t)
		last := s[strings.LastIndexByte(s, '/')+1:]
		colon := strings.IndexByte(last, ':')
		if colon <= 0 {
			continue
		}
		dash := strings.IndexByte(last[colon:], '-')
		if dash <= 1 || !isWord(last[:colon]) || !isWord(last[colon+1:colon+dash]) {
			continue
		}
		return last[:colon+dash] + "/" + last[colon+dash+1:]
	}
	if looksLikeGuardDutyType(title) {
		return title
	}
	return ""
}

// looksLikeGuardDutyType matches "Purpose:ResourceType/Name…".
func looksLikeGuardDutyType(s string) bool {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	return colon > 0 && slash > colon+1 && !strings.ContainsAny(s, " \t") &&
		isWord(s[:colon]) && isWord(s[colon+1:slash])
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// unflatten rebuilds the nested object that Security Hub flattened into
// ProductFields keys under prefix: {"prefix/a/b": "v"} → {"a": {"b": "v"}}.
func unflatten(fields map[string]any, prefix string) map[string]any {
	var out map[string]any
	for k, v := range fields {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		node := out
		for {
			seg, tail, more := strings.Cut(rest, "/")
			if !more {
				if _, taken := node[seg].(map[string]any); !taken {
					node[seg] = v
				}
				break
			}
			child, ok := node[seg].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[seg] = child
			}
			node, rest = child, tail
		}
	}
	return out
}

// asffNetwork maps the Network object: Direction IN means the source is
// the remote end, OUT the destination.
func asffNetwork(nw map[string]any) *Network {
	if nw == nil {
		return nil
	}
	n := Network{Protocol: strings.ToUpper(str(nw, "Protocol"))}
	srcIP := firstNonEmpty(str(nw, "SourceIpV4"), str(nw, "SourceIpV6"))
	dstIP := firstNonEmpty(str(nw, "DestinationIpV4"), str(nw, "DestinationIpV6"))
	srcPort, dstPort := intField(nw, "SourcePort"), intField(nw, "DestinationPort")
	switch strings.ToUpper(str(nw, "Direction")) {
	case "OUT":
		n.Direction = "OUTBOUND"
		n.LocalIP, n.LocalPort, n.RemoteIP, n.RemotePort = srcIP, srcPort, dstIP, dstPort
		n.Domain = str(nw, "DestinationDomain")
	case "IN":
		n.Direction = "INBOUND"
		fallthrough
	default:
		n.RemoteIP, n.RemotePort, n.LocalIP, n.LocalPort = srcIP, srcPort, dstIP, dstPort
		n.Domain = str(nw, "SourceDomain")
	}
	if n == (Network{}) {
		return nil
	}
	return &n
}

// accessKeyActor completes the actor from the finding's access key
// resource, which says whose key acted, where the source's activity does
// not.
func accessKeyActor(a *Actor, rs []Resource) *Actor {
	for _, r := range rs {
		if r.Type != ResourceAccessKey {
			continue
		}
		if a == nil {
			a = &Actor{}
		}
		if a.AccessKeyID == "" {
			a.AccessKeyID = r.ID
		}
		if a.User == "" {
			a.User, _ = r.Details["user_name"].(string)
		}
		if a.Type == "" {
			a.Type, _ = r.Details["user_type"].(string)
		}
		break
	}
	return a
}

// asffResource appends one of Resources[], and for an access key the IAM
// user or role it belongs to.
func asffResource(rs []Resource, r map[string]any) []Resource {
	typ, id := str(r, "Type"), str(r, "Id")
	tfType := terraformType(typ)
	details := obj(r, "Details")
	d := obj(details, typ)
	if d == nil && typ == "Other" {
		d = obj(details, "Other")
	}
	if t, ok := otherBackupType(typ, id); ok {
		// ASFF has no type for a snapshot or an AMI: its ARN says what
		// it is. Its Other details have no fixed shape and stay in raw.
		tfType, d = t, nil
	}
	res := resourceFromID(tfType, id)
	tagsFrom(r["Tags"], res.Tags)
	principal, hasPrincipal := asffDetails(&res, typ, d)
	rs = append(rs, res)
	if hasPrincipal {
		rs = append(rs, principal)
	}
	return rs
}

// asffDetails fills res.Details from the resource's Details.<Type> object
// d (also used for OCSF resources that carry ASFF details). Types without a
// fixed mapping keep d's fields in snake_case. An access key also gives
// the IAM identity it belongs to.
func asffDetails(res *Resource, typ string, d map[string]any) (principal Resource, ok bool) {
	det := res.Details
	switch typ {
	case "AwsEc2Instance":
		setStr(det, "instance_id", res.ID)
		setStr(det, "image_id", str(d, "ImageId"))
		setStr(det, "instance_type", str(d, "Type"))
		setTime(det, "launch_time", d["LaunchedAt"])
		setStr(det, "subnet_id", str(d, "SubnetId"))
		setStr(det, "vpc_id", str(d, "VpcId"))
		setStr(det, "iam_instance_profile_arn", str(d, "IamInstanceProfileArn"))
		for _, ip := range arr(d, "IpV4Addresses") {
			s := asString(ip)
			if a, err := netip.ParseAddr(s); err == nil && (a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()) {
				setIfAbsent(det, "private_ip", s)
			} else if err == nil {
				setIfAbsent(det, "public_ip", s)
			}
		}
		var nis []any
		for _, e := range arr(d, "NetworkInterfaces") {
			if n, ok := e.(map[string]any); ok {
				if id := str(n, "NetworkInterfaceId"); id != "" {
					nis = append(nis, map[string]any{"id": id})
				}
			}
		}
		if nis != nil {
			det["network_interfaces"] = nis
		}
	case "AwsIamAccessKey":
		id := firstNonEmpty(str(d, "AccessKeyId"), res.ID)
		res.ID = id
		userName := firstNonEmpty(str(d, "PrincipalName"), str(d, "UserName"))
		userType, principalID := str(d, "PrincipalType"), str(d, "PrincipalId")
		setStr(det, "access_key_id", id)
		setStr(det, "principal_id", principalID)
		setStr(det, "user_name", userName)
		setStr(det, "user_type", userType)
		return principalResource(userType, userName, principalID)
	case "AwsIamUser":
		setStr(det, "user_name", firstNonEmpty(str(d, "UserName"), res.ID))
		setStr(det, "principal_id", str(d, "UserId"))
	case "AwsIamRole":
		setStr(det, "role_name", firstNonEmpty(str(d, "RoleName"), res.ID))
		setStr(det, "principal_id", str(d, "RoleId"))
	case "AwsS3Bucket":
		setStr(det, "name", res.ID)
		setStr(det, "arn", res.ARN)
		setTime(det, "created_at", d["CreatedAt"])
		setStr(det, "owner_id", str(d, "OwnerId"))
		if pab := obj(d, "PublicAccessBlockConfiguration"); pab != nil {
			det["public_access"] = map[string]any{"block_public_access": snakeCopy(pab)}
		}
		if rules := arr(pathObj(d, "ServerSideEncryptionConfiguration"), "Rules"); len(rules) > 0 {
			if rule, ok := rules[0].(map[string]any); ok {
				setStr(det, "encryption_type", pathStr(rule, "ApplyServerSideEncryptionByDefault", "SSEAlgorithm"))
			}
		}
	case "AwsEksCluster":
		if name := str(d, "Name"); name != "" {
			res.ID = name
		}
		setStr(det, "name", res.ID)
		setStr(det, "arn", firstNonEmpty(str(d, "Arn"), res.ARN))
		setStr(det, "status", str(d, "Status"))
	case "AwsLambdaFunction":
		if name := str(d, "FunctionName"); name != "" {
			res.ID = name
		}
		setStr(det, "function_name", res.ID)
		setStr(det, "function_arn", res.ARN)
		setStr(det, "runtime", str(d, "Runtime"))
		setStr(det, "role", str(d, "Role"))
		setTime(det, "last_modified_at", d["LastModified"])
	case "AwsRdsDbInstance":
		if ident := str(d, "DbInstanceIdentifier"); ident != "" {
			res.ID = ident
		}
		setStr(det, "db_instance_identifier", res.ID)
		setStr(det, "engine", str(d, "Engine"))
		setStr(det, "engine_version", str(d, "EngineVersion"))
		setStr(det, "db_cluster_identifier", str(d, "DbClusterIdentifier"))
		setStr(det, "arn", res.ARN)
	case "AwsEc2Volume":
		setStr(det, "volume_id", firstNonEmpty(str(d, "VolumeId"), res.ID))
		setStr(det, "device_name", str(d, "DeviceName"))
		if n, ok := asInt(d["Size"]); ok {
			det["size_gb"] = n
		}
		if b, ok := d["Encrypted"].(bool); ok {
			det["encrypted"] = b
		}
		setStr(det, "volume_type", str(d, "VolumeType"))
		setStr(det, "snapshot_id", str(d, "SnapshotId"))
	case "AwsEcsCluster":
		if name := str(d, "ClusterName"); name != "" {
			res.ID = name
		}
		setStr(det, "name", res.ID)
		setStr(det, "arn", firstNonEmpty(str(d, "ClusterArn"), res.ARN))
		setStr(det, "status", str(d, "Status"))
	case "Container":
		setStr(det, "name", str(d, "Name"))
		setStr(det, "image", str(d, "ImageName"))
		setStr(det, "image_id", str(d, "ImageId"))
		setStr(det, "container_runtime", str(d, "ContainerRuntime"))
	case "AwsAccount":
		setStr(det, "account_id", res.ID)
	case "AwsBackupRecoveryPoint":
		arn := firstNonEmpty(str(d, "RecoveryPointArn"), res.ARN)
		if res.ARN == "" && strings.HasPrefix(arn, "arn:") {
			// Known by an id in Resources: the ARN gives the full one.
			byARN := resourceFromID(ResourceBackupRecoveryPoint, arn)
			res.ID, res.ARN = byARN.ID, byARN.ARN
		}
		setStr(det, "arn", arn)
		setStr(det, "backup_vault_name", str(d, "BackupVaultName"))
		setStr(det, "backup_vault_arn", str(d, "BackupVaultArn"))
		setStr(det, "protected_resource_arn", str(d, "ResourceArn"))
		setStr(det, "protected_resource_type", str(d, "ResourceType"))
		setStr(det, "status", str(d, "Status"))
		setTime(det, "created_at", d["CreationDate"])
	default:
		for k, v := range d {
			det[snakeCase(k)] = snakeCopy(v)
		}
	}
	return Resource{}, false
}
