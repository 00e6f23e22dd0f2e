package schema

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to Parse: it must never panic, its errors
// are *ParseError, and every finding keeps the normalized shape's promises.
func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir(findingsDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(findingsDir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	backups, err := filepath.Glob(filepath.Join(backupDir, "*.json"))
	if err != nil || len(backups) == 0 {
		f.Fatalf("no Backup findings in %s: %v", backupDir, err)
	}
	for _, file := range backups {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{gdCamel, gdPascal, asffMin, ocsfMin, "[" + gdCamel + "," + asffMin + "]", gdCamel + "\n\n" + ocsfMin,
		`{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[` + asffMin + `]}}`, `{"Findings":[]}`, `[]`, ``,
		strings.Replace(asffMin, `"Id":"sh1"`, `"Id":"arn:aws:guardduty:eu-west-1:111122223333:detector/d/finding/f1"`, 1),
		strings.Replace(asffMin, `product/aws/securityhub"`, `product/aws/guardduty","ProductFields":{"aws/guardduty/service/count":"3"}`, 1),
		gdWith(`{"value":"{\"sample\":true}","type":"default"}`), asffGD(`{"Label":"LOW","Product":2}`, `"aws/guardduty/service/additionalInfo/sample":"true"`, ``),
		ocsfGD(`{"Sample":"true","Severity.Product":"7"}`),
		gdBackup(snapType, `{"ebsSnapshotDetails":{}}`), gdBackup(rpType, `{"recoveryPointDetails":{"recoveryPointArn":"arn:aws:backup:r:1:recovery-point:","continuousScanDetails":{"startTime":"x"}}}`),
		gdBackup(amiType, `{"resourceType":"Instance","instanceDetails":{"instanceId":"i-1"},"ec2ImageDetails":{"imageArn":"arn:aws:ec2:r::image/"}}`),
		gdBackup("Execution:EC2/MaliciousFile", `{"ebsSnapshotDetails":{"snapshotArn":"arn:aws:ec2:r::snapshot/snap-1"},"recoveryPointDetails":{"recoveryPointArn":"x"}}`),
		strings.Replace(asffMin, `"Type":"AwsEc2Instance","Id":"arn:aws:ec2:eu-west-1:111122223333:instance/i-9"`, `"Type":"Other","Id":"arn:aws:ec2:eu-west-1::snapshot/snap-9"`, 1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Parse("fuzz.json", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.json" || pe.Reason == "" {
				t.Fatalf("error %T %v is not a complete *ParseError", err, err)
			}
			return
		}
		for _, f := range fs {
			if _, ok := SeverityRank(f.Severity); !ok {
				t.Fatalf("severity %q", f.Severity)
			}
			if f.SeverityScore < 0 || f.SeverityScore > 10 || f.Count < 1 {
				t.Fatalf("severity_score %v, count %d", f.SeverityScore, f.Count)
			}
			if f.Source != SourceGuardDuty && f.Source != SourceSecurityHub && f.Source != SourceOCSF {
				t.Fatalf("source %q", f.Source)
			}
			if len(f.Resources) == 0 || !reflect.DeepEqual(f.Resources[0], f.Resource) {
				t.Fatal("resources[0] is not the primary resource")
			}
			for _, r := range f.Resources {
				if r.Tags == nil || r.Details == nil {
					t.Fatalf("resource %s/%s has nil tags or details", r.Type, r.ID)
				}
			}
			if f.Raw == nil || f.decoded == nil {
				t.Fatal("raw or decoded raw missing")
			}
			if _, err := decodeJSON(f.Raw); err != nil {
				t.Fatalf("raw %q is not JSON: %v", f.Raw, err)
			}
			// The identity: present with an id, the same when worked out
			// again from the raw finding alone (as for a finding read back
			// from a plan file), and GuardDuty's only where proven.
			key := f.ProductKey()
			if (key == "") != (f.ID == "") {
				t.Fatalf("id %q, key %q", f.ID, key)
			}
			again := *f
			again.productKey, again.decoded = "", nil
			if k := again.ProductKey(); k != key {
				t.Fatalf("key %q from the parser, %q from raw", key, k)
			}
			// The sample mark: said where it is, and read the same from
			// the raw finding alone.
			mark := f.SampleMark()
			if f.Sample != (mark != "") || f.Sample != (f.SampleDescription() != "") {
				t.Fatalf("sample %v, mark %q, description %q", f.Sample, mark, f.SampleDescription())
			}
			again.sampleMark = ""
			if m := again.SampleMark(); m != mark {
				t.Fatalf("sample mark %q from the parser, %q from raw", mark, m)
			}
			if f.FromGuardDuty() && f.Source != SourceGuardDuty {
				m, _ := f.decoded.(map[string]any)
				proof := str(m, "ProductArn")
				if f.Source == SourceOCSF {
					proof = pathStr(m, "metadata", "product", "uid")
				}
				if !isGuardDutyProductArn(proof, f.Source == SourceOCSF) {
					t.Fatalf("%s finding with product %q is GuardDuty's", f.Source, proof)
				}
			}
		}
	})
}
