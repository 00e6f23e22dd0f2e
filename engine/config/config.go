// Package config loads and validates a cordon configuration: the *.hcl
// files of one directory (docs/configuration.md), with their variables, locals, scopes,
// collectors, actions and rules.
//
// Loading works the way Terraform's configuration loader does: every file
// is parsed, every reference (var.X, local.X, scope.X, collector.X,
// action.X, and finding.X / resource.X in conditions) is checked against
// what is declared, and every attribute other than a condition is
// evaluated once, so that a mistake anywhere is a diagnostic with its file,
// line and column before a finding is ever looked at. Conditions are kept
// as expressions and evaluated per finding by EvalCondition.
package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/collectors"
)

// Config is a loaded configuration. A Config returned with error
// diagnostics is incomplete and only good for rendering those diagnostics
// (Files).
type Config struct {
	// Dir is the configuration directory as given.
	Dir string
	// Files holds every parsed file (configuration and -var-file) by
	// display name, for diagnostic snippets.
	Files map[string]*hcl.File
	// Digest is "sha256:<hex>" over the sorted names and contents of the
	// configuration's *.hcl files. Names are base names, so the digest does
	// not depend on how the directory was named on the command line.
	Digest string

	// PolicyPaths are the Rego directories and files, relative to Dir.
	// The default is ["policies"] when that directory exists, else none.
	PolicyPaths []string
	// PolicyPathsRange is policy_paths' range, nil when defaulted.
	PolicyPathsRange *hcl.Range
	State            State
	// Evidence is the cordon block's evidence block; nil without one.
	Evidence *Evidence
	// Provider is nil when there is no provider block.
	Provider *Provider

	Variables  map[string]*Variable
	Locals     map[string]cty.Value
	Scopes     map[string]*Scope
	Collectors map[string]*Collector
	Actions    map[string]*Action
	// Rules are sorted by name.
	Rules []*Rule
	// Sources are the daemon's finding sources, in declaration order.
	Sources []*Source
	// Serve configures the daemon; its defaults when there is no serve
	// block.
	Serve Serve

	// evalCtx has var, local and the functions; conditions evaluate in a
	// child of it that adds finding and resource.
	evalCtx *hcl.EvalContext
	// conditionsUseRaw is whether some condition may read finding.raw
	// (see ConditionValues).
	conditionsUseRaw bool
}

// State configures the state backend (docs/state.md).
type State struct {
	// Backend is "sqlite" (default) or "postgres".
	Backend string
	// Path is the SQLite database, relative to the configuration
	// directory unless absolute (default ".cordon/state.db").
	Path string
	// DSN is the PostgreSQL connection string.
	DSN       string
	DeclRange hcl.Range
}

// State backends.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// DefaultStatePath is the SQLite state database when the configuration
// names none.
const DefaultStatePath = ".cordon/state.db"

// Evidence says where evidence goes (docs/evidence.md):
// the bucket and key prefix of objects of evidence (memory images),
// whether that bucket must have Object Lock, and the forensic account
// snapshots are copied into, re-encrypted under KMSKeyID. Every field is
// optional, but ForensicAccount and KMSKeyID go together.
type Evidence struct {
	Bucket string
	// Prefix has no trailing slash.
	Prefix            string
	RequireObjectLock bool
	ForensicAccount   string
	// KMSKeyID is a key id or key ARN (not an alias).
	KMSKeyID  string
	DeclRange hcl.Range
}

// Provider is the `provider "aws"` block.
type Provider struct {
	Region   string
	Profile  string
	Endpoint string
	// AssumeRoleARN may contain {account}, replaced by the finding's
	// account.
	AssumeRoleARN string
	DeclRange     hcl.Range
}

