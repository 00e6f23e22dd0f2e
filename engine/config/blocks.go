package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/collectors"
)

var (
	cordonSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "policy_paths"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "state"}, {Type: "evidence"}},
	}
	evidenceSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "bucket"}, {Name: "prefix"}, {Name: "require_object_lock"},
			{Name: "forensic_account"}, {Name: "kms_key_id"}},
	}
	stateSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "backend"}, {Name: "path"}, {Name: "dsn"}},
	}
	providerSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "region"}, {Name: "profile"}, {Name: "endpoint"}, {Name: "assume_role_arn"}},
	}
	scopeSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "description"}, {Name: "accounts"}, {Name: "regions"}, {Name: "resource_types"},
			{Name: "tags"}, {Name: "exclude_tags"}, {Name: "condition"},
		},
	}
)

// DefaultPolicyPath is the policy directory used when the configuration
// names none and the directory exists.
const DefaultPolicyPath = "policies"

func (l *loader) decodeCordon() {
	blocks := l.blocks["cordon"]
	for _, b := range blocks[min(1, len(blocks)):] {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate cordon block",
			Detail:   fmt.Sprintf("A cordon block was already declared at %s. A configuration has at most one.", blocks[0].DefRange.String()),
			Subject:  b.DefRange.Ptr(),
		})
	}
	var content *hcl.BodyContent
	if len(blocks) > 0 {
		var diags hcl.Diagnostics
		content, diags = blocks[0].Body.Content(cordonSchema)
		l.diags = append(l.diags, diags...)
	}

	if a := attr(content, "policy_paths"); a != nil {
		if paths, ok := l.stringList(a); ok {
			for i, p := range paths {
				l.checkPolicyPath(p, elemRange(a.Expr, i))
			}
			l.cfg.PolicyPaths = paths
			l.cfg.PolicyPathsRange = a.Expr.Range().Ptr()
		}
	} else if info, err := fs.Stat(l.opts.FS, DefaultPolicyPath); err == nil && info.IsDir() {
		l.cfg.PolicyPaths = []string{DefaultPolicyPath}
	}

	if content == nil {
		return
	}
	var states, evidence []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "state":
			states = append(states, b)
		case "evidence":
			evidence = append(evidence, b)
		}
	}
	for _, b := range evidence[min(1, len(evidence)):] {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate evidence block",
			Detail:   fmt.Sprintf("An evidence block was already declared at %s.", evidence[0].DefRange.String()),
			Subject:  b.DefRange.Ptr(),
		})
	}
	if len(evidence) > 0 {
		l.decodeEvidence(evidence[0])
	}
	for _, b := range states[min(1, len(states)):] {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate state block",
			Detail:   fmt.Sprintf("A state block was already declared at %s.", states[0].DefRange.String()),
			Subject:  b.DefRange.Ptr(),
		})
	}
	if len(states) > 0 {
		l.decodeState(states[0])
	}
}

// checkPolicyPath checks a policy path here, where it has a source range;
// the policy loader would report the same without one.
func (l *loader) checkPolicyPath(p string, rng hcl.Range) {
	rel := path.Clean(filepath.ToSlash(p))
	if p == "" || !fs.ValidPath(rel) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid policy path",
			Detail:   fmt.Sprintf("Policy path %q must be relative to the configuration directory and stay inside it.", p),
			Subject:  rng.Ptr(),
		})
		return
	}
	info, err := fs.Stat(l.opts.FS, rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Policy path not found",
			Detail:   fmt.Sprintf("There is no %q in the configuration directory %s.", p, l.opts.Dir),
			Subject:  rng.Ptr(),
		})
	case err != nil:
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read policy path",
			Detail:   fmt.Sprintf("Cannot read %q: %s.", p, unwrapPathError(err)),
			Subject:  rng.Ptr(),
		})
	case !info.IsDir() && !strings.HasSuffix(rel, ".rego"):
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid policy path",
			Detail:   fmt.Sprintf("Policy path %q is neither a directory nor a .rego file.", p),
			Subject:  rng.Ptr(),
		})
	}
}

