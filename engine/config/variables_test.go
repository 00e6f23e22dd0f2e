package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

const variablesConfig = `variable "sg" {
  type    = string
  default = "sg-default"
}

variable "limit" {
  type    = number
  default = 1
}

variable "ports" {
  type    = list(number)
  default = [22]
}

variable "owner" {
  type = object({
    team  = string
    pager = optional(string, "none")
  })
  default = { team = "secops" }
}

variable "untyped" {
  default = "x"
}

variable "anything" {
  type    = any
  default = "x"
}
`

func TestVariablePrecedence(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		varFiles []string // contents, written to files in order
		vars     []string
		want     map[string]string // variable → JSON of its value
	}{
		{
			name: "defaults",
			want: map[string]string{"sg": `"sg-default"`, "limit": "1", "ports": "[22]", "owner": `{"pager":"none","team":"secops"}`},
		},
		{
			name: "environment over default",
			env:  map[string]string{"CORDON_VAR_sg": "sg-env", "CORDON_VAR_limit": "7"},
			want: map[string]string{"sg": `"sg-env"`, "limit": "7"},
		},
		{
			name:     "var file over environment",
			env:      map[string]string{"CORDON_VAR_sg": "sg-env"},
			varFiles: []string{`sg = "sg-file"`},
			want:     map[string]string{"sg": `"sg-file"`},
		},
		{
			name:     "-var over var file",
			env:      map[string]string{"CORDON_VAR_sg": "sg-env"},
			varFiles: []string{`sg = "sg-file"`},
			vars:     []string{"sg=sg-flag"},
			want:     map[string]string{"sg": `"sg-flag"`},
		},
		{
			name:     "later var file wins",
			varFiles: []string{"sg = \"sg-first\"\nlimit = 3", `sg = "sg-second"`},
			want:     map[string]string{"sg": `"sg-second"`, "limit": "3"},
		},
		{
			name: "later -var wins",
			vars: []string{"sg=sg-first", "sg=sg-second"},
			want: map[string]string{"sg": `"sg-second"`},
		},
		{
			name: "primitive values are taken literally",
			vars: []string{"sg=a=b", `untyped=["not", "a", "list"]`, "limit=5"},
			want: map[string]string{"sg": `"a=b"`, "untyped": `"[\"not\", \"a\", \"list\"]"`, "limit": "5"},
		},
		{
			name: "complex values are HCL",
			vars: []string{"ports=[80, 443]", `owner={ team = "ir" }`, `anything={ a = [1] }`},
			want: map[string]string{"ports": "[80,443]", "owner": `{"pager":"none","team":"ir"}`, "anything": `{"a":[1]}`},
		},
		{
			name: "complex values from the environment",
			env:  map[string]string{"CORDON_VAR_ports": "[8080]"},
			want: map[string]string{"ports": "[8080]"},
		},
		{
			name:     "an invalid environment value overridden by -var is no error",
			env:      map[string]string{"CORDON_VAR_limit": "lots"},
			varFiles: []string{`limit = "also lots"`},
			vars:     []string{"limit=9"},
			want:     map[string]string{"limit": "9"},
		},
		{
			name:     "var file values convert",
			varFiles: []string{"limit = \"12\"\nports = [1, \"2\"]"},
			want:     map[string]string{"limit": "12", "ports": "[1,2]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := writeVarFiles(t, tt.varFiles, ".hcl")
			cfg, diags := load(t, map[string]string{"cordon.hcl": variablesConfig},
				LoadOptions{Vars: tt.vars, VarFiles: files, Getenv: env(tt.env)})
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:%s", render(diags))
			}
			for name, want := range tt.want {
				v := cfg.Variables[name].Value
				got, err := ctyjson.Marshal(v, v.Type())
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Errorf("var.%s = %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestVariableJSONFile(t *testing.T) {
	files := writeVarFiles(t, []string{`{"sg": "sg-json", "ports": [1, 2]}`}, ".json")
	cfg, diags := load(t, map[string]string{"cordon.hcl": variablesConfig}, LoadOptions{VarFiles: files})
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:%s", render(diags))
	}
	if got := cfg.Variables["sg"].Value.AsString(); got != "sg-json" {
		t.Errorf("var.sg = %q", got)
	}
	if got := cfg.Variables["ports"].Value.LengthInt(); got != 2 {
		t.Errorf("var.ports has %d elements", got)
	}
}

func TestVariableErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		varFiles []string
		vars     []string
		warning  bool
		summary  string
		detail   string
		// at is "file:line:col" (file "var0" is the first var file), or ""
		// for no range.
		at string
	}{
		{name: "-var of the wrong type", vars: []string{"limit=five"},
			summary: "Invalid value for input variable", detail: "var.limit given by -var is not suitable for its type number: a number is required",
			at: "cordon.hcl:6:1"},
		{name: "environment value of the wrong type", env: map[string]string{"CORDON_VAR_limit": "five"},
			summary: "Invalid value for input variable", detail: "given by the environment variable CORDON_VAR_limit",
			at: "cordon.hcl:6:1"},
		{name: "var file value of the wrong type", varFiles: []string{"\nlimit = \"five\""},
			summary: "Invalid value for input variable", detail: "var0.hcl:2,9-15 is not suitable",
			at: "var0:2:9"},
		{name: "complex -var of the wrong type", vars: []string{`ports=["a"]`},
			summary: "Invalid value for input variable", detail: "element 0: a number is required", at: "cordon.hcl:11:1"},
		{name: "object -var missing an attribute", vars: []string{`owner={ pager = "x" }`},
			summary: "Invalid value for input variable", detail: `attribute "team" is required`, at: "cordon.hcl:16:1"},
		{name: "huge -var", vars: []string{"limit=1e8888888"},
			summary: "Number out of range", detail: "var.limit given by -var has a number that is too large", at: "cordon.hcl:6:1"},
		{name: "huge number in a var file", varFiles: []string{"ports = [1, 1e999]"},
			summary: "Number out of range", at: "var0:1:9"},
		{name: "complex -var that does not parse", vars: []string{"ports=[80,"},
			summary: "Missing expression", detail: "The value for var.ports given by -var must be an HCL expression"},
		{name: "complex -var with a reference", vars: []string{"ports=[var.limit]"},
			summary: "Variables not allowed", detail: "must be an HCL expression"},
		{name: "undeclared -var", vars: []string{"limt=3"},
			summary: "Value for undeclared variable", detail: `A variable named "limt" was assigned with -var, but the configuration does not declare it. Did you mean "limit"?`},
		{name: "undeclared in a var file", varFiles: []string{"sg = \"sg-1\"\nsgg = \"sg-2\""}, warning: true,
			summary: "Value for undeclared variable", detail: `Did you mean "sg"?`, at: "var0:2:1"},
		{name: "-var without a value", vars: []string{"limit"},
			summary: "Invalid -var option", detail: "must be a variable name and value separated by an equals sign"},
		{name: "-var without a name", vars: []string{"=3"},
			summary: "Invalid -var option"},
		{name: "missing var file", varFiles: []string{"-"},
			summary: "Cannot read variables file", detail: "no such file or directory"},
		{name: "var file with a block", varFiles: []string{"sg {}\n"},
			summary: "Unexpected \"sg\" block", at: "var0:1:1"},
		{name: "var file with a function call", varFiles: []string{"sg = upper(\"x\")\n"},
			summary: "Function calls not allowed", at: "var0:1:6"},
		{name: "var file that does not parse", varFiles: []string{"sg = = 3\n"},
			summary: "Invalid expression", at: "var0:1:6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := writeVarFiles(t, tt.varFiles, ".hcl")
			_, diags := load(t, map[string]string{"cordon.hcl": variablesConfig},
				LoadOptions{Vars: tt.vars, VarFiles: files, Getenv: env(tt.env)})
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1:%s", len(diags), render(diags))
			}
			d := diags[0]
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) || (d.Severity == hcl.DiagWarning) != tt.warning {
				t.Errorf("got:%s\nwant %q (warning %v) with detail containing %q", render(diags), tt.summary, tt.warning, tt.detail)
			}
			switch {
			case tt.at == "" && d.Subject != nil && !strings.HasPrefix(d.Subject.Filename, "<value for"):
				t.Errorf("diagnostic has a range in %s, want none", d.Subject.Filename)
			case tt.at != "":
				file, pos, _ := strings.Cut(tt.at, ":")
				if file == "var0" {
					file = files[0]
				}
				if d.Subject == nil || d.Subject.Filename != file || rangePos(d.Subject) != pos {
					t.Errorf("got:%s\nwant it at %s:%s", render(diags), file, pos)
				}
			}
		})
	}
}