// Variable is an input variable and its resolved value.
type Variable struct {
	Name        string
	Description string
	// Type is the type constraint (cty.DynamicPseudoType for "any" or no
	// type).
	Type cty.Type
	// Default is cty.NilVal when the variable has no default (it is
	// required).
	Default cty.Value
	// Value is the resolved value: -var, -var-file, CORDON_VAR_name or
	// the default, in that order of precedence. It carries no mark: in
	// expressions, a sensitive variable's value carries SensitiveMark.
	Value cty.Value
	// Sensitive (sensitive = true) means the value is never written to
	// plan files, state, logs or output.
	Sensitive bool
	// Given reports whether a source gave Value (-var, -var-file,
	// CORDON_VAR_name, LoadOptions.Values) rather than the default.
	Given     bool
	DeclRange hcl.Range
}

// Scope says where automation may act. Empty lists and maps match anything.
type Scope struct {
	Name, Description                string
	Accounts, Regions, ResourceTypes []string
	// Tags must all match; ExcludeTags exclude on any match. Values are
	// globs; keys are exact.
	Tags, ExcludeTags map[string]string
	// Condition is nil when absent.
	Condition hcl.Expression
	DeclRange hcl.Range
}

// Collector is a configured collector block.
type Collector struct {
	Name, Type string
	// Timeout is the block's timeout or the type's default.
	Timeout time.Duration
	// Required makes the collector's failure an error of the
	// investigation instead of an error fact.
	Required  bool
	Def       *collectors.Definition
	Impl      collectors.Collector
	DeclRange hcl.Range
}

// Action is a configured action block.
type Action struct {
	Name, Type string
	Def        *actions.Definition
	Impl       actions.Action
	// Config is the decoded attributes (an object conforming to
	// Def.Attributes).
	Config    cty.Value
	DeclRange hcl.Range
}

// Rule is an automation rule: when a finding in its scopes is investigated
// and what the policies may do about it.
type Rule struct {
	Name, Description string
	// Scopes are scope names in the order written; the first matching one
	// is the investigation's scope.
	Scopes []string
	// Sources, FindingTypes and MinSeverity are filters; empty means any.
	Sources      []string
	FindingTypes []string
	MinSeverity  string
	// Condition is nil when absent.
	Condition hcl.Expression
	// Collect are collector names.
	Collect []string
	// Verdict and Response are Rego package paths.
	Verdict, Response string
	// VerdictRange and ResponseRange are the attributes' value ranges, or
	// the block's when defaulted, for diagnostics about the packages.
	VerdictRange, ResponseRange hcl.Range
	// Actions are the action names the response may use, in order.
	Actions []string
	// Approval is "auto" or "manual".
	Approval string
	// MaxActionsPerHour is a guardrail per rule; 0 means unlimited.
	MaxActionsPerHour int
	// AllowSampleFindings lets the rule plan actions that change things
	// for a sample finding (GuardDuty's generated samples); off, only its
	// notifications are planned for one (docs/findings.md).
	AllowSampleFindings bool
	Enabled             bool
	DeclRange           hcl.Range
}

// Rule defaults and enumerations.
const (
	DefaultVerdictPackage  = "cordon.verdict"
	DefaultResponsePackage = "cordon.response"
	ApprovalAuto           = "auto"
	ApprovalManual         = "manual"
)

// EvalContext returns a context with the configuration's variables, locals
// and functions, for evaluating other expressions the way the
// configuration's own are (scenario tests, for example). Callers may add
// variables to it; the configuration is not affected.
//
// Its var and local values carry no SensitiveMark: callers convert what
// they evaluate to Go values, which a mark would make panic.
func (c *Config) EvalContext() *hcl.EvalContext {
	if c == nil || c.evalCtx == nil {
		return &hcl.EvalContext{}
	}
	unmarked := c.evalCtx.NewChild()
	unmarked.Variables = map[string]cty.Value{}
	for _, root := range []string{"var", "local"} {
		if v, ok := c.evalCtx.Variables[root]; ok {
			unmarked.Variables[root], _ = v.UnmarkDeep()
		}
	}
	return unmarked.NewChild()
}
