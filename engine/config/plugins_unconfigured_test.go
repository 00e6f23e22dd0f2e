package config

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/collectors"
)

// A collector whose needed attributes take their values from variables
// left empty is declared but not configured: a warning naming the
// variables, and a collector that fails with the same words, so plans
// say why its evidence is missing instead of the configuration failing.
func TestCollectorNotConfigured(t *testing.T) {
	const vars = `
variable "tool_uri" {
  default = ""
}
variable "tool_sum" {
  default = ""
}
variable "bucket" {
  default = ""
}
`
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	evidence := func(bucket string) string {
		return "cordon {\n  evidence {\n    bucket = " + bucket + "\n  }\n}\n"
	}
	memory := func(uri, sha string, extra ...string) string {
		return "collector \"memory\" {\n  type        = \"aws_ssm_memory\"\n  tool_s3_uri = " + uri + "\n  tool_sha256 = " + sha + "\n" +
			strings.Join(extra, "") + "}\n"
	}
	tests := []struct {
		name   string
		src    string
		values map[string]string
		// warning is the not-configured warning's detail, and line where
		// it points; empty for none.
		warning []string
		line    int
		// err is the error expected instead, when the values are not
		// placeholders but wrong.
		err string
	}{
		{
			name: "tool from empty variables",
			src:  vars + evidence(`"cordon-evidence"`) + memory("var.tool_uri", "var.tool_sum"),
			warning: []string{"Collector memory (type aws_ssm_memory) cannot run: its tool_s3_uri and tool_sha256 are empty.",
				"the disruptions that wait for its evidence are withheld",
				"Set variables tool_uri and tool_sum (for example with CORDON_VAR_tool_uri, or -var)."},
			line: 18,
		},
		{
			name: "tool and evidence bucket from empty variables",
			src:  vars + evidence("var.bucket") + memory("var.tool_uri", "var.tool_sum"),
			warning: []string{"Collector memory (type aws_ssm_memory) cannot run: its tool_s3_uri, tool_sha256 and the evidence block's bucket are empty.",
				"Set variables tool_uri, tool_sum and bucket (for example with CORDON_VAR_tool_uri, or -var)."},
			line: 18,
		},
		{
			name:    "the block's own bucket overrides the evidence block's",
			src:     vars + evidence("var.bucket") + memory("var.tool_uri", `"`+sum+`"`, "  bucket      = \"cordon-images\"\n"),
			warning: []string{"cannot run: its tool_s3_uri is empty.", "Set variable tool_uri (for example"},
			line:    18,
		},
		{
			name:    "one of the two set",
			src:     vars + evidence(`"cordon-evidence"`) + memory("var.tool_uri", "var.tool_sum"),
			values:  map[string]string{"tool_uri": "s3://cordon-tools/avml"},
			warning: []string{"cannot run: its tool_sha256 is empty.", "Set variable tool_sum (for example with CORDON_VAR_tool_sum, or -var)."},
			line:    19,
		},
		{
			name:    "evidence bucket from an empty variable",
			src:     vars + evidence("var.bucket") + memory(`"s3://cordon-tools/avml"`, `"`+sum+`"`),
			warning: []string{"cannot run: the evidence block's bucket is empty.", "Set variable bucket (for example with CORDON_VAR_bucket, or -var)."},
			line:    13,
		},
		{
			name:    "the block's own bucket from an empty variable",
			src:     vars + memory(`"s3://cordon-tools/avml"`, `"`+sum+`"`, "  bucket      = var.bucket\n"),
			warning: []string{"cannot run: its bucket is empty.", "Set variable bucket"},
			line:    15,
		},
		{
			name:   "everything set",
			src:    vars + evidence("var.bucket") + memory("var.tool_uri", "var.tool_sum"),
			values: map[string]string{"tool_uri": "s3://cordon-tools/avml", "tool_sum": sum, "bucket": "cordon-evidence"},
		},
		// Values that are wrong, not missing, stay errors.
		{
			name:   "a variable set to a wrong value",
			src:    vars + evidence(`"cordon-evidence"`) + memory("var.tool_uri", "var.tool_sum"),
			values: map[string]string{"tool_uri": "https://example.com/avml", "tool_sum": sum},
			err:    "Invalid S3 URI",
		},
		{
			name: "an empty literal",
			src:  evidence(`"cordon-evidence"`) + memory(`""`, `"`+sum+`"`),
			err:  "Invalid S3 URI",
		},
		{
			name: "an empty literal evidence bucket",
			src:  evidence(`""`) + memory(`"s3://cordon-tools/avml"`, `"`+sum+`"`),
			err:  "No evidence bucket",
		},
		{
			name: "no evidence block and no bucket",
			src:  vars + memory(`"s3://cordon-tools/avml"`, `"`+sum+`"`),
			err:  "No evidence bucket",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(name string) (string, bool) {
				v, ok := tt.values[strings.TrimPrefix(name, EnvVarPrefix)]
				return v, ok
			}
			cfg, diags := load(t, map[string]string{"cordon.hcl": tt.src}, LoadOptions{Getenv: env})
			if tt.err != "" {
				if !diags.HasErrors() || !strings.Contains(render(diags), tt.err) || strings.Contains(render(diags), "not configured") {
					t.Fatalf("want the error %q, got:%s", tt.err, render(diags))
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("errors:%s", render(diags))
			}
			c := cfg.Collectors["memory"]
			if c == nil {
				t.Fatal("the collector is not in the configuration")
			}
			if len(tt.warning) == 0 {
				if len(diags) != 0 {
					t.Errorf("diagnostics:%s", render(diags))
				}
				if _, placeholder := c.Impl.(*collectors.NotConfigured); placeholder {
					t.Error("a configured collector runs as not configured")
				}
				return
			}
			if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != "Collector not configured" ||
				diags[0].Subject == nil || diags[0].Subject.Start.Line != tt.line {
				t.Fatalf("want one warning at line %d:%s", tt.line, render(diags))
			}
			for _, w := range tt.warning {
				if !strings.Contains(diags[0].Detail, w) {
					t.Errorf("the warning lacks %q:\n%s", w, diags[0].Detail)
				}
			}
			// It runs, and fails saying the same.
			_, err := c.Impl.Collect(context.Background(), &collectors.Request{})
			reason := strings.TrimSuffix(strings.SplitN(tt.warning[0], "cannot run: ", 2)[1], ".")
			if err == nil || !strings.HasPrefix(err.Error(), "not configured: "+reason+"; set variable") {
				t.Errorf("Collect: %v, want not configured: %s", err, reason)
			}
		})
	}
}
