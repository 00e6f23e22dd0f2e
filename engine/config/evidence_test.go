package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

const memoryCollector = `
collector "memory" {
  type        = "aws_ssm_memory"
  tool_s3_uri = "s3://cordon-tools/avml/avml-0.14.0"
  tool_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
}
`

func TestEvidenceBlock(t *testing.T) {
	cfg, diags := load(t, map[string]string{"cordon.hcl": `
cordon {
  evidence {
    bucket              = "cordon-evidence"
    prefix              = "memory/"
    require_object_lock = true
    forensic_account    = "555566667777"
    kms_key_id          = "arn:aws:kms:us-east-1:555566667777:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
}
` + memoryCollector}, LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	ev := cfg.Evidence
	if ev == nil || ev.Bucket != "cordon-evidence" || ev.Prefix != "memory" || !ev.RequireObjectLock || ev.ForensicAccount != "555566667777" ||
		ev.KMSKeyID != "arn:aws:kms:us-east-1:555566667777:key/1234abcd-12ab-34cd-56ef-1234567890ab" || ev.DeclRange.Start.Line != 3 {
		t.Errorf("evidence %+v", ev)
	}
	// The collector took the bucket, prefix and lock requirement.
	g := cfg.Collectors["memory"].Impl.(interface{ Permissions() []string }).Permissions()
	if !strings.Contains(strings.Join(g, ","), "s3:GetBucketObjectLockConfiguration") {
		t.Errorf("the collector did not take require_object_lock: %v", g)
	}

	cfg, diags = load(t, map[string]string{"cordon.hcl": `scope "any" {}`}, LoadOptions{})
	if diags.HasErrors() || cfg.Evidence != nil {
		t.Errorf("without a block: %v%s", cfg.Evidence, render(diags))
	}
	cfg, diags = load(t, map[string]string{"cordon.hcl": "cordon {\n  evidence {\n    kms_key_id = \"1234abcd-12ab-34cd-56ef-1234567890ab\"\n    forensic_account = \"555566667777\"\n  }\n}\n"}, LoadOptions{})
	if diags.HasErrors() || cfg.Evidence.Bucket != "" {
		t.Errorf("forensic only: %+v%s", cfg.Evidence, render(diags))
	}
}

func TestEvidenceBlockErrors(t *testing.T) {
	tests := []struct {
		name, src     string
		summary, want string
		line          int
	}{
		{"bucket", `bucket = "Evidence_Bucket"`, "Invalid S3 bucket name", `"Evidence_Bucket" is not an S3 bucket name`, 3},
		{"ip bucket", `bucket = "10.0.0.1"`, "Invalid S3 bucket name", "is not an S3 bucket name", 3},
		{"prefix", `prefix = "/memory"`, "Invalid key prefix", "not starting with /", 3},
		{"prefix dots", `prefix = "a/../b"`, "Invalid key prefix", ". or .. segment", 3},
		{"lock", `require_object_lock = "yes"`, "Incorrect attribute value type", "a bool is required", 3},
		{"account", "forensic_account = \"5555\"\n    kms_key_id = \"1234abcd-12ab-34cd-56ef-1234567890ab\"", "Invalid account ID", `"5555" is not an AWS account ID`, 3},
		{"alias", "forensic_account = \"555566667777\"\n    kms_key_id = \"alias/forensic\"", "Invalid KMS key", "not an alias", 4},
		{"key garbage", "forensic_account = \"555566667777\"\n    kms_key_id = \"my key\"", "Invalid KMS key", `"my key" is not a KMS key ID or key ARN`, 4},
		{"account without key", `forensic_account = "555566667777"`, "Missing required argument", "set kms_key_id", 2},
		{"key without account", `kms_key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"`, "Missing required argument", "set forensic_account too", 2},
		{"unknown", `buckets = "x"`, "Unsupported argument", `Did you mean "bucket"?`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := load(t, map[string]string{"cordon.hcl": "cordon {\n  evidence {\n    " + tt.src + "\n  }\n}\n"}, LoadOptions{})
			checkOneError(t, diags, tt.summary, tt.want, tt.line)
		})
	}
	t.Run("duplicate", func(t *testing.T) {
		_, diags := load(t, map[string]string{"cordon.hcl": "cordon {\n  evidence {}\n  evidence {}\n}\n"}, LoadOptions{})
		checkOneError(t, diags, "Duplicate evidence block", "already declared at cordon.hcl:2", 3)
	})
	t.Run("memory collector without a bucket", func(t *testing.T) {
		_, diags := load(t, map[string]string{"cordon.hcl": memoryCollector}, LoadOptions{})
		checkOneError(t, diags, "No evidence bucket", "or an evidence { bucket", 2)
	})
	t.Run("memory collector's own bucket", func(t *testing.T) {
		cfg, diags := load(t, map[string]string{"cordon.hcl": strings.Replace(memoryCollector, "type ", "bucket = \"my-evidence\"\n  type ", 1)}, LoadOptions{})
		if diags.HasErrors() {
			t.Fatalf("unexpected diagnostics:%s", render(diags))
		}
		if cfg.Collectors["memory"] == nil {
			t.Error("collector not loaded")
		}
	})
}

func checkOneError(t *testing.T, diags hcl.Diagnostics, summary, detail string, line int) {
	t.Helper()
	errs := diags.Errs()
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1:%s", len(errs), render(diags))
	}
	d := diags[0]
	for _, x := range diags {
		if x.Severity == hcl.DiagError {
			d = x
		}
	}
	if d.Summary != summary || !strings.Contains(d.Detail, detail) || d.Subject == nil || d.Subject.Start.Line != line {
		t.Errorf("got%s\nwant %q %q at line %d", render(hcl.Diagnostics{d}), summary, detail, line)
	}
}
