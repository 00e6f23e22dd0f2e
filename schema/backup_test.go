package schema

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// backupDir holds Malware Protection for Backup findings written from
// GuardDuty's documented format (its SOURCES.md says where from).
const backupDir = "testdata/guardduty_backup"

// TestBackupFindingFixtures parses each recorded Malware Protection for
// Backup finding: its primary (and only) resource is the scanned
// snapshot, AMI or recovery point, with the details the finding gives and
// nothing else, and the normalized finding and a policy input built from
// it match the JSON Schemas.
func TestBackupFindingFixtures(t *testing.T) {
	input, err := InputSchema(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, typ, severity string
		want                Resource
	}{
		{"ebs_snapshot_malicious_file.json", "Execution:EC2/MaliciousFile!Snapshot", "high", Resource{
			Type: ResourceEBSSnapshot, ID: "snap-0f6a7b8c9d0e12345", ARN: "arn:aws:ec2:us-west-2::snapshot/snap-0f6a7b8c9d0e12345",
			Details: map[string]any{"snapshot_id": "snap-0f6a7b8c9d0e12345", "arn": "arn:aws:ec2:us-west-2::snapshot/snap-0f6a7b8c9d0e12345",
				"account_id": "123456789012", "region": "us-west-2"},
		}},
		{"ami_malicious_file.json", "Execution:EC2/MaliciousFile!AMI", "high", Resource{
			Type: ResourceAMI, ID: "ami-0a1b2c3d4e5f60718", ARN: "arn:aws:ec2:us-west-2::image/ami-0a1b2c3d4e5f60718",
			Details: map[string]any{"image_id": "ami-0a1b2c3d4e5f60718", "arn": "arn:aws:ec2:us-west-2::image/ami-0a1b2c3d4e5f60718",
				"account_id": "123456789012", "region": "us-west-2"},
		}},
		{"ec2_recovery_point_malicious_file.json", "Execution:EC2/MaliciousFile!RecoveryPoint", "medium", Resource{
			Type: ResourceBackupRecoveryPoint, ID: "a1b2c3d4-5678-90ab-cdef-0123456789ab",
			ARN: "arn:aws:backup:us-west-2:123456789012:recovery-point:a1b2c3d4-5678-90ab-cdef-0123456789ab",
			Details: map[string]any{"arn": "arn:aws:backup:us-west-2:123456789012:recovery-point:a1b2c3d4-5678-90ab-cdef-0123456789ab",
				"backup_vault_name": "prod-airgapped-vault", "account_id": "123456789012", "region": "us-west-2"},
		}},
		{"s3_recovery_point_malicious_file_eventbridge.json", "Execution:S3/MaliciousFile!RecoveryPoint", "high", Resource{
			Type: ResourceBackupRecoveryPoint, ID: "continuous:s3-acme-customer-uploads-5f2c7a1e",
			ARN: "arn:aws:backup:us-west-2:123456789012:recovery-point:continuous:s3-acme-customer-uploads-5f2c7a1e",
			Details: map[string]any{"arn": "arn:aws:backup:us-west-2:123456789012:recovery-point:continuous:s3-acme-customer-uploads-5f2c7a1e",
				"backup_vault_name": "s3-continuous-vault", "account_id": "123456789012", "region": "us-west-2",
				"continuous_scan_start_time": "2025-11-17T08:00:00Z", "continuous_scan_end_time": "2025-11-18T08:00:00Z"},
		}},
	}
	files, err := filepath.Glob(filepath.Join(backupDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Fatalf("%s has %d findings, the test %d", backupDir, len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			file := filepath.Join(backupDir, tt.file)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Parse(tt.file, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings", len(fs))
			}
			f := fs[0]
			checkInvariants(t, f)
			if f.Source != SourceGuardDuty || f.Type != tt.typ || f.Severity != tt.severity || !f.FromGuardDuty() {
				t.Errorf("source %s, type %s, severity %s", f.Source, f.Type, f.Severity)
			}
			tt.want.Tags = map[string]string{}
			if !reflect.DeepEqual(f.Resource, tt.want) {
				t.Errorf("resource\n got %+v\nwant %+v", f.Resource, tt.want)
			}
			if len(f.Resources) != 1 {
				t.Errorf("resources %+v, want the scanned resource alone", f.Resources)
			}
			for k := range f.Resource.Details {
				if !slices.Contains(DetailKeys(f.Resource.Type), k) {
					t.Errorf("detail %s is not among %s's DetailKeys", k, f.Resource.Type)
				}
			}
			if errs := matchSchema(t, asJSON(t, f), findingSchema); errs != nil {
				t.Errorf("does not match finding.schema.json: %v", errs)
			}
			doc := map[string]any{"finding": f, "resource": f.Resource, "facts": map[string]any{},
				"scope": map[string]any{"name": "backups"}, "rule": map[string]any{"name": "r", "actions": []string{"notify"}}}
			if errs := matchSchema(t, asJSON(t, doc), input); errs != nil {
				t.Errorf("the policy input does not match the input schema: %v", errs)
			}
		})
	}
}

