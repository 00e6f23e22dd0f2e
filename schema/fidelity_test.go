package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// asffGD is a Security Hub finding of AWS's own GuardDuty integration;
// its Severity, ProductFields and Sample are spliced in by the tests.
func asffGD(severity, productFields, extra string) string {
	return `{"SchemaVersion":"2018-10-08","ProductArn":"arn:aws:securityhub:us-east-2::product/aws/guardduty",` +
		`"Id":"arn:aws:guardduty:us-east-2:111122223333:detector/d1/finding/f9","GeneratorId":"arn:aws:guardduty:us-east-2:111122223333:detector/d1",` +
		`"AwsAccountId":"111122223333","Types":["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"],` +
		`"CreatedAt":"2024-01-01T00:00:00Z","UpdatedAt":"2024-01-01T00:00:00Z","Severity":` + severity + `,` +
		`"ProductFields":{` + productFields + `},"Title":"t","Description":"d"` + extra +
		`,"Resources":[{"Type":"AwsEc2Instance","Id":"arn:aws:ec2:us-east-2:111122223333:instance/i-9","Region":"us-east-2"}]}`
}

// gdWith is a GuardDuty finding with its service.additionalInfo replaced.
func gdWith(additionalInfo string) string {
	return strings.Replace(gdCamel, `"count":4}`, `"count":4,"additionalInfo":`+additionalInfo+`}`, 1)
}

// ocsfGD is an OCSF finding mapped from GuardDuty's ASFF (Security Lake),
// with the given unmapped object.
func ocsfGD(unmapped string) string {
	return `{"class_uid":2004,"severity_id":2,"severity":"Low","finding_info":{"uid":"arn:aws:guardduty:us-east-2:111122223333:detector/d1/finding/f9",` +
		`"title":"t","types":["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"]},"cloud":{"region":"us-east-2","account":{"uid":"111122223333"}},` +
		`"metadata":{"version":"1.1.0","product":{"name":"GuardDuty","uid":"arn:aws:securityhub:us-east-2::product/aws/guardduty"}},` +
		`"unmapped":` + unmapped + `}`
}

