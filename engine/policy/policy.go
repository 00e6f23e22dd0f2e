// Package policy loads, compiles and evaluates cordon's Rego policies: the
// verdict packages that decide whether a finding is malicious and the
// response packages that choose actions (docs/policies.md).
//
// Policies are Rego v1. They are parsed and compiled once per configuration
// load, with capabilities that leave out every built-in reaching the network,
// the file system, the environment, the clock or randomness, and
// type-checked against the JSON Schema of the input document, so that a
// misspelt input field is a compile error with its position rather than a
// rule that silently never fires. Policies arrive in pull requests, so
// nothing in them may reach past them: schemas in their annotations may not
// refer to files or URLs either. Each package is then evaluated as one
// prepared query over an input document built directly as an OPA value
// (Set.BuildInput), so an evaluation does no compilation and no JSON
// conversion, and the raw finding is converted only as far as some policy
// can read it. Every evaluation runs under a time limit and a bound on heap
// growth (Options.EvalTimeout, Options.EvalMemory), so that a runaway
// policy fails its own evaluation rather than the process.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// Options configure how policies are loaded.
type Options struct {
	// InputSchema is the JSON Schema of the input document; when set, the
	// compiler type-checks every module against it (input.finding.severty is
	// a compile error with file:row:col).
	InputSchema []byte
	// IncludeTests loads *_test.rego too (for `cordon test`; otherwise skipped).
	IncludeTests bool
	// Print receives print() output; nil compiles print() calls away.
	Print io.Writer
	// EvalTimeout bounds each evaluation of a package: zero means
	// DefaultEvalTimeout (5s), a negative value no limit. An evaluation
	// past it is stopped and fails with a *LimitError.
	EvalTimeout time.Duration
	// EvalMemory bounds, in bytes, how much the heap may grow while one
	// evaluation runs: zero means DefaultEvalMemory (256 MiB), a negative
	// value no bound. An evaluation over it is stopped and fails with a
	// *LimitError.
	EvalMemory int64
}

// Set is a compiled set of policies. It is safe for concurrent evaluation
// once loaded.
type Set struct {
	files    map[string]*hcl.File   // display name → source
	modules  map[string]*ast.Module // display name → parsed (not compiled) module
	compiler *ast.Compiler
	schemas  *ast.SchemaSet
	packages []string // sorted
	pkgSet   map[string]bool
	printer  *printer    // nil when print() is compiled away
	input    *projection // what of the input document the policies read
	store    storage.Store
	limits   evalLimits

	prepareMu sync.Mutex                           // serializes preparation
	prepared  atomic.Pointer[map[string]*prepared] // copy-on-write, read lock-free by Eval*
}

// TestSuffix marks Rego test files, loaded only for `cordon test`.
const TestSuffix = "_test.rego"