// gdBackup is a native GuardDuty finding of type typ with the given
// resource block (any JSON, or "" for none).
func gdBackup(typ, resource string) string {
	s := `{"schemaVersion":"2.0","accountId":"123456789012","region":"us-west-2","partition":"aws","id":"b1",` +
		`"arn":"arn:aws:guardduty:us-west-2:123456789012:detector/d/finding/b1","type":"` + typ + `",`
	if resource != "" {
		s += `"resource":` + resource + `,`
	}
	return s + `"service":{"serviceName":"guardduty","count":1,"malwareScanDetails":{"scanType":"BACKUP_INITIATED","threats":[{"name":"EICAR-Test-File (not a virus)"}]}},` +
		`"severity":8,"createdAt":"2025-11-18T03:13:02.511Z","updatedAt":"2025-11-18T03:13:02.511Z","title":"t"}`
}

const (
	snapARN  = "arn:aws:ec2:us-west-2::snapshot/snap-0f6a7b8c9d0e12345"
	amiARN   = "arn:aws:ec2:us-west-2::image/ami-0a1b2c3d4e5f60718"
	rpARN    = "arn:aws:backup:us-west-2:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45"
	snapType = "Execution:EC2/MaliciousFile!Snapshot"
	amiType  = "Execution:EC2/MaliciousFile!AMI"
	rpType   = "Execution:EC2/MaliciousFile!RecoveryPoint"
	instance = `"instanceDetails":{"instanceId":"i-0d4e5f6a7b8c90123","instanceType":"m5.large"}`
)

// ref is a resource as type and id, "type id" ("" for none), for compact
// expectations.
func ref(r Resource) string {
	return strings.TrimSpace(r.Type + " " + r.ID)
}