// GuardDuty's "Generate sample findings" marks its findings as samples;
// the mark is read in each form the finding arrives in.
func TestSampleFindings(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     bool
		wantMark string
	}{
		{"EventBridge member", gdWith(`{"sample":true}`), true, "service.additionalInfo.sample = true"},
		{"member as text", gdWith(`{"sample":"true"}`), true, "service.additionalInfo.sample = true"},
		{"GetFindings value text", gdWith(`{"value":"{\"threatListName\":\"GeneratedFindingThreatListName\",\"sample\":true}","type":"default"}`), true,
			`service.additionalInfo.value has "sample": true`},
		{"boto3 PascalCase value", strings.Replace(gdPascal, `"Count":4}`, `"Count":4,"AdditionalInfo":{"Value":"{\"sample\":true}","Type":"default"}}`, 1), true,
			`service.additionalInfo.value has "sample": true`},
		{"sample false", gdWith(`{"sample":false}`), false, ""},
		{"value without sample", gdWith(`{"value":"{\"unusual\":22}","type":"default"}`), false, ""},
		{"value not JSON", gdWith(`{"value":"{sample","type":"default"}`), false, ""},
		{"no additionalInfo", gdCamel, false, ""},
		{"ASFF Sample", asffGD(`{"Label":"HIGH","Normalized":70,"Product":8}`, ``, `,"Sample":true`), true, "Sample = true"},
		{"ASFF Sample false", asffGD(`{"Label":"HIGH","Normalized":70,"Product":8}`, ``, `,"Sample":false`), false, ""},
		{"ASFF ProductFields sample", asffGD(`{"Label":"HIGH","Normalized":70}`, `"aws/guardduty/service/additionalInfo/sample":"true"`, ``), true,
			"ProductFields aws/guardduty/service/additionalInfo/sample = true"},
		{"ASFF ProductFields value", asffGD(`{"Label":"HIGH","Normalized":70}`, `"aws/guardduty/service/additionalInfo/value":"{\"sample\":true}"`, ``), true,
			`ProductFields aws/guardduty/service/additionalInfo/value has "sample": true`},
		{"custom product's Sample", strings.Replace(asffMin, `"Title":"t"`, `"Sample":true,"Title":"t"`, 1), true, "Sample = true"},
		{"OCSF unmapped Sample", ocsfGD(`{"Sample":"true"}`), true, "unmapped.Sample = true"},
		{"OCSF unmapped Sample false", ocsfGD(`{"Sample":"false"}`), false, ""},
		{"OCSF flattened ProductFields", ocsfGD(`{"ProductFields.aws/guardduty/service/additionalInfo/sample":"true"}`), true,
			"unmapped.ProductFields.aws/guardduty/service/additionalInfo/sample = true"},
		{"OCSF nested ProductFields", ocsfGD(`{"ProductFields":{"aws/guardduty/service/additionalInfo/value":"{\"sample\":true}"}}`), true,
			`unmapped.ProductFields.aws/guardduty/service/additionalInfo/value has "sample": true`},
		{"OCSF without unmapped", ocsfMin, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			checkInvariants(t, f)
			if f.Sample != tt.want || f.SampleMark() != tt.wantMark {
				t.Errorf("sample %v (%q), want %v (%q)", f.Sample, f.SampleMark(), tt.want, tt.wantMark)
			}
			// A finding decoded from a plan file has no parser's notes:
			// the mark is read again from its raw finding.
			again := &Finding{Source: f.Source, Sample: f.Sample, Raw: f.Raw}
			if again.SampleMark() != tt.wantMark {
				t.Errorf("mark from raw %q, want %q", again.SampleMark(), tt.wantMark)
			}
			desc := f.SampleDescription()
			switch {
			case !tt.want && desc != "":
				t.Errorf("description %q of a finding that is no sample", desc)
			case tt.want && !strings.Contains(desc, "("+tt.wantMark+")"):
				t.Errorf("description %q does not say where the mark is", desc)
			}
		})
	}
	f := mustParse(t, gdWith(`{"sample":true}`))[0]
	if want := "a GuardDuty sample finding (service.additionalInfo.sample = true)"; f.SampleDescription() != want {
		t.Errorf("description %q, want %q", f.SampleDescription(), want)
	}
}

// resourceList renders a finding's resources as type/id, primary first.
func resourceList(f *Finding) []string {
	var out []string
	for _, r := range f.Resources {
		out = append(out, r.Type+"/"+r.ID)
	}
	return out
}

