package config

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/schema"
)

// FuzzLoad loads arbitrary input as cordon.hcl, with an arbitrary -var
// option, and when it loads evaluates every condition on sample findings:
// nothing may panic, and every diagnostic must be complete.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*.hcl"))
	more, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.hcl"))
	for _, p := range append(seeds, more...) {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "isolation_sg=sg-1")
	}
	f.Add([]byte("locals {\n  a = [for x in local.b : x]\n  b = { for k, v in var.m : k => v... }\n}\nvariable \"m\" { type = map(list(string)) }\n"), `m={ a = ["x"] }`)
	f.Add([]byte("variable \"o\" {\n  type = object({ a = optional(list(number), [1]) })\n}\n"), `o={}`)
	f.Add([]byte("scope \"s\" {\n  condition = alltrue([for r in finding.resources : r.type == \"aws_instance\"])\n}\n"), "")
	f.Add([]byte("scope \"s\" {\n  condition = finding.resources[*].id[0] == \"x\" && finding.raw[\"a\"].b > 1\n}\n"), "=")

	findings := []*schema.Finding{webInstance(f), privateInstance(), accessKey()}

	f.Fuzz(func(t *testing.T, src []byte, varOption string) {
		fsys := fstest.MapFS{
			"cordon.hcl":          {Data: src},
			"banner.txt":          {Data: []byte("banner")},
			"facts/evidence.json": {Data: []byte("{}")},
			"policies/a.rego":     {Data: []byte("package a\n")},
		}
		cfg, diags := Load(LoadOptions{
			FS: fsys, Getenv: noEnv,
			Vars: []string{varOption},
		})
		if cfg == nil {
			t.Fatal("Load returned no Config")
		}
		for _, d := range diags {
			if d.Summary == "" || (d.Severity != hcl.DiagError && d.Severity != hcl.DiagWarning) {
				t.Fatalf("incomplete diagnostic %#v", d)
			}
			if d.Subject != nil && d.Subject.Filename == "cordon.hcl" && d.Subject.Start.Byte > len(src) {
				t.Fatalf("diagnostic past the end of the file: %#v", d)
			}
		}
		if diags.HasErrors() {
			return
		}
		var exprs []hcl.Expression
		for _, s := range cfg.Scopes {
			exprs = append(exprs, s.Condition)
		}
		for _, r := range cfg.Rules {
			exprs = append(exprs, r.Condition)
		}
		for _, e := range exprs {
			for _, f := range findings {
				ok, diags := cfg.EvalCondition(e, FindingValue(f), ResourceValue(&f.Resource))
				if ok && diags.HasErrors() {
					t.Fatalf("a condition that failed matched:%s", render(diags))
				}
			}
		}
	})
}
