package policy

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
)

func osDir(t testing.TB) fs.FS { return os.DirFS("testdata") }

// wantDiag is the part of a diagnostic the tests pin down.
type wantDiag struct {
	file             string
	line, col        int
	endCol           int // 0: not checked
	summary          string
	detailSubstrings []string
}

func checkDiags(t *testing.T, diags hcl.Diagnostics, want []wantDiag) {
	t.Helper()
	if len(diags) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(diags), len(want), diagsString(diags))
	}
	for i, w := range want {
		d := diags[i]
		if d.Severity != hcl.DiagError {
			t.Errorf("diagnostic %d: severity %v, want error", i, d.Severity)
		}
		if d.Summary != w.summary {
			t.Errorf("diagnostic %d: summary %q, want %q", i, d.Summary, w.summary)
		}
		for _, s := range w.detailSubstrings {
			if !strings.Contains(d.Detail, s) {
				t.Errorf("diagnostic %d: detail %q does not contain %q", i, d.Detail, s)
			}
		}
		if w.file == "" {
			if d.Subject != nil {
				t.Errorf("diagnostic %d: subject %v, want none", i, d.Subject)
			}
			continue
		}
		if d.Subject == nil {
			t.Errorf("diagnostic %d: no subject, want %s:%d,%d", i, w.file, w.line, w.col)
			continue
		}
		r := d.Subject
		if r.Filename != w.file || r.Start.Line != w.line || r.Start.Column != w.col {
			t.Errorf("diagnostic %d: at %s:%d,%d, want %s:%d,%d", i, r.Filename, r.Start.Line, r.Start.Column, w.file, w.line, w.col)
		}
		if w.endCol != 0 && (r.End.Line != w.line || r.End.Column != w.endCol) {
			t.Errorf("diagnostic %d: ends at %d,%d, want %d,%d", i, r.End.Line, r.End.Column, w.line, w.endCol)
		}
	}
}

func diagsString(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Error())
		b.WriteString("\n")
	}
	return b.String()
}

func TestLoadDiagnostics(t *testing.T) {
	schema := readTestdata(t, "input.schema.json")
	tests := []struct {
		dir  string
		want []wantDiag
	}{
		{"syntax", []wantDiag{{
			file: "cfg/errors/syntax/policy.rego", line: 6, col: 1, endCol: 2,
			summary: "Invalid Rego syntax", detailSubstrings: []string{"unexpected } token"},
		}}},
		{"unsafe", []wantDiag{{
			file: "cfg/errors/unsafe/policy.rego", line: 4, col: 2, endCol: 7,
			summary: "Unsafe variable in Rego", detailSubstrings: []string{"var x is unsafe"},
		}}},
		{"http_send", []wantDiag{{
			file: "cfg/errors/http_send/policy.rego", line: 3, col: 10,
			summary:          "Undefined function",
			detailSubstrings: []string{"undefined function http.send", "because it reaches the network"},
		}}},
		{"now", []wantDiag{{
			file: "cfg/errors/now/policy.rego", line: 6, col: 2,
			summary:          "Undefined function",
			detailSubstrings: []string{"undefined function time.now_ns", "because it reads the clock"},
		}}},
		{"lookup", []wantDiag{{
			file: "cfg/errors/lookup/policy.rego", line: 4, col: 13,
			summary:          "Undefined function",
			detailSubstrings: []string{"undefined function net.lookup_ip_addr"},
		}}},
		{"rand", []wantDiag{{
			file: "cfg/errors/rand/policy.rego", line: 3, col: 27,
			summary:          "Undefined function",
			detailSubstrings: []string{"undefined function rand.intn", "because it is random"},
		}}},
		{"match_schema", []wantDiag{{
			file: "cfg/errors/match_schema/policy.rego", line: 5, col: 13,
			summary:          "Undefined function",
			detailSubstrings: []string{"undefined function json.match_schema", "because it loads the files and URLs a schema's $ref names"},
		}}},
		{"verify_schema", []wantDiag{{
			file: "cfg/errors/verify_schema/policy.rego", line: 6, col: 24,
			summary:          "Undefined function",
			detailSubstrings: []string{"undefined function json.verify_schema", "because it loads the files and URLs a schema's $ref names"},
		}}},
		{"annotation_file", []wantDiag{{
			file: "cfg/errors/annotation_file/policy.rego", line: 7, col: 1,
			summary:          "Invalid schema annotation",
			detailSubstrings: []string{`schemas annotation for input.facts.extra: $ref "file:///etc/hostname" points outside the schema`, "never to a file or URL"},
		}}},
		{"annotation_id", []wantDiag{{
			file: "cfg/errors/annotation_id/policy.rego", line: 7, col: 1,
			summary:          "Invalid schema annotation",
			detailSubstrings: []string{`$id "file:///etc/hostname" sets a base URI`},
		}}},
		{"typo", []wantDiag{{
			file: "cfg/errors/typo/policy.rego", line: 6, col: 2, endCol: 23,
			summary:          "Undefined reference",
			detailSubstrings: []string{"undefined ref: input.finding.severty", `Did you mean "severity"?`, "have: \"severty\""},
		}}},
		{"multi", []wantDiag{
			{file: "cfg/errors/multi/a.rego", line: 3, col: 27, endCol: 48, summary: "Undefined reference",
				detailSubstrings: []string{"input.finding.sevrity", `Did you mean "severity"?`}},
			{file: "cfg/errors/multi/b.rego", line: 3, col: 43, endCol: 64, summary: "Undefined reference",
				detailSubstrings: []string{"input.verdict.verdcit", `Did you mean "verdict"?`}},
		}},
		{"good_field", nil},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			s, diags := Load(osDir(t), displayDir, []string{"errors/" + tt.dir}, Options{InputSchema: schema})
			checkDiags(t, diags, tt.want)
			if s == nil {
				t.Fatal("Load returned no Set")
			}
			// Every diagnostic's file is in Files, so the CLI can show it.
			for _, d := range diags {
				if d.Subject != nil && s.Files()[d.Subject.Filename] == nil {
					t.Errorf("diagnostic names %s, which Files does not hold", d.Subject.Filename)
				}
			}
			if len(tt.want) == 0 && !s.HasPackage("cordon.verdict") {
				t.Error("cordon.verdict is not a package")
			}
		})
	}
}