// Runtime Monitoring findings on containers make the host a responder can
// act on the primary resource, with the container in its details; without
// a host, the cluster (or the container) is.
func TestContainerRuntimeResources(t *testing.T) {
	gd := func(resource string) string {
		return `{"accountId":"1","region":"eu-west-1","id":"x","type":"Execution:Runtime/NewBinaryExecuted","severity":5,"resource":` + resource +
			`,"service":{"serviceName":"guardduty","featureName":"RuntimeMonitoring","runtimeDetails":{"process":{"name":"x","executablePath":"/tmp/x"}}}}`
	}
	const (
		host      = `"instanceDetails":{"instanceId":"i-host","tags":[{"key":"env","value":"prod"}]}`
		container = `{"id":"c1","name":"api","image":"repo/api:1","imagePrefix":"repo","containerRuntime":"containerd","securityContext":{"privileged":true}}`
		ecs       = `"ecsClusterDetails":{"name":"pay","arn":"arn:aws:ecs:eu-west-1:1:cluster/pay","status":"ACTIVE","taskDetails":` +
			`{"arn":"arn:aws:ecs:eu-west-1:1:task/pay/t1","definitionArn":"arn:aws:ecs:eu-west-1:1:task-definition/api:3","group":"service:api","launchType":"EC2","containers":[` + container + `]}}`
		eks = `"eksClusterDetails":{"name":"k","arn":"arn:aws:eks:eu-west-1:1:cluster/k"},"kubernetesDetails":{"kubernetesWorkloadDetails":` +
			`{"name":"web-1","namespace":"shop","type":"pods","uid":"u1","containers":[` + container + `]}}`
	)
	tests := []struct {
		name          string
		in            string
		want          []string
		wantContainer string // details.container.id of the primary
	}{
		{"container on a Docker host", gd(`{"resourceType":"Container","containerDetails":` + container + `,` + host + `}`),
			[]string{"aws_instance/i-host", "container/c1"}, "c1"},
		{"container without a host", gd(`{"resourceType":"Container","containerDetails":` + container + `}`),
			[]string{"container/c1"}, "c1"},
		{"ECS task on EC2", gd(`{"resourceType":"ECSCluster",` + ecs + `,` + host + `}`),
			[]string{"aws_instance/i-host", "aws_ecs_task/t1", "aws_ecs_service/api", "aws_ecs_cluster/pay", "container/c1"}, "c1"},
		{"ECS task on Fargate", gd(`{"resourceType":"ECSCluster",` + ecs + `}`),
			[]string{"aws_ecs_cluster/pay", "aws_ecs_task/t1", "aws_ecs_service/api", "container/c1"}, "c1"},
		{"EKS pod on a node", gd(`{"resourceType":"EKSCluster",` + eks + `,` + host + `}`),
			[]string{"aws_instance/i-host", "kubernetes_pod/shop/web-1", "aws_eks_cluster/k", "container/c1"}, "c1"},
		{"EKS pod, node not named", gd(`{"resourceType":"EKSCluster",` + eks + `}`),
			[]string{"aws_eks_cluster/k", "kubernetes_pod/shop/web-1", "container/c1"}, "c1"},
		{"EKS deployment", gd(`{"resourceType":"EKSCluster",` + strings.Replace(eks, `"pods"`, `"Deployment"`, 1) + `}`),
			[]string{"aws_eks_cluster/k", "kubernetes_deployment/shop/web-1", "container/c1"}, "c1"},
		{"EKS workload of another kind", gd(`{"resourceType":"EKSCluster",` + strings.Replace(eks, `"pods"`, `"replicasets"`, 1) + `}`),
			[]string{"aws_eks_cluster/k", "kubernetes_workload/shop/web-1", "container/c1"}, "c1"},
		{"EKS audit finding: workload without containers", gd(`{"resourceType":"EKSCluster","eksClusterDetails":{"name":"k"},` +
			`"kubernetesDetails":{"kubernetesWorkloadDetails":{"name":"aws-node","namespace":"kube-system","type":"pods"}}}`),
			[]string{"aws_eks_cluster/k", "kubernetes_pod/kube-system/aws-node"}, ""},
		{"ECS cluster without a task", gd(`{"resourceType":"ECSCluster","ecsClusterDetails":{"name":"pay"}}`),
			[]string{"aws_ecs_cluster/pay"}, ""},
		{"instance finding with no container", gd(`{"resourceType":"Instance",` + host + `}`),
			[]string{"aws_instance/i-host"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			checkInvariants(t, f)
			if got := resourceList(f); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resources %v, want %v", got, tt.want)
			}
			c, _ := f.Resource.Details["container"].(map[string]any)
			if id, _ := c["id"].(string); id != tt.wantContainer {
				t.Errorf("details.container %v, want id %q", f.Resource.Details["container"], tt.wantContainer)
			}
			if tt.wantContainer != "" && (c["image"] != "repo/api:1" || c["privileged"] != true || c["image_prefix"] != "repo") {
				t.Errorf("details.container %v lacks the container's fields", c)
			}
		})
	}

	// What the task and the host keep.
	f := mustParse(t, gd(`{"resourceType":"ECSCluster",`+ecs+`,`+host+`}`))[0]
	if f.Resource.Tags["env"] != "prod" || f.Resource.Details["instance_id"] != "i-host" {
		t.Errorf("host %+v", f.Resource)
	}
	task := f.Resources[1]
	if task.ARN != "arn:aws:ecs:eu-west-1:1:task/pay/t1" || task.Details["cluster"] != "pay" || task.Details["launch_type"] != "EC2" ||
		task.Details["definition_arn"] != "arn:aws:ecs:eu-west-1:1:task-definition/api:3" {
		t.Errorf("task %+v", task)
	}
	if cs, _ := task.Details["containers"].([]any); len(cs) != 1 {
		t.Errorf("task containers %v", task.Details["containers"])
	}
}

