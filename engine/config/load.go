package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// LoadOptions say where a configuration is and how its variables are set.
type LoadOptions struct {
	// Dir is the configuration directory (default "."). Diagnostics name
	// files relative to it, and file() reads relative to it.
	Dir string
	// FS reads the configuration; default os.DirFS(Dir). The embedded
	// starter set is loaded through it.
	FS fs.FS
	// Vars are -var 'name=value' options in command-line order; a later
	// one wins.
	Vars []string
	// VarFiles are -var-file paths as given (relative to the working
	// directory), in command-line order.
	VarFiles []string
	// Getenv looks up CORDON_VAR_name and serves env(); default
	// os.LookupEnv.
	Getenv func(string) (string, bool)
	// Values set variables from values already typed, above every other
	// source: a scenario test's `variables`, or the values a saved plan was
	// made with. Each is converted to its variable's type; a name the
	// configuration does not declare is an error. Source names the origin
	// in diagnostics ("the plan file").
	Values       map[string]cty.Value
	ValuesSource string
}

// rootSchema is the top level of a configuration file.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "cordon"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "provider", LabelNames: []string{"name"}},
		{Type: "scope", LabelNames: []string{"name"}},
		{Type: "collector", LabelNames: []string{"name"}},
		{Type: "action", LabelNames: []string{"name"}},
		{Type: "rule", LabelNames: []string{"name"}},
		{Type: "source", LabelNames: []string{"type", "name"}},
		{Type: "serve"},
	},
}

// loader carries one Load.
type loader struct {
	opts  LoadOptions
	osFS  bool // FS is the default os.DirFS(Dir): file() may leave it
	cfg   *Config
	diags hcl.Diagnostics
	refs  *refChecker
	ctx   *hcl.EvalContext

	// blocks are the top-level blocks of every file by type, in file
	// order. Named blocks whose name was already taken are left out.
	blocks map[string][]*hcl.Block
	// varDecls are the variables being resolved, by name.
	varDecls map[string]*variableDecl
}

// Load reads and validates the configuration in opts.Dir. It always
// returns a Config; with error diagnostics the Config is incomplete and
// good only for its Files, to render the diagnostics with snippets.
func Load(opts LoadOptions) (*Config, hcl.Diagnostics) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	l := &loader{opts: opts, blocks: map[string][]*hcl.Block{}, varDecls: map[string]*variableDecl{}}
	if l.opts.FS == nil {
		l.opts.FS = os.DirFS(opts.Dir)
		l.osFS = true
	}
	if l.opts.Getenv == nil {
		l.opts.Getenv = os.LookupEnv
	}
	l.cfg = &Config{
		Dir:        opts.Dir,
		Files:      map[string]*hcl.File{},
		Variables:  map[string]*Variable{},
		Locals:     map[string]cty.Value{},
		Scopes:     map[string]*Scope{},
		Collectors: map[string]*Collector{},
		Actions:    map[string]*Action{},
		State:      State{Backend: BackendSQLite, Path: DefaultStatePath},
	}
	funcs := functions(l.readFile, l.opts.Getenv)
	l.refs = newRefChecker(funcs)
	l.ctx = &hcl.EvalContext{Functions: funcs, Variables: map[string]cty.Value{}}
	l.cfg.evalCtx = l.ctx

	if !l.parseFiles() {
		sortDiagnostics(l.diags)
		return l.cfg, l.diags
	}
	l.declare()
	l.checkReferences()
	l.decodeVariables()
	l.resolveVariables()
	l.evaluateLocals()
	l.decodeCordon()
	l.decodeProvider()
	for _, b := range l.blocks["scope"] {
		l.decodeScope(b)
	}
	for _, b := range l.blocks["collector"] {
		l.decodeCollector(b)
	}
	for _, b := range l.blocks["action"] {
		l.decodeAction(b)
	}
	for _, b := range l.blocks["rule"] {
		l.decodeRule(b)
	}
	l.decodeSources()
	l.decodeServe()
	sort.Slice(l.cfg.Rules, func(i, j int) bool { return l.cfg.Rules[i].Name < l.cfg.Rules[j].Name })
	l.cfg.conditionsUseRaw = l.refs.usesRaw
	sortDiagnostics(l.diags)
	return l.cfg, l.diags
}

// sortDiagnostics puts diagnostics in reading order: those about the
// command line first, then by file and position. Loading finds problems
// phase by phase; people read files top to bottom.
func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// parseFiles reads and parses every configuration file and sorts their
// blocks by type. It reports false when there is nothing to go on, or
// when evaluating what there is would not end in reasonable time.
func (l *loader) parseFiles() bool {
	entries, err := fs.ReadDir(l.opts.FS, ".")
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration directory",
			Detail:   fmt.Sprintf("Cannot list %s: %s.", l.opts.Dir, unwrapPathError(err)),
		})
		return false
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && isConfigFile(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail: fmt.Sprintf("The directory %s contains no cordon configuration files (*.hcl, other than *.test.hcl). "+
				"Use -config DIR to load another directory, or `cordon init` to start from the starter configuration.", l.opts.Dir),
		})
		return false
	}
	sort.Strings(names)

	h := sha256.New()
	hopeless := false
	for _, name := range names {
		src, err := fs.ReadFile(l.opts.FS, name)
		display := l.displayName(name)
		if err != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read configuration file",
				Detail:   fmt.Sprintf("Cannot read %s: %s.", display, unwrapPathError(err)),
			})
			continue
		}
		// Length-prefixed, so no two different file sets hash alike.
		fmt.Fprintf(h, "%d:%s\x00%d:", len(name), name, len(src))
		h.Write(src)

		f, diags := hclsyntax.ParseConfig(src, display, hcl.InitialPos)
		l.diags = append(l.diags, diags...)
		if f == nil {
			continue
		}
		l.cfg.Files[display] = f
		if diags := checkNumberLiterals(f.Body); diags.HasErrors() {
			// Evaluating the configuration could take minutes.
			l.diags = append(l.diags, diags...)
			hopeless = true
		}
		content, diags := f.Body.Content(rootSchema)
		l.diags = append(l.diags, diags...)
		for _, b := range content.Blocks {
			l.blocks[b.Type] = append(l.blocks[b.Type], b)
		}
	}
	l.cfg.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return !hopeless
}