// TestBackupFindingResources checks which resource a Backup finding is
// about, in the shapes it may come in, and what a finding that does not
// name it gets: no primary resource (the documented fallback), never a
// bystander an action could take, and never a panic or an error.
func TestBackupFindingResources(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string          // every resource, the primary first
		details map[string]string // some of the primary's details
	}{
		{"snapshot", gdBackup(snapType, `{"ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`),
			[]string{"aws_ebs_snapshot snap-0f6a7b8c9d0e12345"}, map[string]string{"snapshot_id": "snap-0f6a7b8c9d0e12345", "arn": snapARN}},
		{"AMI", gdBackup(amiType, `{"ec2ImageDetails":{"imageArn":"`+amiARN+`"}}`),
			[]string{"aws_ami ami-0a1b2c3d4e5f60718"}, map[string]string{"image_id": "ami-0a1b2c3d4e5f60718", "arn": amiARN}},
		{"recovery point", gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"`+rpARN+`","backupVaultName":"prod-vault"}}`),
			[]string{"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45"}, map[string]string{"arn": rpARN, "backup_vault_name": "prod-vault"}},
		{"a standard vault's EC2 recovery point is its AMI's ARN", gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"`+amiARN+`","backupVaultName":"Default"}}`),
			[]string{"aws_backup_recovery_point ami-0a1b2c3d4e5f60718"}, map[string]string{"arn": amiARN, "region": "us-west-2"}},
		{"S3 recovery point", gdBackup("Execution:S3/MaliciousFile!RecoveryPoint", `{"recoveryPointDetails":{"recoveryPointArn":"`+rpARN+`"}}`),
			[]string{"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45"}, nil},
		{"boto3 PascalCase", strings.NewReplacer(`"resource":{"ebsSnapshotDetails":{"snapshotArn"`, `"Resource":{"EbsSnapshotDetails":{"SnapshotArn"`,
			`"type":"`, `"Type":"`, `"accountId"`, `"AccountId"`).Replace(gdBackup(snapType, `{"ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`)),
			[]string{"aws_ebs_snapshot snap-0f6a7b8c9d0e12345"}, map[string]string{"account_id": "123456789012"}},
		{"whatever resourceType says", gdBackup(snapType, `{"resourceType":"EBSSnapshot","ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`),
			[]string{"aws_ebs_snapshot snap-0f6a7b8c9d0e12345"}, nil},
		{"an instance also named comes second", gdBackup(snapType, `{"resourceType":"Instance",`+instance+`,"ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`),
			[]string{"aws_ebs_snapshot snap-0f6a7b8c9d0e12345", "aws_instance i-0d4e5f6a7b8c90123"}, nil},
		{"the recovery point the type names, then its AMI", gdBackup(rpType, `{"ec2ImageDetails":{"imageArn":"`+amiARN+`"},"recoveryPointDetails":{"recoveryPointArn":"`+rpARN+`"}}`),
			[]string{"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45", "aws_ami ami-0a1b2c3d4e5f60718"}, nil},
		{"the AMI the type names, then the recovery point", gdBackup(amiType, `{"ec2ImageDetails":{"imageArn":"`+amiARN+`"},"recoveryPointDetails":{"recoveryPointArn":"`+rpARN+`"}}`),
			[]string{"aws_ami ami-0a1b2c3d4e5f60718", "aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45"}, nil},
		{"a type GuardDuty may add: the block says", gdBackup("Execution:EC2/MaliciousFile!Future", `{"ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`),
			[]string{"aws_ebs_snapshot snap-0f6a7b8c9d0e12345"}, nil},
		{"a documented resourceType keeps its primary", gdBackup("Execution:EC2/MaliciousFile", `{"resourceType":"Instance",`+instance+`,"ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`),
			[]string{"aws_instance i-0d4e5f6a7b8c90123", "aws_ebs_snapshot snap-0f6a7b8c9d0e12345"}, nil},
		{"the ARN's account and region win", gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"arn:aws:backup:eu-central-1:210987654321:recovery-point:continuous:s3-x-1a2b"}}`),
			[]string{"aws_backup_recovery_point continuous:s3-x-1a2b"}, map[string]string{"account_id": "210987654321", "region": "eu-central-1"}},
		{"a continuous scan's window", gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"`+rpARN+`","continuousScanDetails":{"startTime":1763366400,"endTime":"2025-11-18T08:00:00.000Z"}}}`),
			[]string{"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45"},
			map[string]string{"continuous_scan_start_time": "2025-11-17T08:00:00Z", "continuous_scan_end_time": "2025-11-18T08:00:00Z"}},
		{"an id instead of an ARN", gdBackup(snapType, `{"ebsSnapshotDetails":{"snapshotArn":"snap-0f6a7b8c9d0e12345"}}`),
			[]string{"aws_ebs_snapshot snap-0f6a7b8c9d0e12345"}, map[string]string{"snapshot_id": "snap-0f6a7b8c9d0e12345", "account_id": "123456789012", "region": "us-west-2"}},
		{"the block the finding has, not the one its type names", gdBackup(snapType, `{"ec2ImageDetails":{"imageArn":"`+amiARN+`"}}`),
			[]string{"aws_ami ami-0a1b2c3d4e5f60718"}, nil},

		// Bad input: the scanned resource is not named.
		{"no resource block", gdBackup(snapType, ""), []string{""}, nil},
		{"resource null", gdBackup(snapType, `null`), []string{""}, nil},
		{"no details block", gdBackup(snapType, `{"resourceType":"EBSSnapshot"}`), []string{""}, nil},
		{"details without the ARN", gdBackup(snapType, `{"ebsSnapshotDetails":{}}`), []string{""}, nil},
		{"an empty ARN", gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"","backupVaultName":"v"}}`), []string{""}, nil},
		{"details as a string", gdBackup(snapType, `{"ebsSnapshotDetails":"`+snapARN+`"}`), []string{""}, nil},
		{"details as an array", gdBackup(amiType, `{"ec2ImageDetails":[{"imageArn":"`+amiARN+`"}]}`), []string{""}, nil},
		{"the ARN as an object", gdBackup(amiType, `{"ec2ImageDetails":{"imageArn":{"arn":"`+amiARN+`"}}}`), []string{""}, nil},
		{"details null", gdBackup(rpType, `{"recoveryPointDetails":null}`), []string{""}, nil},
		{"an instance never stands in for the snapshot", gdBackup(snapType, `{"resourceType":"Instance",`+instance+`,"ebsSnapshotDetails":{}}`),
			[]string{"", "aws_instance i-0d4e5f6a7b8c90123"}, nil},
		{"a malformed continuous window is left out", gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"`+rpARN+`","continuousScanDetails":{"startTime":"yesterday","endTime":[]}}}`),
			[]string{"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := Parse("backup.json", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings", len(fs))
			}
			f := fs[0]
			checkInvariants(t, f)
			var got []string
			for _, r := range f.Resources {
				got = append(got, ref(r))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("resources %q, want %q", got, tt.want)
			}
			for k, v := range tt.details {
				if f.Resource.Details[k] != v {
					t.Errorf("details.%s = %v, want %q (details %v)", k, f.Resource.Details[k], v, f.Resource.Details)
				}
			}
			if f.Resource.Type == "" && (f.Resource.ID != "" || f.Resource.ARN != "" || len(f.Resource.Details) != 0) {
				t.Errorf("a finding without a scanned resource has primary %+v", f.Resource)
			}
			if keys := DetailKeys(f.Resource.Type); keys != nil {
				for k := range f.Resource.Details {
					if !slices.Contains(keys, k) {
						t.Errorf("detail %s is not among %s's DetailKeys", k, f.Resource.Type)
					}
				}
			}
			if errs := matchSchema(t, asJSON(t, f), findingSchema); errs != nil {
				t.Errorf("does not match finding.schema.json: %v", errs)
			}
		})
	}
}