// The published-shape Runtime Monitoring fixtures: the host is the primary
// resource wherever the finding names one.
func TestContainerRuntimeFixtures(t *testing.T) {
	tests := []struct {
		file        string
		wantPrimary string
	}{
		{"cordon_guardduty_Execution_Runtime_NewBinaryExecuted_ECS_EC2.json", "aws_instance/i-0e1d2c3b4a5968778"},
		{"cordon_guardduty_CryptoCurrency_Runtime_BitcoinTool.B_Container_EC2.json", "aws_instance/i-0c0ffee0c0ffee001"},
		{"cordon_guardduty_Execution_Runtime_ReverseShell_EKS.json", "aws_instance/i-0eks0node0000c0de"},
		{"cordon_guardduty_Execution_Runtime_SuspiciousCommand_ECS_Fargate.json", "aws_ecs_cluster/web-fargate"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(findingsDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			f := mustParse(t, string(data))[0]
			if got := f.Resource.Type + "/" + f.Resource.ID; got != tt.wantPrimary {
				t.Errorf("primary %s, want %s", got, tt.wantPrimary)
			}
			if _, ok := f.Resource.Details["container"].(map[string]any); !ok {
				t.Errorf("primary has no details.container: %v", f.Resource.Details)
			}
		})
	}
}

// An EKS finding names the IAM role behind the Kubernetes user: from
// accessKeyDetails of userType "Role", or the IAM ARN the authenticator
// mapped the user from.
func TestEKSPrincipals(t *testing.T) {
	gd := func(k8sUser, accessKey string) string {
		res := `{"resourceType":"EKSCluster","eksClusterDetails":{"name":"k"}`
		if k8sUser != "" {
			res += `,"kubernetesDetails":{"kubernetesUserDetails":` + k8sUser + `}`
		}
		if accessKey != "" {
			res += `,"accessKeyDetails":` + accessKey
		}
		return `{"accountId":"1","region":"eu-west-1","id":"x","type":"Execution:Kubernetes/ExecInKubeSystemPod","severity":5,"resource":` + res +
			`},"service":{"serviceName":"guardduty"}}`
	}
	tests := []struct {
		name    string
		in      string
		want    []string
		wantPID string // the role's or user's principal_id
	}{
		{"access key of a Role", gd(``, `{"accessKeyId":"ASIA1","principalId":"AROA1:sess","userName":"ops","userType":"Role"}`),
			[]string{"aws_eks_cluster/k", "aws_iam_access_key/ASIA1", "aws_iam_role/ops"}, "AROA1"},
		{"assumed-role user", gd(`{"username":"arn:aws:sts::1:assumed-role/ops/mallory","uid":"aws-iam-authenticator:1:AROA2","groups":["system:masters"]}`, ``),
			[]string{"aws_eks_cluster/k", "aws_iam_role/ops"}, "AROA2"},
		{"role ARN with a path", gd(`{"username":"arn:aws:iam::1:role/teams/ops"}`, ``),
			[]string{"aws_eks_cluster/k", "aws_iam_role/ops"}, ""},
		{"IAM user", gd(`{"username":"arn:aws:iam::1:user/alice","uid":"aws-iam-authenticator:1:AIDA3"}`, ``),
			[]string{"aws_eks_cluster/k", "aws_iam_user/alice"}, "AIDA3"},
		{"Kubernetes service account", gd(`{"username":"system:serviceaccount:kube-system:aws-node"}`, ``),
			[]string{"aws_eks_cluster/k"}, ""},
		{"both name the role once", gd(`{"username":"arn:aws:sts::1:assumed-role/ops/mallory"}`, `{"accessKeyId":"ASIA1","principalId":"AROA1:mallory","userName":"ops","userType":"Role"}`),
			[]string{"aws_eks_cluster/k", "aws_iam_access_key/ASIA1", "aws_iam_role/ops"}, "AROA1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			checkInvariants(t, f)
			if got := resourceList(f); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("resources %v, want %v", got, tt.want)
			}
			last := f.Resources[len(f.Resources)-1]
			if pid, _ := last.Details["principal_id"].(string); len(tt.want) > 1 && pid != tt.wantPID {
				t.Errorf("principal_id %q, want %q", pid, tt.wantPID)
			}
		})
	}
}

