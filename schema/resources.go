package schema

import (
	"slices"
	"strings"
)

// More resource types, named as Terraform's AWS provider names them, and
// the two that have no Terraform resource.
const (
	ResourceECSCluster    = "aws_ecs_cluster"
	ResourceSecurityGroup = "aws_security_group"
	// ResourceAccount is an AWS account (Security Hub's AwsAccount), which
	// Terraform does not model as a resource.
	ResourceAccount = "aws_account"
	// ResourceContainer is a running container (GuardDuty Runtime
	// Monitoring), which Terraform does not model either.
	ResourceContainer = "container"

	// What Malware Protection for Backup scans: an EBS snapshot, an AMI
	// and an AWS Backup recovery point (which Terraform does not model:
	// the name follows its aws_backup_* resources).
	ResourceEBSSnapshot         = "aws_ebs_snapshot"
	ResourceAMI                 = "aws_ami"
	ResourceBackupRecoveryPoint = "aws_backup_recovery_point"
)

// detailKeys lists, per resource type, the resource.details keys the
// parsers fill (FACTS.md). A key is present only when the source has it.
var detailKeys = map[string][]string{
	ResourceInstance: {
		"instance_id", "image_id", "image_description", "instance_type", "instance_state",
		"availability_zone", "platform", "launch_time", "public_ip", "private_ip",
		"public_dns_name", "private_dns_name", "subnet_id", "vpc_id", "security_groups",
		"iam_instance_profile_arn", "iam_instance_profile_id", "network_interfaces",
		"container",
	},
	ResourceAccessKey:  {"access_key_id", "principal_id", "user_name", "user_type"},
	ResourceIAMUser:    {"user_name", "principal_id"},
	ResourceIAMRole:    {"role_name", "principal_id"},
	ResourceS3Bucket:   {"name", "arn", "created_at", "owner_id", "public_access", "encryption_type"},
	ResourceEKSCluster: {"name", "arn", "vpc_id", "status", "created_at", "container"},
	ResourceDBInstance: {"db_instance_identifier", "engine", "engine_version", "db_cluster_identifier", "arn"},
	ResourceLambda:     {"function_name", "function_arn", "runtime", "role", "last_modified_at"},
	ResourceEBSVolume:  {"volume_id", "device_name", "size_gb", "encrypted", "volume_type", "snapshot_id"},
	ResourceECSCluster: {"name", "arn", "status", "container"},
	ResourceContainer: {"id", "name", "image", "image_id", "image_prefix", "container_runtime",
		"privileged", "allow_privilege_escalation", "volume_mounts", "container"},
	ResourceECSTask: {"arn", "cluster", "cluster_arn", "definition_arn", "version", "group",
		"launch_type", "started_by", "started_at", "created_at", "containers"},
	ResourceECSService:            {"name", "cluster", "cluster_arn"},
	ResourceKubernetesPod:         kubernetesDetailKeys,
	ResourceKubernetesDeployment:  kubernetesDetailKeys,
	ResourceKubernetesDaemonSet:   kubernetesDetailKeys,
	ResourceKubernetesStatefulSet: kubernetesDetailKeys,
	ResourceKubernetesJob:         kubernetesDetailKeys,
	ResourceKubernetesCronJob:     kubernetesDetailKeys,
	ResourceKubernetesWorkload:    kubernetesDetailKeys,
	ResourceAccount:               {"account_id"},
	ResourceEBSSnapshot:           {"snapshot_id", "arn", "account_id", "region"},
	ResourceAMI:                   {"image_id", "arn", "account_id", "region"},
	ResourceBackupRecoveryPoint: {"arn", "backup_vault_name", "backup_vault_arn", "protected_resource_arn",
		"protected_resource_type", "status", "created_at", "continuous_scan_start_time",
		"continuous_scan_end_time", "account_id", "region"},
}

// kubernetesDetailKeys are the details of every Kubernetes workload type
// (runtime.go, kubernetesWorkload).
var kubernetesDetailKeys = []string{"name", "namespace", "uid", "workload_type", "service_account_name",
	"host_network", "host_ipc", "host_pid", "containers"}

// DetailKeys lists the known resource.details keys of a resource type
// (FACTS.md), so HCL conditions can see absent ones as null. Types without
// a fixed shape (their details are the source's fields in snake_case)
// give nil. The slice is the caller's.
func DetailKeys(resourceType string) []string {
	return slices.Clone(detailKeys[resourceType])
}