// Load reads every *.rego file under paths (files or directories, recursive,
// relative to fsys), parses it as Rego v1 and compiles the lot once with the
// restricted capabilities and the input schema.
//
// Diagnostics name files as displayDir joined with the path inside fsys,
// which is also how Files and every error location name them. The returned
// Set is non-nil even with errors, so that Files can render snippets; it must
// not be evaluated then.
func Load(fsys fs.FS, displayDir string, paths []string, opts Options) (*Set, hcl.Diagnostics) {
	s := &Set{
		files:   map[string]*hcl.File{},
		modules: map[string]*ast.Module{},
		pkgSet:  map[string]bool{},
		store:   inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false)),
		limits:  newEvalLimits(opts),
	}
	if opts.Print != nil {
		s.printer = &printer{w: opts.Print}
	}
	empty := map[string]*prepared{}
	s.prepared.Store(&empty)

	rels, diags := FindFiles(fsys, paths, func(name string) bool {
		return opts.IncludeTests || !strings.HasSuffix(name, TestSuffix)
	})
	parserOpts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, rel := range rels {
		name := displayName(displayDir, rel)
		src, err := fs.ReadFile(fsys, rel)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read policy file",
				Detail:   fmt.Sprintf("Reading %s: %v.", name, err),
			})
			continue
		}
		s.files[name] = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		m, err := ast.ParseModuleWithOpts(name, string(src), parserOpts)
		if isEmptyModule(m, err) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Empty policy file",
				Detail:   fmt.Sprintf("%s has no package declaration; every .rego file under the policy paths must be a Rego module.", name),
				Subject:  &hcl.Range{Filename: name, Start: hcl.Pos{Line: 1, Column: 1, Byte: 0}, End: hcl.Pos{Line: 1, Column: 1, Byte: 0}},
			})
			continue
		}
		if err != nil {
			diags = append(diags, errorDiagnostics(err, name, s.files)...)
			continue
		}
		s.modules[name] = m
	}

	if len(opts.InputSchema) > 0 {
		var doc any
		if err := util.UnmarshalJSON(opts.InputSchema, &doc); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid policy input schema",
				Detail:   fmt.Sprintf("The JSON Schema of the policy input does not parse: %v.", err),
			})
		} else {
			s.schemas = ast.NewSchemaSet()
			s.schemas.Put(ast.SchemaRootRef, doc)
		}
	}
	if diags.HasErrors() {
		return s, diags
	}

	c := s.NewCompiler()
	c.Compile(s.modules)
	if c.Failed() {
		return s, append(diags, diagnostics(c.Errors, s.files)...)
	}
	s.compiler = c
	s.input = inputProjection(c)
	for _, m := range c.Modules {
		pkg := packageName(m.Package.Path)
		if !s.pkgSet[pkg] {
			s.pkgSet[pkg] = true
			s.packages = append(s.packages, pkg)
		}
	}
	sort.Strings(s.packages)
	return s, diags
}

// NewCompiler returns a compiler configured as Load configures its own
// (capabilities, input schema, print statements, Rego v1, schema
// annotations that cannot reach outside the policies) but with nothing
// compiled yet: `cordon test` hands it to OPA's test runner, which adds its
// own stages before compiling Modules.
func (s *Set) NewCompiler() *ast.Compiler {
	c := withSchemaRefCheck(ast.NewCompiler()).
		WithCapabilities(Capabilities()).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(s.printer != nil).
		WithUseTypeCheckAnnotations(true)
	if s.schemas != nil {
		c = c.WithSchemas(s.schemas)
	}
	return c
}

// Files returns the source of every policy file by display name, for
// rendering diagnostics with snippets and for digesting the configuration.
func (s *Set) Files() map[string]*hcl.File { return s.files }

// Packages returns the names of the packages the policies define
// ("cordon.ec2.verdict"), sorted.
func (s *Set) Packages() []string { return s.packages }

// HasPackage reports whether some policy declares package pkg.
func (s *Set) HasPackage(pkg string) bool { return s.pkgSet[pkg] }

// Modules returns the parsed, uncompiled modules by display name.
func (s *Set) Modules() map[string]*ast.Module { return s.modules }

// Compiler returns the compiler holding the compiled policies. It is nil
// when Load failed.
func (s *Set) Compiler() *ast.Compiler { return s.compiler }

// FindFiles resolves the policy paths to the Rego files under them that
// keep says to keep, as slash-separated paths inside fsys, sorted and
// without duplicates. Hidden directories (.git, .cordon state) are
// skipped. The test runner lists the test files with it, so tests and
// policies are found the same way.
func FindFiles(fsys fs.FS, paths []string, keep func(name string) bool) ([]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	var out []string
	add := func(rel string) {
		if !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	wanted := func(name string) bool {
		return strings.HasSuffix(name, ".rego") && keep(name)
	}
	for _, p := range paths {
		rel := path.Clean(filepath.ToSlash(p))
		if !fs.ValidPath(rel) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid policy path",
				Detail:   fmt.Sprintf("Policy path %q must be relative to the configuration directory and stay inside it.", p),
			})
			continue
		}
		info, err := fs.Stat(fsys, rel)
		if err != nil {
			detail := fmt.Sprintf("Policy path %q: %v.", p, err)
			if errors.Is(err, fs.ErrNotExist) {
				detail = fmt.Sprintf("Policy path %q does not exist in the configuration directory.", p)
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Policy path not found", Detail: detail})
			continue
		}
		if !info.IsDir() {
			if !strings.HasSuffix(rel, ".rego") {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid policy path",
					Detail:   fmt.Sprintf("Policy path %q is neither a directory nor a .rego file.", p),
				})
			} else if wanted(rel) {
				add(rel)
			}
			continue
		}
		err = fs.WalkDir(fsys, rel, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				// Hidden directories (.git, .cordon state) hold no policies.
				if name != rel && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && wanted(name) {
				add(name)
			}
			return nil
		})
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read policy directory",
				Detail:   fmt.Sprintf("Reading policy path %q: %v.", p, err),
			})
		}
	}
	sort.Strings(out)
	return out, diags
}