// GuardDuty's native score wins over Security Hub's mapping of it, for a
// finding proven GuardDuty's only, so its three forms agree.
func TestGuardDutySeverityFromASFF(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantLabel string
		wantScore float64
	}{
		{"Product wins over Normalized", asffGD(`{"Label":"LOW","Normalized":40,"Product":2}`, ``, ``), "low", 2},
		{"Product's band wins over Label", asffGD(`{"Label":"HIGH","Normalized":70,"Product":5}`, ``, ``), "medium", 5},
		{"FindingProviderFields Original", asffGD(`{"Label":"HIGH","Normalized":70}`, ``, `,"FindingProviderFields":{"Severity":{"Label":"HIGH","Original":"7.5"}}`), "high", 7.5},
		{"no GuardDuty score: Security Hub's", asffGD(`{"Label":"HIGH","Normalized":70}`, ``, ``), "high", 7},
		{"Product out of GuardDuty's range", asffGD(`{"Label":"HIGH","Normalized":70,"Product":70}`, ``, ``), "high", 7},
		{"another product's Product is not GuardDuty's", strings.Replace(asffMin, `"Normalized":70`, `"Normalized":70,"Product":2`, 1), "high", 7},
		{"a custom product claiming GuardDuty", strings.Replace(asffGD(`{"Label":"HIGH","Normalized":70,"Product":2}`, ``, ``),
			"arn:aws:securityhub:us-east-2::product/aws/guardduty", "arn:aws:securityhub:us-east-2:111122223333:product/111122223333/default", 1), "high", 7},
		{"OCSF: unmapped Severity.Product", ocsfGD(`{"Severity.Product":"8","Severity.Normalized":"40"}`), "high", 8},
		{"OCSF: nested Severity.Product", ocsfGD(`{"Severity":{"Product":"3"}}`), "low", 3},
		{"OCSF: no GuardDuty score", ocsfGD(`{}`), "low", 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			if f.Severity != tt.wantLabel || f.SeverityScore != tt.wantScore {
				t.Errorf("severity %s %v, want %s %v", f.Severity, f.SeverityScore, tt.wantLabel, tt.wantScore)
			}
		})
	}

	// The published finding in its three forms.
	var got []string
	for _, file := range []string{
		"cordon_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json",
		"securityhub_asff_from_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json",
		"ocsf_2004_detection_finding_from_securityhub_guardduty_CloudTrailLoggingDisabled.json",
	} {
		data, err := os.ReadFile(filepath.Join(findingsDir, file))
		if err != nil {
			t.Fatal(err)
		}
		f := mustParse(t, string(data))[0]
		got = append(got, fmt.Sprintf("%s %g", f.Severity, f.SeverityScore))
	}
	if got[0] != "low 2" || got[1] != got[0] || got[2] != got[0] {
		t.Errorf("native, ASFF and OCSF severities %v, want low 2 for each", got)
	}
}

