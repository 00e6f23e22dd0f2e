package schema

import "strings"

// internedKeys holds the object keys common in GuardDuty, Security Hub and
// OCSF findings. The decoder returns these strings for matching keys
// instead of allocating a new string per key: a GuardDuty finding has a
// few hundred keys, most of them from this list.
var internedKeys = func() map[string]string {
	keys := strings.Fields(commonKeys)
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = k
	}
	return m
}()

// commonKeys lists the keys of the sample findings in
// testdata/findings (GuardDuty keys in both camelCase and PascalCase)
// and a few more of the same formats.
const commonKeys = `
AccessControlList AccessKeyDetails AccessKeyId Account AccountId AccountLevelPermissions
Action ActionDescription ActionName ActionType Actor Actors AdditionalInfo
AffectedResources Affiliated AllowsPublicReadAccess AllowsPublicWriteAccess Api
Architecture Archived Arn Asn AsnOrg AvailabilityZone AwsAccountId AwsApiCallAction
AwsEc2Instance AwsEc2SecurityGroup AwsEc2Volume AwsEksCluster AwsIamAccessKey AwsIamRole
AwsIamUser AwsLambdaFunction AwsRdsDbInstance AwsS3Bucket BaseScore BaseVector
BlockPublicAccess BlockPublicAcls BlockPublicPolicy Blocked BucketLevelPermissions
BucketPolicy CallerType CidrIp City CityName Classifications Cloud CompanyName Compliance
Confidence ConnectionDirection ContainerDetails ContainerRuntime Containers Coordinates
Count Country CountryName CreatedAt Cve Cvss Data DbClusterIdentifier DbInstanceArn
DbInstanceIdentifier DefaultServerSideEncryption DefinitionArn Desc Description
DestinationDomain DestinationIpV4 DestinationPort Detail Details Detection DetectorId
Direction Disposition DnsRequestAction Domain DomainDetails DomainWithSuffix
EbsVolumeDetails EcsClusterDetails EffectivePermission EksClusterDetails EncryptionType
Endpoints Engine EngineVersion Epoch ErrorCode EventFirstSeen EventLastSeen Evidence
Evidences Extensions Feature FeatureName File Finding FindingProviderFields Findings
FirstObservedAt FunctionArn FunctionName FunctionVersion GeneratorId GeoLocation Group
GroupId GroupName Hostname IamInstanceProfile IamInstanceProfileArn Id IgnorePublicAcls
Image ImageDescription ImageId Impact InstanceDetails InstanceId InstanceState
InstanceType Ip IpAddressV4 IpAddressV6 IpPermissions IpPermissionsEgress IpProtocol
IpRanges IpV4Addresses Ipv6Addresses Isp Key KmsMasterKeyArn KubernetesApiCallAction
KubernetesDetails Label Labels LambdaDetails Lang LastModifiedAt LastObservedAt Lat
LaunchTime LaunchType LaunchedAt LocalIpDetails LocalPortDetails Location Lon Long Malware
Message Metadata Name Network NetworkConnectionAction NetworkInterfaceId NetworkInterfaces
Normalized Number Observables Operation Org Organization Original Os OutpostArn Owner
OwnerId Packages ParentPid Partition Path PermissionConfiguration Pid Platform Port
PortName PortProbeAction PortProbeDetails PrincipalId PrincipalName PrincipalType
PrivateDnsName PrivateIpAddress PrivateIpAddresses Process Product ProductArn
ProductCodeId ProductCodeType ProductCodes ProductFields ProductName Profiles Protocol
Provider PublicAccess PublicDnsName PublicIp Query RdsDbInstanceDetails RdsDbUserDetails
RdsLoginAttemptAction ReasonCode Recommendation RecordState ReferenceUrls References
Region RelatedFindings RelatedRequirements RelatedVulnerabilities Release Remediation
RemoteAccountDetails RemoteIpDetails RemotePortDetails Requirements Resource ResourceRole
ResourceType Resources RestrictPublicBuckets RevisionId Role RuntimeDetails
S3BucketDetails Sample SchemaVersion SecurityGroups Sequence SequenceIndicators Service
ServiceName Severity Signals Source SourceIpV4 SourcePort SourceUrl State Status
StatusReasons SubnetId Tags TaskDetails TerminatedAt Text ThreatIntelligenceDetails
ThreatListName ThreatNames Time Title Type Types Uid Unmapped UpdatedAt Url User UserAgent
UserId UserIdGroupPairs UserName UserType Value Vendor VendorCreatedAt VendorSeverity
VendorUpdatedAt Version VpcConfig VpcId Vulnerabilities VulnerablePackages Workflow
WorkflowState accessControlList accessKeyDetails accessKeyId account accountId
accountLevelPermissions account_uid action actionDescription actionName actionType
action_id activity_id activity_name actor actors additionalInfo affectedResources
affiliated allowsPublicReadAccess allowsPublicWriteAccess api architecture archived arn
asn asnOrg autonomous_system availabilityZone awsApiCallAction base_score
blockPublicAccess blockPublicAcls blockPublicPolicy blocked bucketLevelPermissions
bucketPolicy callerType category_name category_uid city cityName class_name class_uid
classification_ids classifications cloud cloud_partition compliance confidence
connectionDirection connection_info containerDetails containerRuntime containers
coordinates count country countryName createdAt created_time created_time_dt
credential_uid cve cvss data dbClusterIdentifier dbInstanceArn dbInstanceIdentifier
defaultServerSideEncryption definitionArn desc description detail detail-type details
detection detectorId direction_id disposition disposition_id dnsRequestAction domain
domainDetails domainWithSuffix dst_endpoint ebsVolumeDetails ecsClusterDetails
effectivePermission eksClusterDetails encryptionType endpoints engine engineVersion epoch
errorCode eventFirstSeen eventLastSeen event_code evidence evidences extensions feature
featureName file finding finding_info findings first_seen_time first_seen_time_dt
functionArn functionName functionVersion geoLocation group groupId groupName group_name
hostname iamInstanceProfile id ignorePublicAcls image imageDescription imageId impact
impact_id instanceDetails instanceId instanceState instanceType ip ipAddressV4 ipAddressV6
ipv6Addresses isp kb_articles key kmsMasterKeyArn kubernetesApiCallAction
kubernetesDetails labels lambdaDetails lang lastModifiedAt last_seen_time
last_seen_time_dt lat launchTime launchType localIpDetails localPortDetails location
log_version logged_time lon long malware message metadata modified_time modified_time_dt
name networkConnectionAction networkInterfaceId networkInterfaces number observables
operation org organization original_time os outpostArn owner packages parent_process
partition path permissionConfiguration pid platform port portName portProbeAction
portProbeDetails postal_code principalId privateDnsName privateIpAddress
privateIpAddresses process product productCodeId productCodeType productCodes product_uid
profiles protocol protocol_name provider publicAccess publicDnsName publicIp query
rdsDbInstanceDetails rdsDbUserDetails rdsLoginAttemptAction references region
related_events related_vulnerabilities release remediation remoteAccountDetails
remoteIpDetails remotePortDetails requirements resource resourceRole resourceType
resources restrictPublicBuckets revisionId risk_details role runtimeDetails
s3BucketDetails schemaVersion securityGroups sequence sequenceIndicators service
serviceName severity severity_id signals source src_endpoint src_url state state_id status
status_code status_detail status_id subnetId tags taskDetails tenant_uid terminated_time
threatIntelligenceDetails threatListName threatNames time time_dt timezone_offset title
type type_id type_name type_uid types uid unmapped updatedAt user userAgent userName
userType value vector_string vendor_name version vpcConfig vpcId vulnerabilities
`
