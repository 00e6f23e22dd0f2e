package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "aligns equals signs and indents",
			in: `scope "web" {
description = "Production web tier"
    accounts = ["111111111111"]
  tags={Environment="prod"}
}
`,
			want: `scope "web" {
  description = "Production web tier"
  accounts    = ["111111111111"]
  tags        = { Environment = "prod" }
}
`,
		},
		{
			name: "spacing inside expressions",
			in:   "rule \"r\" {\n  scopes=[scope.web,scope.db]\n  condition=finding.count>=1&&finding.severity==\"high\"\n}\n",
			want: "rule \"r\" {\n  scopes    = [scope.web, scope.db]\n  condition = finding.count >= 1 && finding.severity == \"high\"\n}\n",
		},
		{
			name: "already formatted",
			in:   "collector \"describe\" { type = \"aws_ec2_describe\" }\n",
			want: "collector \"describe\" { type = \"aws_ec2_describe\" }\n",
		},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := Format("cordon.hcl", []byte(tt.in))
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:%s", render(diags))
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			again, _ := Format("cordon.hcl", got)
			if string(again) != string(got) {
				t.Errorf("formatting is not idempotent; second pass:\n%s", again)
			}
		})
	}
}

func TestFormatRefusesBadSyntax(t *testing.T) {
	for _, src := range []string{
		"scope \"web\" {\n  regions = [\"us-west-2\"\n}\n",
		"scope \"web\" {\n",
		"a = = 1\n",
	} {
		got, diags := Format("bad.hcl", []byte(src))
		if got != nil || !diags.HasErrors() {
			t.Errorf("Format(%q) = %q, %d diagnostics; want nil and syntax errors", src, got, len(diags))
			continue
		}
		if d := diags[0]; d.Subject == nil || d.Subject.Filename != "bad.hcl" {
			t.Errorf("Format(%q): diagnostic without a range in bad.hcl:%s", src, render(diags))
		}
	}
}

func TestFixturesAreFormatted(t *testing.T) {
	// The valid fixture is written as `cordon fmt` would leave it.
	files, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.hcl"))
	for _, f := range files {
		if filepath.Base(f) == "ignored.test.hcl" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, diags := Format(f, src)
		if diags.HasErrors() || string(got) != string(src) {
			t.Errorf("%s is not formatted:%s\n%s", f, render(diags), got)
		}
	}
}
