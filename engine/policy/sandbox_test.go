package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// The secret a malicious policy tries to read: a file on the machine
// running cordon, shaped as a JSON Schema so that OPA would report its
// contents (the property name and the enum value) if it ever loaded it.
const (
	secretKey   = "CORDON_SECRET_KEY_7f3a"
	secretValue = "CORDON_SECRET_VALUE_91bc"
)

func writeSecret(t *testing.T) (dir, url string) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, "secret.json")
	doc := fmt.Sprintf(`{"type": "object", "properties": {%q: {"type": "string", "enum": [%q]}}, "additionalProperties": false}`, secretKey, secretValue)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, "file://" + filepath.ToSlash(path)
}

// fileAttacks are policies that try to read the secret file, each with
// the diagnostic that stops it.
func fileAttacks(url string) []struct {
	name, src, summary, detail string
} {
	annotated := func(schema string) string {
		return fmt.Sprintf(`package cordon.verdict

default verdict := "inconclusive"

# METADATA
# schemas:
#   - input.facts.extra: %s
verdict := "malicious" if input.facts.extra.nope == "y"
`, schema)
	}
	return []struct {
		name, src, summary, detail string
	}{
		{
			name: "json.match_schema with a file $ref",
			src: fmt.Sprintf(`package cordon.verdict

default verdict := "inconclusive"

reasons contains e.error if {
	[_, errs] := json.match_schema(input.facts, {"$ref": %q})
	some e in errs
}

verdict := "malicious" if count(reasons) > 0
`, url),
			summary: "Undefined function",
			detail:  "cordon policies cannot call json.match_schema because it loads the files and URLs a schema's $ref names",
		},
		{
			name: "json.verify_schema with a file $ref",
			src: fmt.Sprintf(`package cordon.verdict

default verdict := "inconclusive"

verdict := "malicious" if json.verify_schema({"$ref": %q})[0]
`, url),
			summary: "Undefined function",
			detail:  "cordon policies cannot call json.verify_schema",
		},
		{
			name:    "annotation schema with a file $ref",
			src:     annotated(fmt.Sprintf(`{"$ref": %q}`, url)),
			summary: "Invalid schema annotation",
			detail:  fmt.Sprintf("$ref %q points outside the schema", url),
		},
		{
			name:    "annotation schema with a file $ref deep inside",
			src:     annotated(fmt.Sprintf(`{"type": "object", "properties": {"a": {"allOf": [{"items": {"$ref": %q}}]}}}`, url)),
			summary: "Invalid schema annotation",
			detail:  "points outside the schema",
		},
		{
			name:    "annotation schema whose id makes a fragment mean the file",
			src:     annotated(fmt.Sprintf(`{"$id": %q, "$ref": "#"}`, url)),
			summary: "Invalid schema annotation",
			detail:  "sets a base URI that references would resolve against",
		},
		{
			name:    "annotation schema with a draft-4 id",
			src:     annotated(fmt.Sprintf(`{"id": %q, "properties": {"a": {"$ref": "#/definitions/b"}}}`, url)),
			summary: "Invalid schema annotation",
			detail:  "sets a base URI",
		},
		{
			name:    "annotation schema with a relative $ref",
			src:     annotated(`{"$ref": "secret.json"}`),
			summary: "Invalid schema annotation",
			detail:  `$ref "secret.json" points outside the schema`,
		},
		{
			name:    "annotation schema with an http $ref",
			src:     annotated(`{"$ref": "http://169.254.169.254/latest/meta-data/iam/"}`),
			summary: "Invalid schema annotation",
			detail:  "points outside the schema",
		},
	}
}

