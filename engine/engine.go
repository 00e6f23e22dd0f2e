// Package engine owns cordon's pipeline (docs/concepts.md): it loads a
// configuration and its policies once, then for each finding matches
// scopes and rules, gathers facts, evaluates the verdict and response
// policies and plans the response.
//
// The engine knows action and collector types only through their
// registries (packages actions and collectors), and policies only through
// package policy's prepared queries, so each of those grows without
// touching the pipeline.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/schema"
)

// Version is cordon's version, reported by `cordon version` and recorded in
// plans. Release builds set it with -ldflags "-X …/engine.Version=v1.2.3".
var Version = "0.1.0-dev"

// Actions name cordon's version in what they send (a webhook's
// User-Agent); actions cannot import the engine.
func init() { actions.Version = Version }

// Options configure Load.
type Options struct {
	// Dir is the configuration directory (default ".").
	Dir string
	// FS reads the configuration; default os.DirFS(Dir).
	FS fs.FS
	// Vars and VarFiles are -var and -var-file, in command-line order.
	Vars     []string
	VarFiles []string
	// Getenv looks up CORDON_VAR_name and env(); default os.LookupEnv.
	Getenv func(string) (string, bool)
	// Values set variables above every other source (scenario tests, the
	// values a saved plan was made with); ValuesSource names them.
	Values       map[string]cty.Value
	ValuesSource string
	// Debug receives policy print() output and debug logs; nil discards.
	Debug io.Writer
	// IncludeTests loads *_test.rego files too (cordon test).
	IncludeTests bool
	// ConfigOnly loads the HCL configuration and leaves the policies
	// uncompiled: for what reads state and acts on recorded incidents
	// (state, report, revert, iam-policy), which needs no Rego, so that a
	// policy being edited cannot keep a responder from the incident
	// records. The engine cannot plan; its digest is a full load's.
	ConfigOnly bool
}

// Engine is a loaded, validated configuration with its policies compiled
// and prepared. It is safe for concurrent use.
type Engine struct {
	cfg      *config.Config
	policies *policy.Set
	digest   string
	files    map[string]*hcl.File
	// sources are the bytes of the files the digest covers (HCL and Rego),
	// by display name.
	sources map[string][]byte

	scopes map[string]*scopeMatcher
	rules  []*ruleMatcher
}

// Load reads, validates and compiles a configuration and its policies. Any
// error diagnostic means no engine.
func Load(ctx context.Context, opts Options) (*Engine, hcl.Diagnostics) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.FS == nil {
		opts.FS = os.DirFS(opts.Dir)
	}
	cfg, diags := config.Load(config.LoadOptions{
		Dir: opts.Dir, FS: opts.FS, Vars: opts.Vars, VarFiles: opts.VarFiles, Getenv: opts.Getenv,
		Values: opts.Values, ValuesSource: opts.ValuesSource,
	})
	e := &Engine{cfg: cfg, files: map[string]*hcl.File{}, sources: map[string][]byte{}}
	if cfg != nil {
		varFiles := map[string]bool{}
		for _, vf := range opts.VarFiles {
			varFiles[filepath.Clean(vf)] = true
		}
		for n, f := range cfg.Files {
			e.files[n] = f
			if !varFiles[filepath.Clean(n)] {
				e.sources[n] = f.Bytes
			}
		}
	}
	if diags.HasErrors() {
		return e, diags
	}
	if opts.ConfigOnly {
		return e.loadConfigOnly(opts), diags
	}

	collectorTypes := make(map[string]string, len(cfg.Collectors))
	for n, c := range cfg.Collectors {
		collectorTypes[n] = c.Type
	}
	inputSchema, err := schema.InputSchema(collectorTypes)
	if err != nil {
		return e, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot build the policy input schema", Detail: err.Error()})
	}
	popts := policy.Options{InputSchema: inputSchema, IncludeTests: opts.IncludeTests}
	if opts.Debug != nil {
		popts.Print = opts.Debug
	}
	set, pdiags := policy.Load(opts.FS, opts.Dir, cfg.PolicyPaths, popts)
	if set != nil {
		for n, f := range set.Files() {
			e.files[n] = f
		}
	}
	regoFiles := map[string][]byte{}
	if set != nil {
		for n, f := range set.Files() {
			if !strings.HasSuffix(n, policy.TestSuffix) {
				regoFiles[n] = f.Bytes
			}
		}
	}
	diags = append(diags, pdiags...)
	if diags.HasErrors() {
		return e, diags
	}
	e.policies = set

	// Every package a rule names must exist: a typo in `verdict = …` would
	// otherwise make every finding an error at plan time.
	var pkgs []string
	seen := map[string]bool{}
	for _, r := range cfg.Rules {
		for _, ref := range []struct {
			pkg, attr string
			rng       hcl.Range
		}{{r.Verdict, "verdict", r.VerdictRange}, {r.Response, "response", r.ResponseRange}} {
			if !set.HasPackage(ref.pkg) {
				rng := ref.rng
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Policy package not found",
					Detail:   "Rule " + r.Name + "'s " + ref.attr + " package " + ref.pkg + " is not defined by any policy in " + describePaths(cfg.PolicyPaths) + "." + suggestPackage(ref.pkg, set.Packages()),
					Subject:  &rng,
				})
				continue
			}
			if !seen[ref.pkg] {
				seen[ref.pkg] = true
				pkgs = append(pkgs, ref.pkg)
			}
		}
	}
	if diags.HasErrors() {
		return e, diags
	}
	sort.Strings(pkgs)
	if err := set.Prepare(ctx, pkgs); err != nil {
		return e, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot prepare policies", Detail: err.Error()})
	}

	e.setDigest(regoFiles)
	e.compileMatchers()
	return e, diags
}