// OCSF findings whose types[0] is a category take the producer's name for
// the detection.
func TestOCSFType(t *testing.T) {
	ocsf := func(findingInfo, metadata string) string {
		return `{"class_uid":2004,"severity_id":3,"finding_info":{"uid":"o1"` + findingInfo + `},"metadata":{"version":"1.3.0"` + metadata + `}}`
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"specific type", ocsf(`,"title":"t","types":["malware_infection"],"analytic":{"name":"a"}`, ``), "malware_infection"},
		{"category and analytic name", ocsf(`,"title":"t","types":["Data Protection"],"analytic":{"name":"S3 bucket made public","uid":"r-1"}`, ``), "S3 bucket made public"},
		{"category and analytic uid", ocsf(`,"title":"t","types":["Privilege Escalation"],"analytic":{"uid":"rule-42"}`, ``), "rule-42"},
		{"category and event code (Prowler)", ocsf(`,"title":"t","types":["Data Protection"]`, `,"event_code":"acm_certificates_expiration_check"`),
			"acm_certificates_expiration_check"},
		{"event code with spaces is no identifier", ocsf(`,"title":"t","types":["Data Protection"]`, `,"event_code":"threat detected"`), "Data Protection"},
		{"ASFF taxonomy path", ocsf(`,"title":"EC2.19 Security groups should not allow unrestricted access","types":["Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices"]`, ``),
			"Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices"},
		{"ASFF taxonomy path and analytic", ocsf(`,"types":["TTPs/Initial Access"],"analytic":{"name":"brute-force-ssh"}`, ``), "brute-force-ssh"},
		{"class word", ocsf(`,"title":"t","types":["Finding"],"analytic":{"name":"n"}`, ``), "n"},
		{"no types: title", ocsf(`,"title":"Login Failures"`, `,"event_code":"security.threat.detected"`), "Login Failures"},
		{"no types: analytic first", ocsf(`,"title":"Login Failures","analytic":{"name":"okta-brute-force"}`, ``), "okta-brute-force"},
		{"nothing but the title", ocsf(`,"title":"Only a title","types":[]`, ``), "Only a title"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)[0]
			if f.Type != tt.want {
				t.Errorf("type %q, want %q", f.Type, tt.want)
			}
		})
	}
}

// An OCSF finding without severity_id is read from its severity caption
// when that is one of OCSF's labels.
func TestOCSFSeverityCaptionOnly(t *testing.T) {
	tests := []struct {
		caption   string
		wantLabel string
		wantScore float64
		wantErr   string
	}{
		{`"High"`, "high", 8, ""},
		{`"critical"`, "critical", 9.5, ""},
		{`" Low "`, "low", 2.5, ""},
		{`"Informational"`, "informational", 0, ""},
		{`"Fatal"`, "critical", 10, ""},
		{`"Severe"`, "", 0, `severity_id is missing, and severity "Severe" is not one of OCSF's labels`},
		{`"Unknown"`, "", 0, `severity "Unknown" is not one of OCSF's labels`},
		{`""`, "", 0, "severity_id is missing, and so is severity"},
	}
	for _, tt := range tests {
		t.Run(tt.caption, func(t *testing.T) {
			in := strings.Replace(ocsfMin, `"severity_id":5`, `"severity":`+tt.caption, 1)
			fs, err := Parse("in.json", []byte(in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "in.json") {
					t.Fatalf("error %v, want one naming the file and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f := fs[0]; f.Severity != tt.wantLabel || f.SeverityScore != tt.wantScore {
				t.Errorf("%s → %s %v, want %s %v", tt.caption, f.Severity, f.SeverityScore, tt.wantLabel, tt.wantScore)
			}
		})
	}
}
