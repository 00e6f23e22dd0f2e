package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Small findings of each format, as one line each.
const (
	gdCamel = `{"schemaVersion":"2.0","accountId":"111122223333","region":"us-west-2","partition":"aws","id":"f1",` +
		`"arn":"arn:aws:guardduty:us-west-2:111122223333:detector/d/finding/f1","type":"Backdoor:EC2/C&CActivity.B!DNS",` +
		`"resource":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0abc","instanceType":"t3.micro",` +
		`"launchTime":"2024-01-02T03:04:05.000Z","iamInstanceProfile":{"arn":"arn:aws:iam::111122223333:instance-profile/web","id":"AIPA1"},` +
		`"networkInterfaces":[{"networkInterfaceId":"eni-1","privateIpAddress":"10.0.0.5","publicIp":"203.0.113.7","subnetId":"subnet-1","vpcId":"vpc-1",` +
		`"securityGroups":[{"groupName":"web","groupId":"sg-1"},{"groupName":"ssh","groupId":"sg-2"}]},` +
		`{"networkInterfaceId":"eni-2","privateIpAddress":"10.0.1.5","securityGroups":[{"groupId":"sg-2"},{"groupId":"sg-3"}]}],` +
		`"tags":[{"key":"Name","value":"web-1"},{"key":"env","value":"prod"}],"instanceState":"running","imageId":"ami-1"}},` +
		`"service":{"serviceName":"guardduty","action":{"actionType":"DNS_REQUEST","dnsRequestAction":{"domain":"evil.example","protocol":"udp"}},` +
		`"count":4},"severity":8,"createdAt":"2024-05-01T10:00:00.000Z","updatedAt":"2024-05-02T10:00:00.5Z","title":"t","description":"d"}`

	gdPascal = `{"SchemaVersion":"2.0","AccountId":"111122223333","Region":"us-west-2","Partition":"aws","Id":"f1",` +
		`"Arn":"arn:aws:guardduty:us-west-2:111122223333:detector/d/finding/f1","Type":"Backdoor:EC2/C&CActivity.B!DNS",` +
		`"Resource":{"ResourceType":"Instance","InstanceDetails":{"InstanceId":"i-0abc","InstanceType":"t3.micro",` +
		`"LaunchTime":"2024-01-02T03:04:05.000Z","IamInstanceProfile":{"Arn":"arn:aws:iam::111122223333:instance-profile/web","Id":"AIPA1"},` +
		`"NetworkInterfaces":[{"NetworkInterfaceId":"eni-1","PrivateIpAddress":"10.0.0.5","PublicIp":"203.0.113.7","SubnetId":"subnet-1","VpcId":"vpc-1",` +
		`"SecurityGroups":[{"GroupName":"web","GroupId":"sg-1"},{"GroupName":"ssh","GroupId":"sg-2"}]},` +
		`{"NetworkInterfaceId":"eni-2","PrivateIpAddress":"10.0.1.5","SecurityGroups":[{"GroupId":"sg-2"},{"GroupId":"sg-3"}]}],` +
		`"Tags":[{"Key":"Name","Value":"web-1"},{"Key":"env","Value":"prod"}],"InstanceState":"running","ImageId":"ami-1"}},` +
		`"Service":{"ServiceName":"guardduty","Action":{"ActionType":"DNS_REQUEST","DnsRequestAction":{"Domain":"evil.example","Protocol":"udp"}},` +
		`"Count":4},"Severity":8,"CreatedAt":"2024-05-01T10:00:00.000Z","UpdatedAt":"2024-05-02T10:00:00.5Z","Title":"t","Description":"d"}`

	asffMin = `{"SchemaVersion":"2018-10-08","Id":"sh1","ProductArn":"arn:aws:securityhub:eu-west-1::product/aws/securityhub",` +
		`"GeneratorId":"g","AwsAccountId":"111122223333","Types":["Software and Configuration Checks/X"],` +
		`"CreatedAt":"2024-01-01T00:00:00Z","UpdatedAt":"2024-01-01T00:00:00Z","Severity":{"Label":"HIGH","Normalized":70},` +
		`"Title":"t","Description":"d","Resources":[{"Type":"AwsEc2Instance","Id":"arn:aws:ec2:eu-west-1:111122223333:instance/i-9",` +
		`"Partition":"aws","Region":"eu-west-1","Tags":{"team":"a"},"Details":{"AwsEc2Instance":{"Type":"m5.large",` +
		`"IpV4Addresses":["10.1.2.3","198.51.100.9"],"VpcId":"vpc-9","SubnetId":"subnet-9","LaunchedAt":"2023-01-01T00:00:00.000Z"}}}]}`

	ocsfMin = `{"class_uid":2004,"category_uid":2,"activity_id":1,"type_uid":200401,"severity_id":5,"time":1700000000000,` +
		`"finding_info":{"uid":"o1","title":"Crypto mining","types":["Mining"],"created_time":1700000000000},` +
		`"cloud":{"provider":"AWS","region":"us-east-1","account":{"uid":"111122223333"}},` +
		`"resources":[{"type":"AwsEc2Instance","uid":"arn:aws:ec2:us-east-1:111122223333:instance/i-7","labels":["env=prod"]}],` +
		`"src_endpoint":{"ip":"10.0.0.1","port":44312},"dst_endpoint":{"ip":"203.0.113.50","port":3333,"location":{"country":"NL"}},` +
		`"connection_info":{"direction_id":2,"protocol_name":"tcp"},"metadata":{"version":"1.1.0","product":{"name":"X"}}}`
)