// resourceTypes maps the type names of Security Hub (ASFF, also used by
// OCSF producers) and CloudFormation (GuardDuty's affectedResources) to
// Terraform's. Types not listed keep the source's name.
var resourceTypes = map[string]string{
	"AwsEc2Instance":                   ResourceInstance,
	"AwsEc2Volume":                     ResourceEBSVolume,
	"AwsEc2SecurityGroup":              ResourceSecurityGroup,
	"AwsEc2NetworkInterface":           "aws_network_interface",
	"AwsEc2Vpc":                        "aws_vpc",
	"AwsEc2Subnet":                     "aws_subnet",
	"AwsEc2Eip":                        "aws_eip",
	"AwsEc2LaunchTemplate":             "aws_launch_template",
	"AwsIamAccessKey":                  ResourceAccessKey,
	"AwsIamUser":                       ResourceIAMUser,
	"AwsIamRole":                       ResourceIAMRole,
	"AwsIamPolicy":                     "aws_iam_policy",
	"AwsIamGroup":                      "aws_iam_group",
	"AwsS3Bucket":                      ResourceS3Bucket,
	"AwsS3Object":                      "aws_s3_object",
	"AwsEksCluster":                    ResourceEKSCluster,
	"AwsEcsCluster":                    ResourceECSCluster,
	"AwsEcsService":                    "aws_ecs_service",
	"AwsEcsTaskDefinition":             "aws_ecs_task_definition",
	"AwsEcrRepository":                 "aws_ecr_repository",
	"AwsLambdaFunction":                ResourceLambda,
	"AwsRdsDbInstance":                 ResourceDBInstance,
	"AwsRdsDbCluster":                  "aws_rds_cluster",
	"AwsKmsKey":                        "aws_kms_key",
	"AwsCertificateManagerCertificate": "aws_acm_certificate",
	"AwsCloudTrailTrail":               "aws_cloudtrail",
	"AwsSecretsManagerSecret":          "aws_secretsmanager_secret",
	"AwsSnsTopic":                      "aws_sns_topic",
	"AwsSqsQueue":                      "aws_sqs_queue",
	"AwsDynamoDbTable":                 "aws_dynamodb_table",
	"AwsAutoScalingAutoScalingGroup":   "aws_autoscaling_group",
	"AwsAccount":                       ResourceAccount,
	"AwsBackupRecoveryPoint":           ResourceBackupRecoveryPoint,
	"Container":                        ResourceContainer,

	"AWS::EC2::Instance":          ResourceInstance,
	"AWS::EC2::Volume":            ResourceEBSVolume,
	"AWS::EC2::SecurityGroup":     ResourceSecurityGroup,
	"AWS::EC2::NetworkInterface":  "aws_network_interface",
	"AWS::IAM::AccessKey":         ResourceAccessKey,
	"AWS::IAM::User":              ResourceIAMUser,
	"AWS::IAM::Role":              ResourceIAMRole,
	"AWS::IAM::Policy":            "aws_iam_policy",
	"AWS::S3::Bucket":             ResourceS3Bucket,
	"AWS::EKS::Cluster":           ResourceEKSCluster,
	"AWS::ECS::Cluster":           ResourceECSCluster,
	"AWS::Lambda::Function":       ResourceLambda,
	"AWS::RDS::DBInstance":        ResourceDBInstance,
	"AWS::KMS::Key":               "aws_kms_key",
	"AWS::CloudTrail::Trail":      "aws_cloudtrail",
	"AWS::SecretsManager::Secret": "aws_secretsmanager_secret",
	"AWS::Backup::RecoveryPoint":  ResourceBackupRecoveryPoint,
}

// terraformType returns the Terraform name of a source's resource type, or
// the source's name when there is none.
func terraformType(sourceType string) string {
	if t, ok := resourceTypes[sourceType]; ok {
		return t
	}
	return sourceType
}

// newResource returns a resource with empty (never nil) tags and details.
func newResource(typ, id, arn string) Resource {
	return Resource{Type: typ, ID: id, ARN: arn, Tags: map[string]string{}, Details: map[string]any{}}
}

// resourceFromID returns a resource of Terraform type typ known only by an
// identifier (an ARN or a natural id), with the details that identifier
// gives: an IAM role's role_name, a bucket's name and arn …
func resourceFromID(typ, rawID string) Resource {
	arn := ""
	if strings.HasPrefix(rawID, "arn:") {
		arn = rawID
	}
	r := newResource(typ, naturalID(rawID), arn)
	if r.ID == "" {
		return r
	}
	det := r.Details
	switch typ {
	case ResourceInstance:
		det["instance_id"] = r.ID
	case ResourceIAMUser:
		det["user_name"] = r.ID
	case ResourceIAMRole:
		det["role_name"] = r.ID
	case ResourceAccessKey:
		det["access_key_id"] = r.ID
	case ResourceS3Bucket, ResourceEKSCluster, ResourceECSCluster:
		det["name"] = r.ID
		setStr(det, "arn", arn)
	case ResourceDBInstance:
		det["db_instance_identifier"] = r.ID
		setStr(det, "arn", arn)
	case ResourceLambda:
		det["function_name"] = r.ID
		setStr(det, "function_arn", arn)
	case ResourceEBSVolume:
		det["volume_id"] = r.ID
	case ResourceAccount:
		det["account_id"] = r.ID
	case ResourceEBSSnapshot:
		det["snapshot_id"] = r.ID
		setStr(det, "arn", arn)
	case ResourceAMI:
		det["image_id"] = r.ID
		setStr(det, "arn", arn)
	case ResourceBackupRecoveryPoint:
		// An AWS Backup ARN's id is all after "recovery-point:", colons
		// included (a continuous backup's is "continuous:…"); an EBS or
		// EC2 recovery point in a standard vault is its snapshot's or
		// AMI's ARN, whose id naturalID gives.
		if res := arnField(arn, 5); arnField(arn, 2) == "backup" && strings.HasPrefix(res, "recovery-point:") && len(res) > len("recovery-point:") {
			r.ID = strings.TrimPrefix(res, "recovery-point:")
		}
		setStr(det, "arn", arn)
	}
	return r
}