func (l *loader) decodeState(b *hcl.Block) {
	content, diags := b.Body.Content(stateSchema)
	l.diags = append(l.diags, diags...)
	st := &l.cfg.State
	st.DeclRange = b.DefRange
	if a := attr(content, "backend"); a != nil {
		if s, ok := l.stringValue(a); ok && l.oneOf("state backend", "backend", s, []string{BackendSQLite, BackendPostgres}, a.Expr.Range()) {
			st.Backend = s
		}
	}
	if a := attr(content, "path"); a != nil {
		if s, ok := l.stringValue(a); ok {
			if s == "" {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid state path",
					Detail:   "The state path must name a file, like \".cordon/state.db\".",
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				st.Path = s
			}
		}
	}
	if a := attr(content, "dsn"); a != nil {
		if s, ok := l.stringValue(a); ok {
			st.DSN = s
		}
	}
	// An empty dsn is allowed: dsn = env("CORDON_PG_DSN") must load
	// where the variable is unset (validate, plan); the state backend
	// reports it when it opens.
	if st.Backend == BackendPostgres && attr(content, "dsn") == nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   "The postgres state backend needs a dsn, like dsn = env(\"CORDON_PG_DSN\").",
			Subject:  b.DefRange.Ptr(),
		})
	}
}

func (l *loader) decodeProvider() {
	for _, b := range l.blocks["provider"] {
		name := b.Labels[0]
		if name != "aws" {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported provider",
				Detail:   fmt.Sprintf("cordon responds in AWS only, so the provider block is provider \"aws\"; %q is not supported.", name),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev := l.cfg.Provider; prev != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate provider configuration",
				Detail:   fmt.Sprintf("A provider \"aws\" block was already declared at %s. A configuration has one.", prev.DeclRange.String()),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		p := &Provider{DeclRange: b.DefRange}
		l.cfg.Provider = p
		content, diags := b.Body.Content(providerSchema)
		l.diags = append(l.diags, diags...)
		if a := attr(content, "region"); a != nil {
			p.Region, _ = l.stringValue(a)
		}
		if a := attr(content, "profile"); a != nil {
			p.Profile, _ = l.stringValue(a)
		}
		if a := attr(content, "endpoint"); a != nil {
			if s, ok := l.stringValue(a); ok {
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid endpoint",
						Detail:   fmt.Sprintf("%q is not an absolute http:// or https:// URL.", s),
						Subject:  a.Expr.Range().Ptr(),
					})
				} else {
					p.Endpoint = s
				}
			}
		}
		if a := attr(content, "assume_role_arn"); a != nil {
			if s, ok := l.stringValue(a); ok {
				if !strings.HasPrefix(s, "arn:") || !strings.Contains(s, ":role/") {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid role ARN",
						Detail:   fmt.Sprintf("%q is not an IAM role ARN, like \"arn:aws:iam::{account}:role/CordonResponder\" ({account} is replaced by the finding's account).", s),
						Subject:  a.Expr.Range().Ptr(),
					})
				} else {
					p.AssumeRoleARN = s
				}
			}
		}
	}
}

