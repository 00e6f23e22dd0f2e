// Package engine owns cordon's pipeline (SPEC §1): it loads a
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
	"sort"

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
}

// Engine is a loaded, validated configuration with its policies compiled
// and prepared. It is safe for concurrent use.
type Engine struct {
	cfg      *config.Config
	policies *policy.Set
	digest   string
	files    map[string]*hcl.File

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
	e := &Engine{cfg: cfg, files: map[string]*hcl.File{}}
	if cfg != nil {
		for n, f := range cfg.Files {
			e.files[n] = f
		}
	}
	if diags.HasErrors() {
		return e, diags
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

	e.digest = digest(cfg, set)
	e.scopes = make(map[string]*scopeMatcher, len(cfg.Scopes))
	for n, s := range cfg.Scopes {
		e.scopes[n] = compileScope(s)
	}
	for _, r := range cfg.Rules {
		e.rules = append(e.rules, compileRule(r, e.scopes))
	}
	return e, diags
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

// digest hashes the HCL files and the Rego files the policies were loaded
// from, in name order.
func digest(cfg *config.Config, set *policy.Set) string {
	h := sha256.New()
	io.WriteString(h, cfg.Digest)
	files := set.Files()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		io.WriteString(h, "\x00"+n+"\x00")
		h.Write(files[n].Bytes)
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