func TestRequiredVariable(t *testing.T) {
	src := "variable \"sg\" {\n  type = string\n}\n"
	_, diags := load(t, map[string]string{"cordon.hcl": src}, LoadOptions{})
	if len(diags) != 1 || diags[0].Summary != "No value for required variable" || rangePos(diags[0].Subject) != "1:1" {
		t.Errorf("without a value:%s", render(diags))
	}
	for name, opts := range map[string]LoadOptions{
		"-var":        {Vars: []string{"sg=sg-1"}},
		"environment": {Getenv: env(map[string]string{"CORDON_VAR_sg": "sg-1"})},
		"var file":    {VarFiles: writeVarFiles(t, []string{`sg = "sg-1"`}, ".hcl")},
	} {
		cfg, diags := load(t, map[string]string{"cordon.hcl": src}, opts)
		if len(diags) > 0 || cfg.Variables["sg"].Value.AsString() != "sg-1" {
			t.Errorf("set by %s:%s", name, render(diags))
		}
	}
}

func rangePos(r *hcl.Range) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", r.Start.Line, r.Start.Column)
}

// writeVarFiles writes each content to its own file (var0.hcl, var1.hcl
// …) and returns the paths; "-" stands for a file that does not exist.
func writeVarFiles(t *testing.T, contents []string, ext string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, c := range contents {
		p := filepath.Join(dir, fmt.Sprintf("var%d%s", i, ext))
		if c != "-" {
			if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		paths = append(paths, p)
	}
	return paths
}

func TestValuesOption(t *testing.T) {
	files := fstest.MapFS{"main.hcl": {Data: []byte(`
variable "sg" {
  type    = string
  default = "sg-0default"
}
variable "ports" {
  type    = list(number)
  default = [22]
}
`)}}
	cfg, diags := Load(LoadOptions{
		FS:     files,
		Vars:   []string{"sg=sg-0fromvar"},
		Values: map[string]cty.Value{"sg": cty.StringVal("sg-0fromvalues"), "ports": cty.TupleVal([]cty.Value{cty.NumberIntVal(443)})},
		Getenv: func(string) (string, bool) { return "", false },
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := cfg.Variables["sg"].Value.AsString(); got != "sg-0fromvalues" {
		t.Errorf("sg = %q: Values must win over -var", got)
	}
	if got := cfg.Variables["ports"].Value; !got.Type().Equals(cty.List(cty.Number)) || got.LengthInt() != 1 {
		t.Errorf("ports = %#v, want a list(number) converted from the tuple", got)
	}

	_, diags = Load(LoadOptions{
		FS:           files,
		Values:       map[string]cty.Value{"sgg": cty.StringVal("x")},
		ValuesSource: "the plan file",
		Getenv:       func(string) (string, bool) { return "", false },
	})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "the plan file") || !strings.Contains(diags.Error(), `"sg"`) {
		t.Errorf("undeclared value: %v", diags)
	}
	_, diags = Load(LoadOptions{
		FS:     files,
		Values: map[string]cty.Value{"ports": cty.StringVal("not a list")},
		Getenv: func(string) (string, bool) { return "", false },
	})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Invalid value for input variable") {
		t.Errorf("mistyped value: %v", diags)
	}
}