// TestBackupFindingErrors: what makes any GuardDuty finding unreadable
// makes a Backup finding unreadable too, with an error naming the file,
// the record and the reason.
func TestBackupFindingErrors(t *testing.T) {
	good := gdBackup(snapType, `{"ebsSnapshotDetails":{"snapshotArn":"`+snapARN+`"}}`)
	tests := []struct {
		name, in, reason string
	}{
		{"severity as a label", strings.Replace(good, `"severity":8`, `"severity":"HIGH"`, 1), "severity is missing or not a number"},
		{"no severity", strings.Replace(good, `"severity":8,`, ``, 1), "severity is missing or not a number"},
		{"truncated", good[:len(good)/2], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("backup.json", []byte(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if pe.File != "backup.json" || pe.Reason == "" || !strings.Contains(err.Error(), "backup.json") {
				t.Errorf("error %q does not name the file and a reason", err)
			}
			if tt.reason != "" && !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("reason %q, want one saying %q", pe.Reason, tt.reason)
			}
		})
	}
}

// TestBackupResourcesOtherFormats checks the Security Hub and OCSF forms:
// ASFF's AwsBackupRecoveryPoint, and a snapshot, AMI or recovery point
// typed only "Other" (or not at all), which its ARN identifies.
func TestBackupResourcesOtherFormats(t *testing.T) {
	asff := func(resource string) string {
		return strings.Replace(asffGD(`{"Label":"HIGH","Normalized":70,"Product":8}`, ``, ``),
			`"Resources":[{"Type":"AwsEc2Instance","Id":"arn:aws:ec2:us-east-2:111122223333:instance/i-9","Region":"us-east-2"}]`,
			`"Resources":[`+resource+`]`, 1)
	}
	ocsf := func(resource string) string {
		return strings.Replace(ocsfGD(`{}`), `"unmapped":{}`, `"unmapped":{},"resources":[`+resource+`]`, 1)
	}
	tests := []struct {
		name    string
		in      string
		want    string
		details map[string]any
	}{
		{"ASFF recovery point", asff(`{"Type":"AwsBackupRecoveryPoint","Id":"` + rpARN + `","Region":"us-west-2","Details":{"AwsBackupRecoveryPoint":` +
			`{"BackupVaultName":"prod-vault","BackupVaultArn":"arn:aws:backup:us-west-2:123456789012:backup-vault:prod-vault",` +
			`"RecoveryPointArn":"` + rpARN + `","ResourceArn":"arn:aws:ec2:us-west-2:123456789012:volume/vol-0a1b2c3d4e5f60718",` +
			`"ResourceType":"EBS","Status":"COMPLETED","CreationDate":"2025-11-17T02:00:00.000Z","BackupSizeInBytes":8589934592}}}`),
			"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45", map[string]any{
				"arn": rpARN, "backup_vault_name": "prod-vault", "backup_vault_arn": "arn:aws:backup:us-west-2:123456789012:backup-vault:prod-vault",
				"protected_resource_arn": "arn:aws:ec2:us-west-2:123456789012:volume/vol-0a1b2c3d4e5f60718", "protected_resource_type": "EBS",
				"status": "COMPLETED", "created_at": "2025-11-17T02:00:00Z", "account_id": "123456789012", "region": "us-west-2"}},
		{"ASFF recovery point known by id", asff(`{"Type":"AwsBackupRecoveryPoint","Id":"1EB3B5E7-9EB0-435A-A80B-108B488B0D45","Details":{"AwsBackupRecoveryPoint":{"RecoveryPointArn":"` + rpARN + `"}}}`),
			"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45", map[string]any{"arn": rpARN, "account_id": "123456789012", "region": "us-west-2"}},
		{"ASFF snapshot as Other", asff(`{"Type":"Other","Id":"` + snapARN + `","Details":{"Other":{"SnapshotArn":"` + snapARN + `"}}}`),
			"aws_ebs_snapshot snap-0f6a7b8c9d0e12345", map[string]any{"snapshot_id": "snap-0f6a7b8c9d0e12345", "arn": snapARN, "account_id": "111122223333", "region": "us-west-2"}},
		{"ASFF other Other stays", asff(`{"Type":"Other","Id":"arn:aws:sns:us-east-2:111122223333:alerts","Details":{"Other":{"TopicName":"alerts"}}}`),
			"Other alerts", map[string]any{"topic_name": "alerts"}},
		{"OCSF AMI as Other", ocsf(`{"type":"Other","uid":"` + amiARN + `","data":{"Other":{"ImageArn":"` + amiARN + `"}}}`),
			"aws_ami ami-0a1b2c3d4e5f60718", map[string]any{"image_id": "ami-0a1b2c3d4e5f60718", "arn": amiARN, "account_id": "111122223333", "region": "us-west-2"}},
		{"OCSF untyped recovery point", ocsf(`{"uid":"` + rpARN + `"}`),
			"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45", map[string]any{"arn": rpARN, "account_id": "123456789012", "region": "us-west-2"}},
		{"OCSF recovery point with ASFF details as text", ocsf(`{"type":"AwsBackupRecoveryPoint","uid":"` + rpARN + `","data":"{\"AwsBackupRecoveryPoint\":{\"BackupVaultName\":\"prod-vault\"}}"}`),
			"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45", map[string]any{"arn": rpARN, "backup_vault_name": "prod-vault", "account_id": "123456789012", "region": "us-west-2"}},
		{"AWS Config's type", ocsf(`{"type":"AWS::Backup::RecoveryPoint","uid":"` + rpARN + `"}`),
			"aws_backup_recovery_point 1EB3B5E7-9EB0-435A-A80B-108B488B0D45", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := mustParse(t, tt.in)
			f := fs[0]
			checkInvariants(t, f)
			if got := ref(f.Resource); got != tt.want {
				t.Fatalf("primary %q, want %q", got, tt.want)
			}
			if tt.details != nil && !reflect.DeepEqual(f.Resource.Details, tt.details) {
				t.Errorf("details\n got %v\nwant %v", f.Resource.Details, tt.details)
			}
			if errs := matchSchema(t, asJSON(t, f), findingSchema); errs != nil {
				t.Errorf("does not match finding.schema.json: %v", errs)
			}
		})
	}
}