// normalized renders findings for comparison, without Raw.
func normalized(t *testing.T, fs []*Finding) string {
	t.Helper()
	view := make([]goldenFinding, len(fs))
	for i, f := range fs {
		view[i] = goldenFinding{Finding: f}
	}
	b, err := json.MarshalIndent(view, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParse(t *testing.T, in string) []*Finding {
	t.Helper()
	fs, err := Parse("in.json", []byte(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return fs
}

func TestDetectFormats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		sources []string // one per finding
	}{
		{"GuardDuty camelCase", gdCamel, []string{"guardduty"}},
		{"GuardDuty PascalCase", gdPascal, []string{"guardduty"}},
		{"GuardDuty EventBridge event", `{"version":"0","id":"e","detail-type":"GuardDuty Finding","source":"aws.guardduty","account":"1","region":"us-west-2","detail":` + gdCamel + `}`, []string{"guardduty"}},
		{"GuardDuty partial event", `{"detail":` + gdCamel + `}`, []string{"guardduty"}},
		{"GuardDuty GetFindings response", `{"Findings":[` + gdPascal + `,` + gdPascal + `],"ResponseMetadata":{}}`, []string{"guardduty", "guardduty"}},
		{"GuardDuty API response", `{"findings":[` + gdCamel + `]}`, []string{"guardduty"}},
		{"ASFF", asffMin, []string{"securityhub"}},
		{"ASFF array", `[` + asffMin + `,` + asffMin + `]`, []string{"securityhub", "securityhub"}},
		{"ASFF BatchImportFindings body", `{"Findings":[` + asffMin + `]}`, []string{"securityhub"}},
		{"Security Hub Imported event", `{"detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","detail":{"findings":[` + asffMin + `,` + asffMin + `]}}`, []string{"securityhub", "securityhub"}},
		{"Security Hub Custom Action event", `{"detail-type":"Security Hub Findings - Custom Action","detail":{"actionName":"a","findings":[` + asffMin + `]}}`, []string{"securityhub"}},
		{"Security Hub empty event", `{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[]}}`, nil},
		{"OCSF 2004", ocsfMin, []string{"ocsf"}},
		{"OCSF 2001", strings.Replace(strings.Replace(ocsfMin, `"class_uid":2004`, `"class_uid":2001`, 1), `"finding_info"`, `"finding"`, 1), []string{"ocsf"}},
		{"mixed array", `[` + gdCamel + `,` + asffMin + `,` + ocsfMin + `,{"detail-type":"GuardDuty Finding","detail":` + gdPascal + `}]`, []string{"guardduty", "securityhub", "ocsf", "guardduty"}},
		{"NDJSON with blank lines", "\n" + gdCamel + "\n\n   \n" + asffMin + "\r\n" + ocsfMin + "\n\n", []string{"guardduty", "securityhub", "ocsf"}},
		{"empty array", `[]`, nil},
		{"stream of arrays", `[` + gdCamel + `]` + "\n" + `[` + asffMin + `]`, []string{"guardduty", "securityhub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := mustParse(t, tt.in)
			var got []string
			for _, f := range fs {
				got = append(got, f.Source)
				checkInvariants(t, f)
			}
			if !reflect.DeepEqual(got, tt.sources) {
				t.Errorf("sources = %v, want %v", got, tt.sources)
			}
		})
	}
}

// checkInvariants checks what every normalized finding promises.
func checkInvariants(t *testing.T, f *Finding) {
	t.Helper()
	if _, ok := SeverityRank(f.Severity); !ok {
		t.Errorf("finding %q: severity %q", f.ID, f.Severity)
	}
	if f.SeverityScore < 0 || f.SeverityScore > 10 {
		t.Errorf("finding %q: severity_score %v", f.ID, f.SeverityScore)
	}
	if f.Count < 1 {
		t.Errorf("finding %q: count %d", f.ID, f.Count)
	}
	if len(f.Resources) == 0 || !reflect.DeepEqual(f.Resources[0], f.Resource) {
		t.Errorf("finding %q: resources[0] is not the primary resource", f.ID)
	}
	for _, r := range f.Resources {
		if r.Tags == nil || r.Details == nil {
			t.Errorf("finding %q: resource %s/%s has nil tags or details", f.ID, r.Type, r.ID)
		}
	}
	if !json.Valid(f.Raw) {
		t.Errorf("finding %q: raw is not valid JSON", f.ID)
	}
	if f.decoded == nil {
		t.Errorf("finding %q: decoded raw not kept", f.ID)
	}
}

func TestGuardDutyNormalized(t *testing.T) {
	f := mustParse(t, gdCamel)[0]
	r := f.Resource
	if f.ID != "f1" || f.Type != "Backdoor:EC2/C&CActivity.B!DNS" || f.Severity != "high" || f.SeverityScore != 8 ||
		f.Account != "111122223333" || f.Region != "us-west-2" || f.Count != 4 ||
		f.CreatedAt != "2024-05-01T10:00:00Z" || f.UpdatedAt != "2024-05-02T10:00:00.5Z" {
		t.Errorf("finding = %+v", f)
	}
	if r.Type != ResourceInstance || r.ID != "i-0abc" || r.Tags["Name"] != "web-1" || r.Tags["env"] != "prod" {
		t.Errorf("resource = %+v", r)
	}
	d := r.Details
	if d["public_ip"] != "203.0.113.7" || d["private_ip"] != "10.0.0.5" || d["vpc_id"] != "vpc-1" ||
		d["iam_instance_profile_arn"] != "arn:aws:iam::111122223333:instance-profile/web" || d["launch_time"] != "2024-01-02T03:04:05Z" {
		t.Errorf("details = %v", d)
	}
	if sgs := d["security_groups"]; !reflect.DeepEqual(sgs, []string{"sg-1", "sg-2", "sg-3"}) {
		t.Errorf("security_groups = %v, want the union over ENIs in first-seen order", sgs)
	}
	if nis, _ := d["network_interfaces"].([]any); len(nis) != 2 {
		t.Errorf("network_interfaces = %v", d["network_interfaces"])
	}
	if f.Network == nil || f.Network.Domain != "evil.example" || f.Network.Protocol != "UDP" {
		t.Errorf("network = %+v", f.Network)
	}
	if f.Actor != nil {
		t.Errorf("actor = %+v, want none", f.Actor)
	}
}

// TestPascalCaseMatchesCamelCase: a boto3 export and the API's JSON of the
// same finding normalize alike.
func TestPascalCaseMatchesCamelCase(t *testing.T) {
	camel, pascal := mustParse(t, gdCamel), mustParse(t, gdPascal)
	if a, b := normalized(t, camel), normalized(t, pascal); a != b {
		t.Errorf("camelCase and PascalCase differ:\n%s\n---\n%s", a, b)
	}
}

func TestSecurityHubNormalized(t *testing.T) {
	f := mustParse(t, asffMin)[0]
	if f.Source != "securityhub" || f.Severity != "high" || f.SeverityScore != 7 || f.Type != "Software and Configuration Checks/X" ||
		f.Region != "eu-west-1" || f.Partition != "aws" {
		t.Errorf("finding = %+v", f)
	}
	r := f.Resource
	if r.Type != ResourceInstance || r.ID != "i-9" || r.ARN != "arn:aws:ec2:eu-west-1:111122223333:instance/i-9" || r.Tags["team"] != "a" {
		t.Errorf("resource = %+v", r)
	}
	want := map[string]any{"instance_id": "i-9", "instance_type": "m5.large", "private_ip": "10.1.2.3", "public_ip": "198.51.100.9",
		"vpc_id": "vpc-9", "subnet_id": "subnet-9", "launch_time": "2023-01-01T00:00:00Z"}
	if !reflect.DeepEqual(r.Details, want) {
		t.Errorf("details = %v, want %v", r.Details, want)
	}
}

func TestSecurityHubSeverity(t *testing.T) {
	tests := []struct {
		severity  string
		wantLabel string
		wantScore float64
	}{
		{`{"Label":"CRITICAL","Normalized":90}`, "critical", 9},
		{`{"Label":"LOW","Normalized":40}`, "low", 4}, // the contract: Normalized/10, even when the label disagrees
		{`{"Label":"MEDIUM","Product":5}`, "medium", 5},
		{`{"Label":"MEDIUM","Product":40}`, "medium", 4},
		{`{"Label":"HIGH"}`, "high", 8},
		{`{"Label":"INFORMATIONAL"}`, "informational", 0},
		{`{"Normalized":0}`, "informational", 0},
		{`{"Normalized":5}`, "low", 0.5},
		{`{"Normalized":75}`, "high", 7.5},
		{`{"Label":"bogus","Normalized":95}`, "critical", 9.5},
	}
	for _, tt := range tests {
		in := strings.Replace(asffMin, `{"Label":"HIGH","Normalized":70}`, tt.severity, 1)
		f := mustParse(t, in)[0]
		if f.Severity != tt.wantLabel || f.SeverityScore != tt.wantScore {
			t.Errorf("Severity %s → %s %v, want %s %v", tt.severity, f.Severity, f.SeverityScore, tt.wantLabel, tt.wantScore)
		}
	}
}

func TestOCSFNormalized(t *testing.T) {
	f := mustParse(t, ocsfMin)[0]
	if f.ID != "o1" || f.Type != "Mining" || f.Severity != "critical" || f.SeverityScore != 9.5 ||
		f.Account != "111122223333" || f.Region != "us-east-1" || f.CreatedAt != "2023-11-14T22:13:20Z" {
		t.Errorf("finding = %+v", f)
	}
	if f.Resource.Type != ResourceInstance || f.Resource.ID != "i-7" || f.Resource.Tags["env"] != "prod" {
		t.Errorf("resource = %+v", f.Resource)
	}
	want := Network{Direction: "OUTBOUND", Protocol: "TCP", LocalIP: "10.0.0.1", LocalPort: 44312, RemoteIP: "203.0.113.50", RemotePort: 3333, RemoteCountry: "NL"}
	if f.Network == nil || *f.Network != want {
		t.Errorf("network = %+v, want %+v", f.Network, want)
	}
}

func TestOCSFSeverity(t *testing.T) {
	tests := []struct {
		id, caption string
		wantLabel   string
		wantScore   float64
	}{
		{"0", `"Unknown"`, "informational", 0},
		{"1", `"Informational"`, "informational", 0},
		{"2", `"Low"`, "low", 2.5},
		{"3", `"Medium"`, "medium", 5.5},
		{"4", `"High"`, "high", 8},
		{"5", `"Critical"`, "critical", 9.5},
		{"6", `"Fatal"`, "critical", 10},
		{"99", `"High"`, "high", 8},
		{"99", `"Other"`, "informational", 0},
	}
	for _, tt := range tests {
		in := strings.Replace(ocsfMin, `"severity_id":5`, `"severity_id":`+tt.id+`,"severity":`+tt.caption, 1)
		f := mustParse(t, in)[0]
		if f.Severity != tt.wantLabel || f.SeverityScore != tt.wantScore {
			t.Errorf("severity_id %s %s → %s %v, want %s %v", tt.id, tt.caption, f.Severity, f.SeverityScore, tt.wantLabel, tt.wantScore)
		}
	}
}

func TestGuardDutySeverityBoundaries(t *testing.T) {
	tests := []struct {
		score     string
		wantLabel string
		wantScore float64
	}{
		{"0", "informational", 0},
		{"1", "low", 1},
		{"3.9", "low", 3.9},
		{"4.0", "medium", 4},
		{"6.9", "medium", 6.9},
		{"7.0", "high", 7},
		{"8.9", "high", 8.9},
		{"9.0", "critical", 9},
		{"10", "critical", 10},
		{"12", "critical", 10}, // out of range: clamped
		{"-1", "informational", 0},
	}
	for _, tt := range tests {
		in := strings.Replace(gdCamel, `"severity":8`, `"severity":`+tt.score, 1)
		f := mustParse(t, in)[0]
		if f.Severity != tt.wantLabel || f.SeverityScore != tt.wantScore {
			t.Errorf("severity %s → %s %v, want %s %v", tt.score, f.Severity, f.SeverityScore, tt.wantLabel, tt.wantScore)
		}
	}
}

func TestResourceMapping(t *testing.T) {
	gd := func(resource, action string) string {
		return `{"accountId":"1","region":"us-east-1","id":"x","type":"T:X/Y","severity":5,"resource":` + resource +
			`,"service":{"serviceName":"guardduty","action":` + action + `}}`
	}
	tests := []struct {
		name string
		in   string
		want []string // type/id of each resource, primary first
	}{
		{"access key of an IAM user", gd(`{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"AKIA1","principalId":"AIDA1","userType":"IAMUser","userName":"alice"}}`, `{}`),
			[]string{"aws_iam_access_key/AKIA1", "aws_iam_user/alice"}},
		{"access key of an assumed role", gd(`{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"ASIA1","principalId":"AROA1:sess","userType":"AssumedRole","userName":"deploy"}}`, `{}`),
			[]string{"aws_iam_access_key/ASIA1", "aws_iam_role/deploy"}},
		{"root access key", gd(`{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"AKIAR","userType":"Root","userName":"root"}}`, `{}`),
			[]string{"aws_iam_access_key/AKIAR"}},
		{"buckets, key and instance", gd(`{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"b1","arn":"arn:aws:s3:::b1"},{"arn":"arn:aws:s3:::b2"}],`+
			`"accessKeyDetails":{"accessKeyId":"AKIA1","userType":"IAMUser","userName":"alice"},"instanceDetails":{"instanceId":"i-1"}}`, `{}`),
			[]string{"aws_s3_bucket/b1", "aws_s3_bucket/b2", "aws_instance/i-1", "aws_iam_access_key/AKIA1", "aws_iam_user/alice"}},
		{"EKS cluster", gd(`{"resourceType":"EKSCluster","eksClusterDetails":{"name":"prod","arn":"arn:aws:eks:us-east-1:1:cluster/prod","vpcId":"vpc-1","status":"ACTIVE"}}`, `{}`),
			[]string{"aws_eks_cluster/prod"}},
		{"RDS instance", gd(`{"resourceType":"RDSDBInstance","rdsDbInstanceDetails":{"dbInstanceIdentifier":"db1","engine":"aurora-mysql","dbInstanceArn":"arn:aws:rds:us-east-1:1:db:db1"}}`, `{}`),
			[]string{"aws_db_instance/db1"}},
		{"Lambda function", gd(`{"resourceType":"Lambda","lambdaDetails":{"functionName":"fn","functionArn":"arn:aws:lambda:us-east-1:1:function:fn","role":"arn:aws:iam::1:role/r"}}`, `{}`),
			[]string{"aws_lambda_function/fn"}},
		{"ECS cluster and container", gd(`{"resourceType":"ECSCluster","ecsClusterDetails":{"name":"c","arn":"arn:aws:ecs:us-east-1:1:cluster/c"},"containerDetails":{"id":"abc","image":"nginx"}}`, `{}`),
			[]string{"aws_ecs_cluster/c", "container/abc"}},
		{"container on an instance", gd(`{"resourceType":"Container","containerDetails":{"id":"abc","name":"web"},"instanceDetails":{"instanceId":"i-2"}}`, `{}`),
			[]string{"aws_instance/i-2", "container/abc"}},
		{"no resource block: affected resources", `{"id":"x","type":"T:X/Y","severity":5,"service":{"serviceName":"guardduty","action":{"actionType":"AWS_API_CALL",` +
			`"awsApiCallAction":{"affectedResources":{"AWS::S3::Bucket":"b1","AWS::IAM::Role":"arn:aws:iam::1:role/path/r1"}}}}}`,
			[]string{"aws_iam_role/r1", "aws_s3_bucket/b1"}},
		{"no resource at all", `{"id":"x","type":"T:X/Y","severity":5,"service":{"serviceName":"guardduty"}}`, []string{"/"}},
		{"attack sequence with resources", gd(`{"resourceType":"AttackSequence"}`, `{}`)[:len(gd(`{"resourceType":"AttackSequence"}`, `{}`))-2] +
			`,"detection":{"sequence":{"resources":[{"uid":"AKIA9","resourceType":"ACCESS_KEY"},{"uid":"arn:aws:s3:::loot","name":"loot","resourceType":"S3_BUCKET"}]}}}}`,
			[]string{"aws_iam_access_key/AKIA9", "aws_s3_bucket/loot"}},
		{"attack sequence without resources", gd(`{"resourceType":"AttackSequence"}`, `{}`), []string{"/"}},
		{"unknown resource type", gd(`{"resourceType":"SomethingNew"}`, `{}`), []string{"/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			checkInvariants(t, f)
			var got []string
			for _, r := range f.Resources {
				got = append(got, r.Type+"/"+r.ID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resources = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestActivity(t *testing.T) {
	gd := func(action, accessKey string) string {
		return `{"id":"x","type":"T:X/Y","severity":5,"resource":{"resourceType":"AccessKey","accessKeyDetails":` + accessKey +
			`},"service":{"serviceName":"guardduty","action":` + action + `}}`
	}
	key := `{"accessKeyId":"AKIA1","userType":"IAMUser","userName":"alice"}`
	tests := []struct {
		name      string
		in        string
		wantNet   *Network
		wantActor *Actor
	}{
		{"API call", gd(`{"actionType":"AWS_API_CALL","awsApiCallAction":{"api":"ListBuckets","remoteIpDetails":{"ipAddressV4":"198.51.100.1","country":{"countryName":"France"}}}}`, key),
			&Network{RemoteIP: "198.51.100.1", RemoteCountry: "France"},
			&Actor{Type: "IAMUser", User: "alice", AccessKeyID: "AKIA1", IP: "198.51.100.1"}},
		{"port probe", gd(`{"actionType":"PORT_PROBE","portProbeAction":{"portProbeDetails":[{"localPortDetails":{"port":22},"localIpDetails":{"ipAddressV4":"10.0.0.1"},"remoteIpDetails":{"ipAddressV4":"198.51.100.2"}},{"localPortDetails":{"port":80}}]}}`, `{}`),
			&Network{Direction: "INBOUND", LocalIP: "10.0.0.1", LocalPort: 22, RemoteIP: "198.51.100.2"}, nil},
		{"network connection", gd(`{"actionType":"NETWORK_CONNECTION","networkConnectionAction":{"connectionDirection":"OUTBOUND","protocol":"TCP","localPortDetails":{"port":"40000"},"remotePortDetails":{"port":3333},"remoteIpDetails":{"ipAddressV6":"2001:db8::1"}}}`, `{}`),
			&Network{Direction: "OUTBOUND", Protocol: "TCP", LocalPort: 40000, RemoteIP: "2001:db8::1", RemotePort: 3333}, nil},
		{"action type disagrees with blocks", gd(`{"actionType":"DNS_REQUEST","awsApiCallAction":{"remoteIpDetails":{"ipAddressV4":"1.1.1.1"}}}`, `{}`), nil, nil},
		{"no action", gd(`{}`, key), nil, &Actor{Type: "IAMUser", User: "alice", AccessKeyID: "AKIA1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			if !reflect.DeepEqual(f.Network, tt.wantNet) {
				t.Errorf("network = %+v, want %+v", f.Network, tt.wantNet)
			}
			if !reflect.DeepEqual(f.Actor, tt.wantActor) {
				t.Errorf("actor = %+v, want %+v", f.Actor, tt.wantActor)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	accepted := "accepted: GuardDuty finding"
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		{"empty file", ``, []string{"in.json: empty file"}},
		{"whitespace only", " \n\t\n", []string{"in.json: file holds only whitespace"}},
		{"syntax error", "{\n  \"a\": 1,\n  \"b\" 2\n}", []string{"in.json:3:7: record 1: invalid JSON: invalid character '2' after object key"}},
		{"syntax error in array element", "[\n" + gdCamel + ",\n {\"a\": tru }\n]", []string{"in.json:3:11: record 2: invalid JSON: invalid character ' ' in literal true"}},
		{"syntax error in NDJSON", gdCamel + "\n" + gdCamel + "\n{oops}\n", []string{"in.json:3:2: record 3: invalid JSON"}},
		{"truncated array", "[\n" + gdCamel + ",\n" + gdCamel[:100], []string{"in.json:3:101: record 2: truncated file", "the array opened at line 1, column 1 is not closed"}},
		{"truncated after element", "[" + gdCamel + ",", []string{"truncated file", "the array opened at line 1, column 1 is not closed"}},
		{"truncated object", `{"a": {"b": 1}`, []string{"in.json:1:15: record 1: truncated file: unexpected end of file in the value that starts at line 1, column 1"}},
		{"array missing comma", `[{"a":1} {"b":2}]`, []string{"in.json:1:10: record 1: invalid JSON: invalid character '{' after array element"}},
		{"CloudTrail record", `{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{}}`, []string{"record 1: this is a CloudTrail event record, not a finding; " + accepted}},
		{"CloudTrail log file", `{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"CreateUser"}]}`, []string{`CloudTrail log file ("Records")`}},
		{"CloudTrail EventBridge event", `{"detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"s3.amazonaws.com","eventName":"PutObject"}}`, []string{"CloudTrail record, not a finding"}},
		{"GCP SCC", `{"notificationConfigName":"n","finding":{"name":"organizations/1/sources/2/findings/3","parent":"organizations/1/sources/2","resourceName":"//x","category":"C2: Bad IP"}}`, []string{"Google Cloud Security Command Center finding", accepted}},
		{"Azure alert", `{"id":"/subscriptions/x","type":"Microsoft.Security/Locations/alerts","properties":{"alertDisplayName":"x"}}`, []string{"Microsoft Defender for Cloud", accepted}},
		{"OCSF of another class", `{"class_uid":3002,"class_name":"Authentication","severity_id":1,"metadata":{}}`, []string{"this is an OCSF Authentication event (class_uid 3002), not a finding"}},
		{"unknown object", `{"hello":"world"}`, []string{"in.json:1:1: record 1: unrecognized finding format; " + accepted}},
		{"scalar", `42`, []string{"record 1: a JSON number is not a finding"}},
		{"array of strings", `["a"]`, []string{"in.json:1:2: record 1: a JSON string is not a finding"}},
		{"bad element of mixed array", "[\n" + gdCamel + ",\n {\"x\":1}\n]", []string{"in.json:3:2: record 2: unrecognized finding format"}},
		{"unknown EventBridge event", `{"detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}`, []string{`this is an EventBridge "EC2 Instance State-change Notification" event, not a finding`}},
		{"GuardDuty event without a finding", `{"detail-type":"GuardDuty Finding","detail":{"x":1}}`, []string{`detail: the "GuardDuty Finding" event's detail is not a GuardDuty finding`}},
		{"Security Hub event with a bad finding", `{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[` + asffMin + `,{"x":1}]}}`, []string{"detail.findings[1]: not a Security Hub (ASFF) finding"}},
		{"Security Hub event without findings", `{"detail-type":"Security Hub Findings - Imported","detail":{}}`, []string{"has no detail.findings list"}},
		{"bad element of a Findings file", `{"Findings":[` + asffMin + `,{"x":1}],"NextToken":"t"}`, []string{"in.json:1:" + strconv.Itoa(len(asffMin)+15) + ": record 2: unrecognized finding format"}},
		{"bad element of a nested Findings list", `[{"Findings":[` + asffMin + `,{"x":1}]}]`, []string{"in.json:1:2: record 1: Findings[1]: unrecognized finding format"}},
		{"GuardDuty without severity", strings.Replace(gdCamel, `"severity":8`, `"severity":"high"`, 1), []string{"GuardDuty finding: severity is missing or not a number"}},
		{"ASFF without severity", strings.Replace(asffMin, `"Severity":{"Label":"HIGH","Normalized":70}`, `"Severity":{}`, 1), []string{"Severity has no Label, Normalized or Product"}},
		{"OCSF without severity", strings.Replace(ocsfMin, `"severity_id":5,`, ``, 1), []string{"OCSF finding: severity_id is missing"}},
		{"nested too deep", `[[[[[[` + gdCamel + `]]]]]]`, []string{"nested too deep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("in.json", []byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseErrorFormat(t *testing.T) {
	tests := []struct {
		e    ParseError
		want string
	}{
		{ParseError{File: "f.json", Line: 3, Column: 7, Record: 2, Reason: "bad"}, "f.json:3:7: record 2: bad"},
		{ParseError{File: "f.json", Line: 3, Record: 2, Reason: "bad"}, "f.json:3: record 2: bad"},
		{ParseError{File: "f.json", Record: 2, Reason: "bad"}, "f.json: record 2: bad"},
		{ParseError{File: "f.json", Line: 1, Column: 1, Reason: "bad"}, "f.json:1:1: bad"},
		{ParseError{File: "f.json", Column: 4, Reason: "bad"}, "f.json: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestSplitRecords(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Record // Raw as text
	}{
		{"single object", ` {"a":1} `, []Record{{0, 1, 2, []byte(`{"a":1}`), nil}}},
		{"array", "[\n  {\"a\":1},\n  {\"b\":\n 2}\n]", []Record{{0, 2, 3, []byte(`{"a":1}`), nil}, {1, 3, 3, []byte("{\"b\":\n 2}"), nil}}},
		{"NDJSON", "{\"a\":1}\n\n{\"b\":2}\r\n  {\"c\":3}", []Record{{0, 1, 1, []byte(`{"a":1}`), nil}, {1, 3, 1, []byte(`{"b":2}`), nil}, {2, 4, 3, []byte(`{"c":3}`), nil}}},
		{"BOM", "\xef\xbb\xbf{\"a\":1}", []Record{{0, 1, 1, []byte(`{"a":1}`), nil}}},
		{"empty array", `[ ]`, nil},
		// A top-level array's elements are records wherever it is, so a
		// stream of arrays is split as it is read.
		{"array then object", "[1]\n{}", []Record{{0, 1, 2, []byte(`1`), nil}, {1, 2, 1, []byte(`{}`), nil}}},
		{"NDJSON of arrays", "[1,2]\n[3]", []Record{{0, 1, 2, []byte(`1`), nil}, {1, 1, 4, []byte(`2`), nil}, {2, 2, 2, []byte(`3`), nil}}},
		{"Findings list", "{\"ResponseMetadata\":{},\"Findings\":[\n {\"a\":1},\n {\"b\":2}],\"NextToken\":\"t\"}", []Record{{0, 2, 2, []byte(`{"a":1}`), nil}, {1, 3, 2, []byte(`{"b":2}`), nil}}},
		{"findings list", `{"findings":[]}`, nil},
		{"object with findings and more", `{"findings":[{"a":1}],"other":1}`, []Record{{0, 1, 1, []byte(`{"findings":[{"a":1}],"other":1}`), nil}}},
		{"Findings not a list", `{"Findings":{}}`, []Record{{0, 1, 1, []byte(`{"Findings":{}}`), nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitRecords("in.json", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Index != w.Index || g.Line != w.Line || g.Column != w.Column || string(g.Raw) != string(w.Raw) {
					t.Errorf("record %d = {%d %d %d %q}, want {%d %d %d %q}", i, g.Index, g.Line, g.Column, g.Raw, w.Index, w.Line, w.Column, w.Raw)
				}
			}
		})
	}
}

// TestRawIsTheInput checks each finding's raw is its own JSON from the
// input, compacted, and that NDJSON lines are not copied.
func TestRawIsTheInput(t *testing.T) {
	compact := func(s string) string {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(s)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	pretty := func(s string) string {
		var b bytes.Buffer
		if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	fs := mustParse(t, "["+pretty(gdCamel)+",\n"+pretty(asffMin)+"]")
	if string(fs[0].Raw) != gdCamel || string(fs[1].Raw) != asffMin {
		t.Errorf("raw of array elements:\n%s\n%s", fs[0].Raw, fs[1].Raw)
	}

	event := pretty(`{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[` + asffMin + `,` + asffMin + `]}}`)
	fs = mustParse(t, event)
	if len(fs) != 2 || string(fs[1].Raw) != asffMin {
		t.Errorf("raw of an event's finding: %s", fs[1].Raw)
	}
	fs = mustParse(t, `{"detail-type":"GuardDuty Finding","region":"us-west-2", "detail": `+gdCamel+` }`)
	if string(fs[0].Raw) != gdCamel {
		t.Errorf("raw of a GuardDuty event: %s", fs[0].Raw)
	}

	// Escapes and number spellings are kept as they were.
	odd := strings.Replace(gdCamel, `"title":"t"`, `"title":"caf\u00e9 \"x\""`, 1)
	odd = strings.Replace(odd, `"severity":8`, `"severity":8.0E0`, 1)
	fs = mustParse(t, pretty(odd))
	if string(fs[0].Raw) != compact(odd) || fs[0].Title != `café "x"` {
		t.Errorf("raw = %s", fs[0].Raw)
	}

	data := []byte(gdCamel + "\n" + gdCamel + "\n")
	recs, err := SplitRecords("in.ndjson", data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseRecord("in.ndjson", recs[1])
	if err != nil {
		t.Fatal(err)
	}
	if &f[0].Raw[0] != &data[len(gdCamel)+1] {
		t.Error("raw of an NDJSON line is a copy, not the line itself")
	}
	if f[0].Decoded() == nil || f[0].decoded == nil {
		t.Error("the decoded raw finding is not kept")
	}
	if m, _ := f[0].Decoded().(map[string]any); m["id"] != "f1" {
		t.Errorf("Decoded() = %v", f[0].Decoded())
	}
}

func TestParseRecordSyntaxErrorPosition(t *testing.T) {
	rec := Record{Index: 4, Line: 10, Column: 5, Raw: []byte("{\"a\":1,\n \"b\" 2}")}
	_, err := ParseRecord("f.json", rec)
	if err == nil || err.Error() != "f.json:11:6: record 5: invalid JSON: invalid character '2' after object key" {
		t.Errorf("error = %v", err)
	}
	rec.Raw = []byte(`{"a" 1}`)
	_, err = ParseRecord("f.json", rec)
	if err == nil || err.Error() != "f.json:10:10: record 5: invalid JSON: invalid character '1' after object key" {
		t.Errorf("error = %v", err)
	}
	_, err = ParseRecord("f.json", Record{Raw: []byte(`{"a":`)})
	if err == nil || !strings.Contains(err.Error(), "f.json: record 1: truncated record") {
		t.Errorf("error = %v", err)
	}
}

func TestNormTime(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"2017-10-31T23:16:23.824Z", "2017-10-31T23:16:23.824Z"},
		{"2023-09-19T11:05:22.487-04:00", "2023-09-19T15:05:22.487Z"},
		{"2025-02-25 20:40:06.721", "2025-02-25T20:40:06.721Z"},
		{"2023-01-03 01:52:07.000000000", "2023-01-03T01:52:07Z"},
		{"2021-08-09 09:42:27.926000+00:00", "2021-08-09T09:42:27.926Z"},
		{"2024-10-04T09:49:02.698985", "2024-10-04T09:49:02.698985Z"},
		{json.Number("1492735675000"), "2017-04-21T00:47:55Z"},
		{json.Number("1513612691.551"), "2017-12-18T15:58:11.551Z"},
		{json.Number("1728049742"), "2024-10-04T13:49:02Z"},
		{json.Number("0"), ""},
		{json.Number("1e300"), ""},
		{"yesterday", ""},
		{nil, ""},
		{true, ""},
	}
	for _, tt := range tests {
		if got := normTime(tt.in); got != tt.want {
			t.Errorf("normTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNaturalID(t *testing.T) {
	tests := map[string]string{
		"arn:aws:ec2:us-east-1:1:instance/i-0abc":  "i-0abc",
		"arn:aws:s3:::my-bucket":                   "my-bucket",
		"arn:aws:s3:::my-bucket/key/x":             "my-bucket/key/x",
		"arn:aws:iam::1:user/path/alice":           "alice",
		"arn:aws:lambda:us-east-1:1:function:fn:3": "fn",
		"arn:aws:rds:us-east-1:1:db:db1":           "db1",
		"arn:aws:eks:us-east-1:1:cluster/prod":     "prod",
		"AWS::IAM::AccessKey:ASIATMJPC7EXAMPLE":    "ASIATMJPC7EXAMPLE",
		"AWS::::Account:111111111111":              "111111111111",
		"i-0abc":                                   "i-0abc",
		"arn:aws:sns:us-east-1:1:topic":            "topic",
		"arn:broken":                               "arn:broken",
		"":                                         "",
	}
	for in, want := range tests {
		if got := naturalID(in); got != want {
			t.Errorf("naturalID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecurityHubResources(t *testing.T) {
	asff := func(resources string) string {
		return strings.Replace(asffMin, asffMin[strings.Index(asffMin, `"Resources":`):len(asffMin)-1], `"Resources":`+resources, 1)
	}
	tests := []struct {
		name     string
		resource string
		want     []string // type/id
		details  map[string]any
	}{
		{"IAM user", `{"Type":"AwsIamUser","Id":"arn:aws:iam::1:user/alice","Details":{"AwsIamUser":{"UserName":"alice","UserId":"AIDA1"}}}`,
			[]string{"aws_iam_user/alice"}, map[string]any{"user_name": "alice", "principal_id": "AIDA1"}},
		{"IAM role", `{"Type":"AwsIamRole","Id":"arn:aws:iam::1:role/svc/deploy"}`,
			[]string{"aws_iam_role/deploy"}, map[string]any{"role_name": "deploy"}},
		{"IAM access key of a user", `{"Type":"AwsIamAccessKey","Id":"AWS::IAM::AccessKey:AKIA1","Details":{"AwsIamAccessKey":{"PrincipalName":"bob","PrincipalType":"IAMUser","PrincipalId":"AIDA2"}}}`,
			[]string{"aws_iam_access_key/AKIA1", "aws_iam_user/bob"}, map[string]any{"access_key_id": "AKIA1", "user_name": "bob", "user_type": "IAMUser", "principal_id": "AIDA2"}},
		{"S3 bucket", `{"Type":"AwsS3Bucket","Id":"arn:aws:s3:::logs","Details":{"AwsS3Bucket":{"OwnerId":"o1","CreatedAt":"2020-01-01T00:00:00.000Z",` +
			`"PublicAccessBlockConfiguration":{"BlockPublicAcls":true},"ServerSideEncryptionConfiguration":{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"}}]}}}}`,
			[]string{"aws_s3_bucket/logs"}, map[string]any{"name": "logs", "arn": "arn:aws:s3:::logs", "owner_id": "o1", "created_at": "2020-01-01T00:00:00Z",
				"encryption_type": "aws:kms", "public_access": map[string]any{"block_public_access": map[string]any{"block_public_acls": true}}}},
		{"EKS cluster", `{"Type":"AwsEksCluster","Id":"arn:aws:eks:us-east-1:1:cluster/prod","Details":{"AwsEksCluster":{"Name":"prod","Status":"ACTIVE"}}}`,
			[]string{"aws_eks_cluster/prod"}, map[string]any{"name": "prod", "arn": "arn:aws:eks:us-east-1:1:cluster/prod", "status": "ACTIVE"}},
		{"Lambda function", `{"Type":"AwsLambdaFunction","Id":"arn:aws:lambda:us-east-1:1:function:fn","Details":{"AwsLambdaFunction":{"Runtime":"python3.12","Role":"arn:aws:iam::1:role/r"}}}`,
			[]string{"aws_lambda_function/fn"}, map[string]any{"function_name": "fn", "function_arn": "arn:aws:lambda:us-east-1:1:function:fn", "runtime": "python3.12", "role": "arn:aws:iam::1:role/r"}},
		{"RDS instance", `{"Type":"AwsRdsDbInstance","Id":"arn:aws:rds:us-east-1:1:db:db1","Details":{"AwsRdsDbInstance":{"DbInstanceIdentifier":"db1","Engine":"postgres","EngineVersion":"16"}}}`,
			[]string{"aws_db_instance/db1"}, map[string]any{"db_instance_identifier": "db1", "engine": "postgres", "engine_version": "16", "arn": "arn:aws:rds:us-east-1:1:db:db1"}},
		{"EBS volume", `{"Type":"AwsEc2Volume","Id":"arn:aws:ec2:us-east-1:1:volume/vol-1","Details":{"AwsEc2Volume":{"Size":8,"Encrypted":false,"DeviceName":"/dev/xvda"}}}`,
			[]string{"aws_ebs_volume/vol-1"}, map[string]any{"volume_id": "vol-1", "size_gb": 8, "encrypted": false, "device_name": "/dev/xvda"}},
		{"ECS cluster", `{"Type":"AwsEcsCluster","Id":"arn:aws:ecs:us-east-1:1:cluster/c1","Details":{"AwsEcsCluster":{"ClusterName":"c1","Status":"ACTIVE"}}}`,
			[]string{"aws_ecs_cluster/c1"}, map[string]any{"name": "c1", "arn": "arn:aws:ecs:us-east-1:1:cluster/c1", "status": "ACTIVE"}},
		{"account", `{"Type":"AwsAccount","Id":"AWS::::Account:111111111111"}`,
			[]string{"aws_account/111111111111"}, map[string]any{"account_id": "111111111111"}},
		{"security group: source fields in snake_case", `{"Type":"AwsEc2SecurityGroup","Id":"arn:aws:ec2:us-east-1:1:security-group/sg-1","Details":{"AwsEc2SecurityGroup":{"GroupName":"web","IpPermissions":[{"IpProtocol":"tcp"}]}}}`,
			[]string{"aws_security_group/sg-1"}, map[string]any{"group_name": "web", "ip_permissions": []any{map[string]any{"ip_protocol": "tcp"}}}},
		{"unknown type keeps its name", `{"Type":"AwsNewService","Id":"x-1","Details":{"AwsNewService":{"SomeField":"v"}}}`,
			[]string{"AwsNewService/x-1"}, map[string]any{"some_field": "v"}},
		{"no resources", `[]`, []string{"/"}, map[string]any{}},
		{"several, primary first", `[{"Type":"AwsS3Bucket","Id":"arn:aws:s3:::b"},{"Type":"AwsIamRole","Id":"arn:aws:iam::1:role/r"}]`,
			[]string{"aws_s3_bucket/b", "aws_iam_role/r"}, map[string]any{"name": "b", "arn": "arn:aws:s3:::b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.resource
			if !strings.HasPrefix(res, "[") {
				res = "[" + res + "]"
			}
			f := mustParse(t, asff(res))[0]
			checkInvariants(t, f)
			var got []string
			for _, r := range f.Resources {
				got = append(got, r.Type+"/"+r.ID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resources = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(f.Resource.Details, tt.details) {
				t.Errorf("details = %#v, want %#v", f.Resource.Details, tt.details)
			}
		})
	}
}

func TestSecurityHubActivity(t *testing.T) {
	gdASFF := strings.Replace(asffMin, `"ProductArn":"arn:aws:securityhub:eu-west-1::product/aws/securityhub"`,
		`"ProductArn":"arn:aws:securityhub:eu-west-1::product/aws/guardduty"`, 1)
	tests := []struct {
		name      string
		in        string
		wantType  string
		wantNet   *Network
		wantCount int
	}{
		{"GuardDuty activity in ProductFields", strings.Replace(gdASFF, `"Types":["Software and Configuration Checks/X"]`,
			`"Types":["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"],"ProductFields":{"aws/guardduty/service/action/actionType":"NETWORK_CONNECTION",`+
				`"aws/guardduty/service/action/networkConnectionAction/connectionDirection":"OUTBOUND","aws/guardduty/service/action/networkConnectionAction/protocol":"TCP",`+
				`"aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4":"198.51.100.5",`+
				`"aws/guardduty/service/action/networkConnectionAction/remotePortDetails/port":"443","aws/guardduty/service/count":"7"}`, 1),
			"Backdoor:EC2/C&CActivity.B!DNS", &Network{Direction: "OUTBOUND", Protocol: "TCP", RemoteIP: "198.51.100.5", RemotePort: 443}, 7},
		{"GuardDuty activity in Action", strings.Replace(strings.Replace(gdASFF, `"Title":"t"`, `"Title":"Recon:EC2/PortProbeUnprotectedPort"`, 1), `"Types":["Software and Configuration Checks/X"]`,
			`"Types":["Software and Configuration Checks/Network Reachability"],"Action":{"ActionType":"PORT_PROBE","PortProbeAction":{"PortProbeDetails":[{"LocalPortDetails":{"Port":22},"RemoteIpDetails":{"IpAddressV4":"198.51.100.6","Country":{"CountryName":"X"}}}]}}`, 1),
			"Recon:EC2/PortProbeUnprotectedPort", &Network{Direction: "INBOUND", LocalPort: 22, RemoteIP: "198.51.100.6", RemoteCountry: "X"}, 1},
		{"Network object, inbound", strings.Replace(asffMin, `"Title":"t"`,
			`"Title":"t","Network":{"Direction":"IN","Protocol":"tcp","SourceIpV4":"198.51.100.7","SourcePort":5555,"DestinationIpV4":"10.0.0.1","DestinationPort":22}`, 1),
			"Software and Configuration Checks/X", &Network{Direction: "INBOUND", Protocol: "TCP", RemoteIP: "198.51.100.7", RemotePort: 5555, LocalIP: "10.0.0.1", LocalPort: 22}, 1},
		{"Network object, outbound", strings.Replace(asffMin, `"Title":"t"`,
			`"Title":"t","Network":{"Direction":"OUT","SourceIpV4":"10.0.0.1","DestinationIpV4":"198.51.100.8","DestinationDomain":"pool.example"}`, 1),
			"Software and Configuration Checks/X", &Network{Direction: "OUTBOUND", LocalIP: "10.0.0.1", RemoteIP: "198.51.100.8", Domain: "pool.example"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			if f.Type != tt.wantType || f.Count != tt.wantCount {
				t.Errorf("type %q count %d, want %q %d", f.Type, f.Count, tt.wantType, tt.wantCount)
			}
			if !reflect.DeepEqual(f.Network, tt.wantNet) {
				t.Errorf("network = %+v, want %+v", f.Network, tt.wantNet)
			}
		})
	}
}

func TestGuardDutyTypeOf(t *testing.T) {
	tests := []struct {
		types []any
		title string
		want  string
	}{
		{[]any{"TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled"}, "", "Stealth:IAMUser/CloudTrailLoggingDisabled"},
		{[]any{"Effects/Data Exposure/Policy:S3-BucketBlockPublicAccessDisabled"}, "", "Policy:S3/BucketBlockPublicAccessDisabled"},
		{[]any{"TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"}, "", "Backdoor:EC2/C&CActivity.B!DNS"},
		{[]any{"Software and Configuration Checks/X"}, "Canary:EC2/Stateless.IntegTest", "Canary:EC2/Stateless.IntegTest"},
		{[]any{"Software and Configuration Checks/X"}, "A title: with a colon/slash", ""},
		{nil, "", ""},
	}
	for _, tt := range tests {
		if got := guardDutyTypeOf(tt.types, tt.title); got != tt.want {
			t.Errorf("guardDutyTypeOf(%v, %q) = %q, want %q", tt.types, tt.title, got, tt.want)
		}
	}
}