// TestTypoWithoutSchema shows what the schema buys: without it, the typo
// compiles (and would silently never match).
func TestTypoWithoutSchema(t *testing.T) {
	_, diags := Load(osDir(t), displayDir, []string{"errors/typo"}, Options{})
	if diags.HasErrors() {
		t.Fatalf("without a schema the typo should compile: %v", diags)
	}
}

// TestDiagnosticSnippet renders a diagnostic the way the CLI does and checks
// the snippet shows the offending line.
func TestDiagnosticSnippet(t *testing.T) {
	s, diags := Load(osDir(t), displayDir, []string{"errors/typo"}, Options{InputSchema: readTestdata(t, "input.schema.json")})
	var buf bytes.Buffer
	w := hcl.NewDiagnosticTextWriter(&buf, s.Files(), 100, false)
	if err := w.WriteDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error: Undefined reference",
		"on cfg/errors/typo/policy.rego line 6:",
		`   6: 	input.finding.severty == "high"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered diagnostic lacks %q:\n%s", want, out)
		}
	}
}

func TestLoadPaths(t *testing.T) {
	pkg := func(name string) []byte { return []byte("package " + name + "\n\nx := 1\n") }
	fsys := fstest.MapFS{
		"policies/a.rego":            {Data: pkg("p.a")},
		"policies/sub/b.rego":        {Data: pkg("p.b")},
		"policies/a_test.rego":       {Data: pkg("p.a_test")},
		"policies/notes.md":          {Data: []byte("# not rego")},
		"policies/.hidden/c.rego":    {Data: pkg("p.hidden")},
		"extra/d.rego":               {Data: pkg("p.d")},
		"extra/e_test.rego":          {Data: pkg("p.e_test")},
		"README.md":                  {Data: []byte("readme")},
		"broken/x.rego":              {Data: []byte("# nothing but a comment\n")},
		"policies/sub/deeper/f.rego": {Data: pkg("p.f")},
	}
	tests := []struct {
		name      string
		paths     []string
		tests     bool
		wantFiles []string
		wantDiags []wantDiag
		wantPkgs  []string
	}{
		{
			name:      "directory, recursive, tests and hidden skipped",
			paths:     []string{"policies"},
			wantFiles: []string{"cfg/policies/a.rego", "cfg/policies/sub/b.rego", "cfg/policies/sub/deeper/f.rego"},
			wantPkgs:  []string{"p.a", "p.b", "p.f"},
		},
		{
			name:      "tests included",
			paths:     []string{"policies", "extra"},
			tests:     true,
			wantFiles: []string{"cfg/extra/d.rego", "cfg/extra/e_test.rego", "cfg/policies/a.rego", "cfg/policies/a_test.rego", "cfg/policies/sub/b.rego", "cfg/policies/sub/deeper/f.rego"},
			wantPkgs:  []string{"p.a", "p.a_test", "p.b", "p.d", "p.e_test", "p.f"},
		},
		{
			name:      "files and overlapping paths load once",
			paths:     []string{"./policies/a.rego", "policies", "extra/d.rego", "extra/e_test.rego"},
			wantFiles: []string{"cfg/extra/d.rego", "cfg/policies/a.rego", "cfg/policies/sub/b.rego", "cfg/policies/sub/deeper/f.rego"},
			wantPkgs:  []string{"p.a", "p.b", "p.d", "p.f"},
		},
		{
			name:      "no paths",
			paths:     nil,
			wantFiles: []string{},
			wantPkgs:  nil,
		},
		{
			name:  "missing path",
			paths: []string{"nope"},
			wantDiags: []wantDiag{{summary: "Policy path not found",
				detailSubstrings: []string{`Policy path "nope" does not exist`}}},
		},
		{
			name:  "path outside the configuration",
			paths: []string{"../elsewhere", "/etc/policies"},
			wantDiags: []wantDiag{
				{summary: "Invalid policy path", detailSubstrings: []string{`"../elsewhere" must be relative`}},
				{summary: "Invalid policy path", detailSubstrings: []string{`"/etc/policies" must be relative`}},
			},
		},
		{
			name:  "not rego",
			paths: []string{"README.md"},
			wantDiags: []wantDiag{{summary: "Invalid policy path",
				detailSubstrings: []string{`"README.md" is neither a directory nor a .rego file`}}},
		},
		{
			name:  "empty file",
			paths: []string{"broken"},
			wantDiags: []wantDiag{{file: "cfg/broken/x.rego", line: 1, col: 1, summary: "Empty policy file",
				detailSubstrings: []string{"cfg/broken/x.rego has no package declaration"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, diags := Load(fsys, displayDir, tt.paths, Options{IncludeTests: tt.tests})
			if tt.wantDiags != nil {
				checkDiags(t, diags, tt.wantDiags)
				return
			}
			if diags.HasErrors() {
				t.Fatal(diagsString(diags))
			}
			var files []string
			for n := range s.Files() {
				files = append(files, n)
			}
			sort.Strings(files)
			if len(files) == 0 {
				files = []string{}
			}
			if !reflect.DeepEqual(files, tt.wantFiles) {
				t.Errorf("files %q, want %q", files, tt.wantFiles)
			}
			if len(s.Modules()) != len(tt.wantFiles) {
				t.Errorf("%d modules, want %d", len(s.Modules()), len(tt.wantFiles))
			}
			if !reflect.DeepEqual(s.Packages(), tt.wantPkgs) {
				t.Errorf("packages %q, want %q", s.Packages(), tt.wantPkgs)
			}
			for _, p := range tt.wantPkgs {
				if !s.HasPackage(p) {
					t.Errorf("HasPackage(%q) = false", p)
				}
			}
			if s.HasPackage("p") {
				t.Error(`HasPackage("p") = true for a prefix of packages`)
			}
			if s.Compiler() == nil || s.Compiler().Failed() {
				t.Error("no compiled compiler")
			}
		})
	}
}

func TestLoadInvalidSchema(t *testing.T) {
	_, diags := Load(osDir(t), displayDir, []string{"errors/good_field"}, Options{InputSchema: []byte("{not json")})
	checkDiags(t, diags, []wantDiag{{summary: "Invalid policy input schema", detailSubstrings: []string{"does not parse"}}})
}

// TestIncludeTests checks *_test.rego loads only when asked, and that the
// compiler then holds the test rules for `cordon test`.
func TestIncludeTests(t *testing.T) {
	schema := readTestdata(t, "input.schema.json")
	without, diags := Load(osDir(t), displayDir, []string{"eval"}, Options{InputSchema: schema})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	with, diags := Load(osDir(t), displayDir, []string{"eval"}, Options{InputSchema: schema, IncludeTests: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	const testFile = "cfg/eval/verdict_test.rego"
	if _, ok := without.Files()[testFile]; ok || without.HasPackage("verdict.full_test") {
		t.Error("test file loaded without IncludeTests")
	}
	if _, ok := with.Files()[testFile]; !ok || !with.HasPackage("verdict.full_test") {
		t.Error("test file not loaded with IncludeTests")
	}
	rules := with.Compiler().GetRulesExact(ast.MustParseRef("data.verdict.full_test.test_malicious"))
	if len(rules) != 1 {
		t.Errorf("compiler holds %d test_malicious rules, want 1", len(rules))
	}
	if len(with.Modules()) != len(without.Modules())+1 {
		t.Errorf("%d modules with tests, %d without", len(with.Modules()), len(without.Modules()))
	}
	// A fresh compiler configured the same way compiles the same modules.
	c := with.NewCompiler()
	if c.Compile(with.Modules()); c.Failed() {
		t.Fatal(c.Errors)
	}
}

func TestPrint(t *testing.T) {
	fsys := fstest.MapFS{"policies/p.rego": {Data: []byte(`package cordon.verdict

verdict := "benign" if {
	print("severity", input.finding.severity)
	true
}
`)}}
	input := testInput(t)
	ctx := context.Background()

	var buf bytes.Buffer
	s, diags := Load(fsys, ".", []string{"policies"}, Options{Print: &buf})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := s.EvalVerdict(ctx, "cordon.verdict", input); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "policies/p.rego:4: severity high\n"; got != want {
		t.Errorf("print output %q, want %q", got, want)
	}

	// Locate evaluates again, silently.
	fsys["policies/r.rego"] = &fstest.MapFile{Data: []byte(`package cordon.response

actions contains {"action": "nope"} if {
	print("response")
	true
}
`)}
	buf.Reset()
	s, diags = Load(fsys, ".", []string{"policies"}, Options{Print: &buf})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := s.EvalResponse(ctx, "cordon.response", input); err != nil {
		t.Fatal(err)
	}
	if _, line, ok := s.Locate(ctx, "cordon.response", input, ResponseAction{Action: "nope"}); !ok || line != 3 {
		t.Errorf("Locate: line %d, found %v", line, ok)
	}
	if got, want := buf.String(), "policies/r.rego:4: response\n"; got != want {
		t.Errorf("print output %q, want %q", got, want)
	}

	s, diags = Load(fsys, ".", []string{"policies"}, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := s.EvalVerdict(ctx, "cordon.verdict", input); err != nil {
		t.Fatal(err)
	}
	// Compiled away: nothing references an output, and nothing fails.
	for _, m := range s.Compiler().Modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() && strings.Contains(e.Operator().String(), "print") {
				t.Errorf("print call left in the compiled policy: %v", e)
			}
			return false
		})
	}
}

func TestCapabilities(t *testing.T) {
	c := Capabilities()
	have := map[string]bool{}
	for _, b := range c.Builtins {
		have[b.Name] = true
	}
	all := map[string]bool{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		all[b.Name] = true
	}
	for name := range removed {
		if have[name] {
			t.Errorf("%s is still available", name)
		}
		if !all[name] {
			t.Errorf("%s is not a built-in of this OPA version; removed is stale", name)
		}
	}
	if len(have) != len(all)-len(removed) {
		t.Errorf("%d built-ins kept of %d, with %d removed", len(have), len(all), len(removed))
	}
	for _, keep := range []string{"time.parse_rfc3339_ns", "net.cidr_contains", "io.jwt.decode", "print", "internal.print", "sprintf"} {
		if !have[keep] {
			t.Errorf("%s was removed", keep)
		}
	}
	if c.AllowNet == nil || len(c.AllowNet) != 0 {
		t.Errorf("allow_net = %#v, want empty (no host)", c.AllowNet)
	}
}

// FuzzLoad feeds arbitrary sources to Load: it must not panic, and every
// diagnostic must point inside its file, since the CLI slices the source by
// its byte offsets.
func FuzzLoad(f *testing.F) {
	seeds, _ := fs.Glob(os.DirFS("testdata"), "*/*.rego")
	more, _ := fs.Glob(os.DirFS("testdata"), "errors/*/*.rego")
	for _, name := range append(seeds, more...) {
		b, err := os.ReadFile("testdata/" + name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("package p\n\nx := \"é\" + y\n"))
	f.Add([]byte("package p\n\n\tx\t:= input.finding.severty"))
	schema, err := os.ReadFile("testdata/input.schema.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{"p/x.rego": {Data: src}}
		s, diags := Load(fsys, ".", []string{"p"}, Options{InputSchema: schema})
		for _, d := range diags {
			if d.Subject == nil {
				continue
			}
			r := d.Subject
			if r.Filename != "p/x.rego" {
				t.Fatalf("diagnostic names %q", r.Filename)
			}
			if r.Start.Byte < 0 || r.End.Byte < r.Start.Byte || r.End.Byte > len(src) {
				t.Fatalf("range %d..%d outside a %d-byte file: %s", r.Start.Byte, r.End.Byte, len(src), d.Error())
			}
		}
		var buf bytes.Buffer
		if err := hcl.NewDiagnosticTextWriter(&buf, s.Files(), 80, false).WriteDiagnostics(diags); err != nil {
			t.Fatal(err)
		}
	})
}