// TestBackupTypeFromARN: only the ARNs of what Malware Protection for
// Backup scans are typed from their ARN.
func TestBackupTypeFromARN(t *testing.T) {
	for arn, want := range map[string]string{
		snapARN: ResourceEBSSnapshot,
		"arn:aws-us-gov:ec2:us-gov-west-1::snapshot/snap-1": ResourceEBSSnapshot,
		amiARN: ResourceAMI,
		rpARN:  ResourceBackupRecoveryPoint,
		"arn:aws:backup:us-west-2:123456789012:recovery-point:continuous:s3-x": ResourceBackupRecoveryPoint,
		"arn:aws:ec2:us-west-2:123456789012:volume/vol-1":                      "",
		"arn:aws:ec2:us-west-2:123456789012:instance/i-1":                      "",
		"arn:aws:backup:us-west-2:123456789012:backup-vault:v":                 "",
		"arn:aws:s3:::snapshot/x":                                              "",
		"snap-0f6a7b8c9d0e12345":                                               "",
		"arn:aws:ec2":                                                          "",
		"":                                                                     "",
	} {
		got, ok := backupTypeFromARN(arn)
		if got != want || ok != (want != "") {
			t.Errorf("backupTypeFromARN(%q) = %q, %v; want %q", arn, got, ok, want)
		}
	}
}