// displayName is how diagnostics and locations name a file: the
// configuration directory as the user gave it, joined with the file's path
// inside it.
func displayName(displayDir, rel string) string {
	if displayDir == "" || displayDir == "." {
		return filepath.FromSlash(rel)
	}
	return filepath.Join(displayDir, filepath.FromSlash(rel))
}

// isEmptyModule reports whether a parse found no statements at all.
func isEmptyModule(m *ast.Module, err error) bool {
	var e *ast.Error
	return (m == nil && err == nil) || (errors.As(err, &e) && e.Message == "empty module")
}

// errorDiagnostics converts a parse error, which is normally ast.Errors.
func errorDiagnostics(err error, file string, files map[string]*hcl.File) hcl.Diagnostics {
	var errs ast.Errors
	if errors.As(err, &errs) {
		return diagnostics(errs, files)
	}
	var e *ast.Error
	if errors.As(err, &e) {
		return diagnostics(ast.Errors{e}, files)
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid Rego syntax",
		Detail:   err.Error(),
		Subject:  &hcl.Range{Filename: file, Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 1}},
	}}
}

// packageName renders a package path without its data. prefix: the name a
// rule uses ("cordon.ec2.verdict").
func packageName(p ast.Ref) string {
	return strings.TrimPrefix(p.String(), "data.")
}

// packageRef parses a package name as rules give it ("cordon.verdict"):
// dot-separated Rego identifiers.
func packageRef(pkg string) (ast.Ref, error) {
	parts := strings.Split(pkg, ".")
	ref := make(ast.Ref, 0, len(parts)+1)
	ref = append(ref, ast.DefaultRootDocument)
	for _, p := range parts {
		if !isIdentifier(p) {
			return nil, fmt.Errorf("invalid policy package name %q: a package name is dot-separated identifiers, such as cordon.verdict", pkg)
		}
		ref = append(ref, ast.StringTerm(p))
	}
	return ref, nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}

// prepared holds one package's prepared queries.
type prepared struct {
	name     string
	path     ast.Ref
	verdict  preparedQuery
	response preparedQuery
}

// Prepare compiles the prepared queries of the named packages, once. After
// it, evaluating them does no compilation at all. Packages not prepared are
// prepared on their first evaluation.
func (s *Set) Prepare(ctx context.Context, pkgs []string) error {
	var errs []error
	for _, pkg := range pkgs {
		if _, err := s.lookup(ctx, pkg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// lookup returns a package's prepared queries, preparing them on first use.
func (s *Set) lookup(ctx context.Context, pkg string) (*prepared, error) {
	if p := (*s.prepared.Load())[pkg]; p != nil {
		return p, nil
	}
	if s.compiler == nil {
		return nil, &EvalError{Package: pkg, Message: "the policies did not compile"}
	}
	s.prepareMu.Lock()
	defer s.prepareMu.Unlock()
	cur := *s.prepared.Load()
	if p := cur[pkg]; p != nil {
		return p, nil
	}
	ref, err := packageRef(pkg)
	if err != nil {
		return nil, err
	}
	if !s.pkgSet[pkg] {
		return nil, &EvalError{Package: pkg, Message: "no policy declares package " + pkg}
	}
	p := &prepared{name: pkg, path: ref}
	if p.verdict, err = s.prepareQuery(ctx, verdictQuery(ref)); err != nil {
		return nil, fmt.Errorf("policy %s: preparing the verdict query: %w", pkg, err)
	}
	if p.response, err = s.prepareQuery(ctx, responseQuery(ref)); err != nil {
		return nil, fmt.Errorf("policy %s: preparing the response query: %w", pkg, err)
	}
	next := make(map[string]*prepared, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[pkg] = p
	s.prepared.Store(&next)
	return p, nil
}