// backupTypeFromARN gives the type of a resource Malware Protection for
// Backup scans from its ARN (arn:aws:ec2:REGION::snapshot/snap-…,
// …::image/ami-…, arn:aws:backup:REGION:ACCOUNT:recovery-point:…), for
// sources that type it only as "Other" or not at all.
func backupTypeFromARN(arn string) (string, bool) {
	res := arnField(arn, 5)
	switch arnField(arn, 2) {
	case "ec2":
		switch {
		case strings.HasPrefix(res, "snapshot/"):
			return ResourceEBSSnapshot, true
		case strings.HasPrefix(res, "image/"):
			return ResourceAMI, true
		}
	case "backup":
		if strings.HasPrefix(res, "recovery-point:") {
			return ResourceBackupRecoveryPoint, true
		}
	}
	return "", false
}

// otherBackupType gives the type of a resource that a Security Hub or OCSF
// finding types as "Other" (or not at all) when its id is the ARN of a
// snapshot, an AMI or a recovery point.
func otherBackupType(sourceType, id string) (string, bool) {
	if sourceType != "Other" && sourceType != "" {
		return "", false
	}
	return backupTypeFromARN(id)
}

// locateBackupResources gives each snapshot, AMI and recovery point of f
// the account and region it is in: its ARN's, else the finding's (an EBS
// snapshot's or an AMI's ARN has no account; the finding's is the
// account GuardDuty scanned it in).
func locateBackupResources(f *Finding) {
	for _, r := range f.Resources {
		switch r.Type {
		case ResourceEBSSnapshot, ResourceAMI, ResourceBackupRecoveryPoint:
			setIfAbsent(r.Details, "account_id", firstNonEmpty(arnField(r.ARN, 4), f.Account))
			setIfAbsent(r.Details, "region", firstNonEmpty(arnField(r.ARN, 3), f.Region))
		}
	}
}

// principalResource returns the IAM identity behind an access key: the
// user when the key is an IAM user's, the role when it is an assumed
// role's and the role is named (GuardDuty and Security Hub give the role
// name as the user name of an AssumedRole principal).
func principalResource(userType, userName, principalID string) (Resource, bool) {
	if userName == "" {
		return Resource{}, false
	}
	switch userType {
	case "IAMUser":
		r := newResource(ResourceIAMUser, userName, "")
		r.Details["user_name"] = userName
		setStr(r.Details, "principal_id", principalID)
		return r, true
	case "AssumedRole", "Role":
		// "Role" is how GuardDuty's EKS findings type a role's key.
		r := newResource(ResourceIAMRole, userName, "")
		r.Details["role_name"] = userName
		// An assumed role's principal id is "AROA…:session"; the role's
		// own id is the part before the colon.
		if i := strings.IndexByte(principalID, ':'); i > 0 {
			principalID = principalID[:i]
		}
		setStr(r.Details, "principal_id", principalID)
		return r, true
	}
	return Resource{}, false
}

// finishResources makes rs[0] the finding's primary resource (a resource
// with empty type and id when the source names none), gives every
// resource non-nil maps and drops repeats of a type and id.
func finishResources(f *Finding, rs []Resource) {
	if len(rs) == 0 {
		rs = append(rs, newResource("", "", ""))
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Tags == nil {
			r.Tags = map[string]string{}
		}
		if r.Details == nil {
			r.Details = map[string]any{}
		}
		dup := false
		if len(out) > 0 && (r.Type != "" || r.ID != "") {
			for _, o := range out {
				if o.Type == r.Type && o.ID == r.ID {
					dup = true
					break
				}
			}
		}
		if !dup {
			out = append(out, r)
		}
	}
	f.Resource = out[0]
	f.Resources = out
}

// snakeCopy returns a copy of decoded JSON with object keys in snake_case
// ("PermissionConfiguration" and "permissionConfiguration" both become
// "permission_configuration"): how details keep a source's fields that have
// no fixed mapping.
func snakeCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[snakeCase(k)] = snakeCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = snakeCopy(e)
		}
		return a
	}
	return v
}

// snakeCase converts camelCase and PascalCase to snake_case, keeping runs
// of capitals together ("VpcId" → "vpc_id", "KMSKeyArn" → "kms_key_arn").
func snakeCase(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				prev := s[i-1]
				nextLower := i+1 < len(s) && s[i+1] >= 'a' && s[i+1] <= 'z'
				if (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9') ||
					(prev >= 'A' && prev <= 'Z' && nextLower) {
					b.WriteByte('_')
				}
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