func (l *loader) decodeScope(b *hcl.Block) {
	s := &Scope{Name: b.Labels[0], DeclRange: b.DefRange}
	l.cfg.Scopes[s.Name] = s
	content, diags := b.Body.Content(scopeSchema)
	l.diags = append(l.diags, diags...)

	if a := attr(content, "description"); a != nil {
		s.Description, _ = l.stringValue(a)
	}
	if a := attr(content, "accounts"); a != nil {
		if accounts, ok := l.stringList(a); ok {
			for i, acct := range accounts {
				if !isAccountID(acct) {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid account ID",
						Detail:   fmt.Sprintf("%q is not an AWS account ID; account IDs are 12 digits, like \"123456789012\".", acct),
						Subject:  elemRange(a.Expr, i).Ptr(),
					})
				}
			}
			s.Accounts = accounts
		}
	}
	if a := attr(content, "regions"); a != nil {
		if regions, ok := l.stringList(a); ok {
			for i, r := range regions {
				if r == "" {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid region",
						Detail:   "A region is a name or a glob, like \"us-west-2\" or \"eu-*\"; it cannot be empty.",
						Subject:  elemRange(a.Expr, i).Ptr(),
					})
				}
			}
			s.Regions = regions
		}
	}
	if a := attr(content, "resource_types"); a != nil {
		if types, ok := l.stringList(a); ok {
			for i, t := range types {
				if !contains(resourceTypes, t) {
					// A warning: a resource type cordon does not know
					// yet matches nothing, but is not wrong.
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagWarning,
						Summary:  "Unknown resource type",
						Detail: fmt.Sprintf("No finding cordon normalizes has resource type %q, so this scope will not match it.%s The known types are %s.",
							t, didYouMean(t, resourceTypes), quotedList(resourceTypes, "and")),
						Subject: elemRange(a.Expr, i).Ptr(),
					})
				}
			}
			s.ResourceTypes = types
		}
	}
	if a := attr(content, "tags"); a != nil {
		s.Tags, _ = l.stringMap(a)
	}
	if a := attr(content, "exclude_tags"); a != nil {
		s.ExcludeTags, _ = l.stringMap(a)
	}
	if a := attr(content, "condition"); a != nil {
		s.Condition = a.Expr
		l.probeCondition(a.Expr)
	}
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decodeEvidence decodes the evidence block, checking each value by its
// real shape where it is written.
func (l *loader) decodeEvidence(b *hcl.Block) {
	content, diags := b.Body.Content(evidenceSchema)
	l.diags = append(l.diags, diags...)
	ev := &Evidence{DeclRange: b.DefRange}
	l.cfg.Evidence = ev
	invalid := func(a *hcl.Attribute, summary, detail string) {
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: a.Expr.Range().Ptr()})
	}
	if a := attr(content, "bucket"); a != nil {
		if s, ok := l.stringValue(a); ok {
			switch {
			case s == "":
				// Not set yet (a variable left empty): a collector that
				// needs the bucket says it is not configured.
			case actions.S3Bucket.Match(s):
				ev.Bucket = s
			default:
				invalid(a, "Invalid S3 bucket name", fmt.Sprintf("%q is not an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit (like %q).", s, actions.S3Bucket.Example))
			}
		}
	}
	if a := attr(content, "prefix"); a != nil {
		if s, ok := l.stringValue(a); ok {
			if p, err := collectors.CleanKeyPrefix(s); err != nil {
				invalid(a, "Invalid key prefix", capitalize(err.Error())+".")
			} else {
				ev.Prefix = p
			}
		}
	}
	if a := attr(content, "require_object_lock"); a != nil {
		ev.RequireObjectLock, _ = l.boolValue(a)
	}
	account := attr(content, "forensic_account")
	if account != nil {
		if s, ok := l.stringValue(account); ok {
			if isAccountID(s) {
				ev.ForensicAccount = s
			} else {
				invalid(account, "Invalid account ID", fmt.Sprintf("%q is not an AWS account ID; account IDs are 12 digits, like \"123456789012\".", s))
			}
		}
	}
	key := attr(content, "kms_key_id")
	if key != nil {
		if s, ok := l.stringValue(key); ok {
			if actions.KMSKey.Match(s) && !strings.Contains(s, "alias/") {
				ev.KMSKeyID = s
			} else {
				invalid(key, "Invalid KMS key", fmt.Sprintf("%q is not a KMS key ID or key ARN (like %q): the copies are encrypted under the forensic account's key, named by its id or ARN, not an alias.", s, actions.KMSKey.Example))
			}
		}
	}
	switch {
	case account != nil && key == nil:
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
			Detail: "With forensic_account, set kms_key_id: the key of the forensic account the snapshot copies are encrypted under.", Subject: b.DefRange.Ptr()})
	case key != nil && account == nil:
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
			Detail: "kms_key_id is the key snapshots are copied under in the forensic account: set forensic_account too.", Subject: b.DefRange.Ptr()})
	}
}

// evidenceFor is the evidence block as collectors see it.
func (c *Config) evidenceFor() collectors.Evidence {
	if c.Evidence == nil {
		return collectors.Evidence{}
	}
	e := c.Evidence
	return collectors.Evidence{Bucket: e.Bucket, Prefix: e.Prefix, RequireObjectLock: e.RequireObjectLock,
		ForensicAccount: e.ForensicAccount, KMSKeyID: e.KMSKeyID}
}