// TestPoliciesCannotReadFiles reproduces the review's attack: policies
// that read a local file through a JSON Schema $ref, at evaluation
// (json.match_schema) or while compiling (a METADATA schemas annotation).
// Each must fail to load, as `cordon validate` loads policies, with a clear
// error, and the secret must appear nowhere in what is shown.
func TestPoliciesCannotReadFiles(t *testing.T) {
	schema := readTestdata(t, "input.schema.json")
	dir, url := writeSecret(t)
	t.Chdir(dir) // so that a relative $ref would find the file
	for _, tt := range fileAttacks(url) {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"policies/p.rego": {Data: []byte(tt.src)}}
			s, diags := Load(fsys, displayDir, []string{"policies"}, Options{InputSchema: schema})
			if !diags.HasErrors() {
				t.Fatal("the policy loaded")
			}
			if d := diags[0]; d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("got %q: %s\nwant %q containing %q", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			var out bytes.Buffer
			if err := hcl.NewDiagnosticTextWriter(&out, s.Files(), 100, false).WriteDiagnostics(diags); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), secretKey) || strings.Contains(out.String(), secretValue) {
				t.Errorf("the output shows the secret:\n%s", out.String())
			}
		})
	}
}

// TestTestFilesCannotReadFiles is the same attack from a *_test.rego, as
// `cordon test` runs it: the engine's policies load cleanly, and the test
// module is compiled by OPA's test runner with Set.NewCompiler.
func TestTestFilesCannotReadFiles(t *testing.T) {
	_, url := writeSecret(t)
	ctx := context.Background()
	schema := readTestdata(t, "input.schema.json")
	s, diags := Load(osDir(t), displayDir, []string{"errors/good_field"}, Options{InputSchema: schema})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tt := range fileAttacks(url) {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(tt.src, "package cordon.verdict", "package cordon.verdict_test", 1) +
				"\ntest_verdict if verdict == \"malicious\"\n"
			m, err := ast.ParseModuleWithOpts("cfg/p_test.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
			if err != nil {
				t.Fatal(err)
			}
			modules := map[string]*ast.Module{"cfg/p_test.rego": m}
			for n, pm := range s.Modules() {
				modules[n] = pm
			}
			store := inmem.New()
			txn, err := store.NewTransaction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Abort(ctx, txn)
			ch, err := tester.NewRunner().SetCompiler(s.NewCompiler()).SetStore(store).SetModules(modules).
				SetDefaultRegoVersion(ast.RegoV1).RunTests(ctx, txn)
			if err == nil {
				for r := range ch {
					t.Errorf("test %s ran (fail=%v, error=%v, output %q)", r.Name, r.Fail, r.Error, r.Output)
				}
				t.Fatal("the test module compiled")
			}
			if !strings.Contains(err.Error(), tt.detail) && !strings.Contains(err.Error(), "undefined function") {
				t.Errorf("error %v does not say why", err)
			}
			if strings.Contains(err.Error(), secretKey) || strings.Contains(err.Error(), secretValue) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestFileAttackReproduces checks the attack is real in this OPA version,
// so that the tests above would see the secret if the guards failed: OPA
// configured as cordon was before them (allow_net empty, annotations
// type-checked) reads the file in both ways and shows its contents.
func TestFileAttackReproduces(t *testing.T) {
	_, url := writeSecret(t)
	caps := ast.CapabilitiesForThisVersion()
	caps.AllowNet = []string{}

	src := fmt.Sprintf(`package p

# METADATA
# schemas:
#   - input.facts.extra: {"$ref": %q}
x if input.facts.extra.nope == "y"
`, url)
	m, err := ast.ParseModuleWithOpts("p.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		t.Fatal(err)
	}
	c := ast.NewCompiler().WithCapabilities(caps).WithUseTypeCheckAnnotations(true)
	c.Compile(map[string]*ast.Module{"p.rego": m})
	if !strings.Contains(c.Errors.Error(), secretKey) {
		t.Errorf("compiling did not show the file's contents: %v", c.Errors)
	}

	rs, err := rego.New(
		rego.Query(fmt.Sprintf(`x := json.match_schema({%q: "x"}, {"$ref": %q})`, secretKey, url)),
		rego.Capabilities(caps),
	).Eval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(rs); !strings.Contains(got, secretValue) {
		t.Errorf("json.match_schema did not show the file's contents: %s", got)
	}
}

// TestSchemaAnnotationsInside checks what stays allowed: inline schemas
// whose references stay inside them, and names that only look like
// keywords (a property called "$ref", an enum value {"$id": …}).
func TestSchemaAnnotationsInside(t *testing.T) {
	for _, schema := range []string{
		`{"type": "object", "properties": {"x": {"type": "string"}}}`,
		`{"definitions": {"s": {"type": "string"}}, "type": "object", "properties": {"x": {"$ref": "#/definitions/s"}}}`,
		`{"type": "object", "properties": {"$ref": {"type": "string"}, "id": {"type": "string"}, "x": {"type": "string"}}}`,
		`{"type": "object", "properties": {"x": {"type": "object", "enum": [{"$id": "file:///etc/hostname"}]}}}`,
	} {
		t.Run(schema, func(t *testing.T) {
			src := fmt.Sprintf(`package cordon.verdict

default verdict := "inconclusive"

# METADATA
# schemas:
#   - input.facts.extra: %s
verdict := "malicious" if input.facts.extra.x
`, schema)
			fsys := fstest.MapFS{"policies/p.rego": {Data: []byte(src)}}
			if _, diags := Load(fsys, displayDir, []string{"policies"}, Options{InputSchema: readTestdata(t, "input.schema.json")}); diags.HasErrors() {
				t.Fatal(diagsString(diags))
			}
		})
	}
}

func TestBadSchemaRef(t *testing.T) {
	tests := []struct {
		schema string
		want   string // substring; "" for none
	}{
		{`{"$ref": "#/definitions/a", "definitions": {"a": {}}}`, ""},
		{`{"type": "object", "properties": {"x": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"type": "string"}}}`, ""},
		{`{"items": [{"type": "string"}, {"$ref": "#/items/0"}]}`, ""},
		{`{"properties": {"x": {"$ref": "#/definitions/a~1b"}}, "definitions": {"a/b": {}}}`, ""},
		{`{"properties": {"x": {"$ref": "#/definitions/a%20b"}}, "definitions": {"a b": {}}}`, ""},
		{`{"properties": {"x": {"$ref": "#/definitions/a"}, "y": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {}}}`, ""},
		{`{"properties": {"$ref": {"type": "string"}, "id": {"type": "string"}}}`, ""},
		{`{"const": {"$ref": "x.json"}, "enum": [{"$ref": "x.json"}, {"$id": "x"}]}`, ""},
		{`{"$ref": 3}`, ""}, // not a reference: the loader ignores it too
		{`true`, ""},

		{`{"$ref": "file:///etc/passwd"}`, `$ref "file:///etc/passwd" points outside the schema`},
		{`{"$ref": "other.json#/a"}`, `$ref "other.json#/a" points outside`},
		{`{"$ref": "//host/x"}`, `$ref "//host/x" points outside`},
		{`{"$ref": ""}`, `$ref "" points outside`},
		{`{"items": [{"$ref": "x.json"}]}`, `$ref "x.json"`},
		{`{"properties": {"a": {"$ref": "x.json"}}}`, `$ref "x.json"`},
		{`{"$id": "#a"}`, `$id "#a" sets a base URI`},
		{`{"patternProperties": {"^id$": {"id": "x"}}}`, `id "x" sets a base URI`},
		{`{"$ref": "#a"}`, `$ref "#a" is not a JSON pointer`},
		{`{"$ref": "#/definitions/nope"}`, `$ref "#/definitions/nope" does not point into the schema`},
		{`{"items": [{}], "properties": {"x": {"$ref": "#/items/1"}}}`, "does not point into the schema"},
		{`{"$ref": "#/%zz"}`, "is not a valid reference"},

		{`{"$ref": "#"}`, `$ref "#" is part of a cycle`},
		{`{"type": "object", "properties": {"x": {"$ref": "#"}}}`, `$ref "#" is part of a cycle`},
		{`{"type": "array", "items": {"$ref": "#"}}`, "cycle"},
		{`{"allOf": [{"$ref": "#"}]}`, "cycle"},
		{`{"properties": {"x": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}}`, "cycle"},
		{`{"properties": {"x": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"type": "object", "properties": {"b": {"$ref": "#/definitions/a"}}}}}`, "cycle"},
		{`{"properties": {"x": {"$ref": "#/definitions/a"}}, "definitions": {"a": {"allOf": [{"$ref": "#/definitions/b"}]}, "b": {"items": {"$ref": "#/definitions/a"}}}}`, "cycle"},
	}
	for _, tt := range tests {
		var doc any
		if err := json.Unmarshal([]byte(tt.schema), &doc); err != nil {
			t.Fatalf("%s: %v", tt.schema, err)
		}
		got := badSchemaRef(doc)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("badSchemaRef(%s) = %q, want %q", tt.schema, got, tt.want)
		}
	}
}

// TestRecursiveSchemaAnnotations loads the recursive annotation schemas
// that crash OPA's type checker with a stack overflow: each must be a
// diagnostic, and the test process must survive them.
func TestRecursiveSchemaAnnotations(t *testing.T) {
	for _, schema := range []string{
		`{"$ref": "#"}`,
		`{"anyOf": [{"$ref": "#"}]}`,
		`{"allOf": [{"$ref": "#"}]}`,
		`{"type": "object", "properties": {"x": {"$ref": "#"}}}`,
		`{"type": "array", "items": {"$ref": "#"}}`,
		`{"type": "object", "properties": {"x": {"allOf": [{"$ref": "#"}]}}}`,
		`{"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}, "type": "object", "properties": {"x": {"$ref": "#/definitions/a"}}}`,
		`{"definitions": {"a": {"allOf": [{"$ref": "#/definitions/a"}]}}, "type": "object", "properties": {"x": {"$ref": "#/definitions/a"}}}`,
	} {
		t.Run(schema, func(t *testing.T) {
			src := fmt.Sprintf(`package cordon.verdict

default verdict := "inconclusive"

# METADATA
# schemas:
#   - input.facts.extra: %s
verdict := "malicious" if input.facts.extra.x
`, schema)
			fsys := fstest.MapFS{"policies/p.rego": {Data: []byte(src)}}
			_, diags := Load(fsys, displayDir, []string{"policies"}, Options{InputSchema: readTestdata(t, "input.schema.json")})
			checkDiags(t, diags, []wantDiag{{
				file: "cfg/policies/p.rego", line: 5, col: 1,
				summary: "Invalid schema annotation", detailSubstrings: []string{"is part of a cycle of references"},
			}})
		})
	}
}

// FuzzSchemaAnnotation feeds arbitrary JSON Schemas to the annotation
// check: it must not panic, and a schema it lets through must compile
// without crashing OPA's type checker (a stack overflow kills the fuzzer,
// which reports it).
func FuzzSchemaAnnotation(f *testing.F) {
	for _, s := range []string{
		`{"type": "object", "properties": {"x": {"type": "string"}}}`,
		`{"definitions": {"s": {"type": "string"}}, "properties": {"x": {"$ref": "#/definitions/s"}}}`,
		`{"$ref": "#"}`,
		`{"$id": "file:///etc/hostname", "$ref": "#"}`,
		`{"allOf": [{"$ref": "#/definitions/a"}], "definitions": {"a": {"items": [{"$ref": "#/definitions/b"}]}, "b": {}}}`,
		`{"properties": {"$ref": {"enum": [{"$ref": "x"}]}}}`,
	} {
		f.Add([]byte(s))
	}
	schema, err := os.ReadFile("testdata/input.schema.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc any
		if json.Unmarshal(data, &doc) != nil {
			return
		}
		if badSchemaRef(doc) != "" {
			return
		}
		line, err := json.Marshal(doc)
		if err != nil {
			return
		}
		src := fmt.Sprintf("package p\n\n# METADATA\n# schemas:\n#   - input.facts.extra: %s\nx := input.facts.extra\n", line)
		Load(fstest.MapFS{"p/x.rego": {Data: []byte(src)}}, ".", []string{"p"}, Options{InputSchema: schema})
	})
}