// loadConfigOnly finishes a ConfigOnly load: the policy files are read,
// for the digest, and not parsed.
func (e *Engine) loadConfigOnly(opts Options) *Engine {
	regoFiles := map[string][]byte{}
	rels, _ := policy.FindFiles(opts.FS, e.cfg.PolicyPaths, func(name string) bool {
		return !strings.HasSuffix(name, policy.TestSuffix)
	})
	for _, rel := range rels {
		if src, err := fs.ReadFile(opts.FS, rel); err == nil {
			regoFiles[policyDisplayName(opts.Dir, rel)] = src
		}
	}
	e.setDigest(regoFiles)
	e.compileMatchers()
	return e
}

// policyDisplayName names a policy file as package policy names it: the
// configuration directory as given, joined with the file's path in it.
func policyDisplayName(dir, rel string) string {
	if dir == "" || dir == "." {
		return filepath.FromSlash(rel)
	}
	return filepath.Join(dir, filepath.FromSlash(rel))
}

func (e *Engine) compileMatchers() {
	e.scopes = make(map[string]*scopeMatcher, len(e.cfg.Scopes))
	for n, s := range e.cfg.Scopes {
		e.scopes[n] = compileScope(s)
	}
	for _, r := range e.cfg.Rules {
		e.rules = append(e.rules, compileRule(r, e.scopes))
	}
}

// setDigest records the policies' sources and digests them with the
// configuration's.
func (e *Engine) setDigest(regoFiles map[string][]byte) {
	for n, b := range regoFiles {
		e.sources[n] = b
	}
	e.digest = digest(e.cfg, regoFiles)
}

// Config returns the loaded configuration.
func (e *Engine) Config() *config.Config { return e.cfg }

// Policies returns the compiled policies.
func (e *Engine) Policies() *policy.Set { return e.policies }

// Files returns every source file (HCL and Rego) by display name, for
// rendering diagnostics with snippets.
func (e *Engine) Files() map[string]*hcl.File { return e.files }

// Digest identifies the configuration and policies: a saved plan is stale
// when it differs.
func (e *Engine) Digest() string { return e.digest }

// FileDigests returns the digest ("sha256:…") of each file Digest covers,
// HCL and Rego, by path relative to the configuration directory (slashes):
// what a plan file records so that a stale plan can name what changed.
func (e *Engine) FileDigests() map[string]string {
	out := make(map[string]string, len(e.sources))
	for n, b := range e.sources {
		rel, err := filepath.Rel(e.cfg.Dir, n)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = n
		}
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// digest hashes the HCL files and the Rego files the policies were loaded
// from, in name order.
func digest(cfg *config.Config, regoFiles map[string][]byte) string {
	h := sha256.New()
	io.WriteString(h, cfg.Digest)
	names := make([]string, 0, len(regoFiles))
	for n := range regoFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		io.WriteString(h, "\x00"+n+"\x00")
		h.Write(regoFiles[n])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func describePaths(paths []string) string {
	if len(paths) == 0 {
		return "the policy paths (none are configured and there is no policies directory)"
	}
	out := ""
	for i, p := range paths {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return out
}