// isConfigFile reports whether a directory entry is a configuration file:
// *.hcl but not a scenario test (*.test.hcl), and not an editor's backup
// or lock file (Terraform ignores the same).
func isConfigFile(name string) bool {
	if !strings.HasSuffix(name, ".hcl") || strings.HasSuffix(name, ".test.hcl") {
		return false
	}
	return !strings.HasPrefix(name, ".") && !strings.HasSuffix(name, "~") &&
		!(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

func (l *loader) displayName(name string) string {
	if l.opts.Dir == "." {
		return name
	}
	return filepath.Join(l.opts.Dir, name)
}

// readFile serves file(): paths are relative to the configuration
// directory and read through FS. With the default FS, absolute paths and
// paths leaving the directory are read from disk, as Terraform's file()
// does; an embedded configuration cannot leave its FS.
func (l *loader) readFile(p string) ([]byte, error) {
	clean := path.Clean(filepath.ToSlash(p))
	if fs.ValidPath(clean) {
		return fs.ReadFile(l.opts.FS, clean)
	}
	if l.osFS {
		if !filepath.IsAbs(p) {
			p = filepath.Join(l.opts.Dir, p)
		}
		return os.ReadFile(p)
	}
	return nil, errors.New("the path leaves the configuration directory")
}

// blockKinds names each named block type for messages.
var blockKinds = map[string]string{
	"variable":  "variable",
	"scope":     "scope",
	"collector": "collector",
	"action":    "action",
	"rule":      "rule",
	"provider":  "provider",
}

// declare records every name before anything is evaluated, so references
// can be checked in any order across files. A name declared twice is an
// error at the second declaration, which is then ignored.
func (l *loader) declare() {
	for _, typ := range []string{"variable", "scope", "collector", "action", "rule"} {
		seen := map[string]*hcl.Block{}
		kept := l.blocks[typ][:0]
		for _, b := range l.blocks[typ] {
			name := b.Labels[0]
			if !hclsyntax.ValidIdentifier(name) {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Invalid %s name", blockKinds[typ]),
					Detail:   "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes, so it can be referred to as " + refExample(typ, "NAME") + ".",
					Subject:  b.LabelRanges[0].Ptr(),
				})
				continue
			}
			if prev, dup := seen[name]; dup {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s %q", blockKinds[typ], name),
					Detail: fmt.Sprintf("A %s named %q was already declared at %s. %s names must be unique.",
						blockKinds[typ], name, prev.DefRange.String(), capitalize(blockKinds[typ])),
					Subject: b.DefRange.Ptr(),
				})
				continue
			}
			seen[name] = b
			kept = append(kept, b)
			switch typ {
			case "variable":
				l.refs.vars[name] = true
			case "scope", "collector", "action":
				l.refs.blocks[typ][name] = true
			}
		}
		l.blocks[typ] = kept
	}
	for _, b := range l.blocks["locals"] {
		attrs, _ := b.Body.JustAttributes() // diagnosed in evaluateLocals
		for name := range attrs {
			l.refs.locals[name] = true
		}
	}
}

func refExample(typ, name string) string {
	switch typ {
	case "variable":
		return "var." + name
	case "rule":
		return "rule." + name
	}
	return typ + "." + name
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// checkReferences checks every expression's references before anything
// is evaluated, then completes the evaluation context's placeholders for
// the ones that failed (see refChecker).
func (l *loader) checkReferences() {
	// Variable blocks are not checked: types are type expressions, and
	// defaults are constants (HCL reports references in them as
	// "Variables not allowed").
	for _, typ := range []string{"cordon", "locals", "provider", "scope", "collector", "action", "rule", "source", "serve"} {
		for _, b := range l.blocks[typ] {
			l.checkBody(typ, b.Body, true)
		}
	}
	for root := range l.refs.badRoots {
		l.ctx.Variables[root] = cty.DynamicVal
	}
}

// checkBody checks the expressions of a block's body, and of its nested
// blocks. Conditions see finding and resource; a rule's scopes, collect
// and actions lists are checked when they are decoded, since they are
// references and not values.
func (l *loader) checkBody(typ string, body hcl.Body, top bool) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		attrs, _ := body.JustAttributes()
		for _, a := range attrs {
			l.diags = append(l.diags, l.refs.check(a.Expr, false)...)
		}
		return
	}
	names := sortedKeys(sb.Attributes)
	for _, name := range names {
		a := sb.Attributes[name]
		switch {
		case top && typ == "rule" && (name == "scopes" || name == "collect" || name == "actions"):
			continue
		case top && (typ == "scope" || typ == "rule") && name == "condition":
			l.diags = append(l.diags, l.refs.check(a.Expr, true)...)
		default:
			l.diags = append(l.diags, l.refs.check(a.Expr, false)...)
		}
	}
	for _, nb := range sb.Blocks {
		l.checkBody(typ, nb.Body, false)
	}
}

// setObject sets a root object of the evaluation context (var, local)
// from values plus the placeholders of undeclared names.
func (l *loader) setObject(root string, values map[string]cty.Value) {
	all := l.refs.placeholders(root)
	for k, v := range values {
		all[k] = v
	}
	l.ctx.Variables[root] = cty.ObjectVal(all)
}
