package engine

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/internal/evidence"
)

// IAMPolicy is an IAM policy document.
type IAMPolicy struct {
	Version   string         `json:"Version"`
	Statement []IAMStatement `json:"Statement"`
}

// IAMStatement is one statement of an IAMPolicy.
type IAMStatement struct {
	Sid       string       `json:"Sid"`
	Effect    string       `json:"Effect"`
	Action    []string     `json:"Action"`
	Resource  []string     `json:"Resource"`
	Condition IAMCondition `json:"Condition,omitempty"`
}

// IAMCondition is a statement's Condition element: operator → condition
// key → values.
type IAMCondition map[string]map[string][]string

// permissioner is what action and collector implementations expose for
// the IAM policy: the API actions their code paths call.
type permissioner interface{ Permissions() []string }

// IAMPolicy returns the least-privilege policy for the identity cordon
// acts as (the role it assumes in each account, or its own): for each
// configured action, collector and source type, the statements of exactly
// the API actions its code calls, on the resources they act on, narrowed
// to the configuration's scopes:
//
//   - Resource ARNs name the accounts and regions of the scopes of the
//     rules that can plan an action (or run a collector), "*" where a
//     scope leaves them open. Describe and list calls stay on "*": they
//     support no resource-level permissions.
//   - A statement on an action's target is conditioned on the tags every
//     one of those scopes requires (ec2:ResourceTag/<key>, StringLike when
//     a value is a glob) and on the tags every one of them excludes
//     (StringNotLike), since a target always passes its rule's scope.
//   - Actions no enabled rule lists, and grants for target types no scope
//     holds, get nothing.
//   - When cordon assumes a role, writes to that role itself (inline
//     policies, tags, passing it) are denied outright, so a leaked
//     session cannot widen its own rights.
//
// Statement ids say whose they are: CordonActionEc2Isolate,
// CordonActionEc2IsolateRead, CordonCollectorSsmTriage, CordonSourceSqs.
func (e *Engine) IAMPolicy() IAMPolicy {
	b := policyBuilder{partition: partitionOf(e.providerRegion())}
	for _, name := range sortedKeys(e.cfg.Actions) {
		a := e.cfg.Actions[name]
		scopes := e.scopesOfRules(func(r *config.Rule) bool { return slices.Contains(r.Actions, name) })
		if len(scopes) == 0 {
			continue // no enabled rule can plan it
		}
		b.addGrants("CordonAction", a.Type, grantsOf(a.Impl), scopes)
	}
	for _, name := range sortedKeys(e.cfg.Collectors) {
		c := e.cfg.Collectors[name]
		scopes := e.scopesOfRules(func(r *config.Rule) bool { return slices.Contains(r.Collect, name) })
		if len(scopes) == 0 {
			continue
		}
		b.addGrants("CordonCollector", c.Type, collectorGrants(c), scopes)
	}
	// The daemon's sources read with the same identity (the role in the
	// queue's or the detectors' account).
	for _, s := range e.cfg.Sources {
		b.addGrants("CordonSource", s.Type, sourceGrants(s), []*config.Scope{{}})
	}
	// Sharing snapshots with the forensic account, for the actions and
	// collectors that copy them there.
	if f := e.forensic(); f != nil {
		if scopes := e.snapshotScopes(); len(scopes) > 0 {
			b.addGrants("CordonEvidence", "forensic_share", forensicShareGrants(f.Account), scopes)
		}
	}
	if deny := e.selfProtection(b.statements); deny != nil {
		b.statements = append(b.statements, *deny)
	}
	return IAMPolicy{Version: "2012-10-17", Statement: b.statements}
}

// snapshotTypes are the action and collector types that copy their
// snapshots into the forensic account.
var snapshotTypes = []string{"aws_ec2_snapshot", "aws_ebs_acquire"}

// snapshotScopes are the scopes of the enabled rules that can snapshot
// an instance (and so copy the snapshots into the forensic account).
func (e *Engine) snapshotScopes() []*config.Scope {
	return e.scopesOfRules(func(r *config.Rule) bool {
		for _, name := range r.Actions {
			if a := e.cfg.Actions[name]; a != nil && slices.Contains(snapshotTypes, a.Type) {
				return true
			}
		}
		for _, name := range r.Collect {
			if c := e.cfg.Collectors[name]; c != nil && slices.Contains(snapshotTypes, c.Type) {
				return true
			}
		}
		return false
	})
}

// forensicShareGrants are what the responder role of a workload account
// needs to hand its snapshots to the forensic account: share and unshare
// them with that account only (ec2:Add/userId, ec2:Remove/userId; never
// publicly), only snapshots cordon took (they carry cordon:incident), and
// read the key policy of an encrypted snapshot's key to say which grant
// it lacks. Source: the Service Authorization Reference for Amazon EC2
// and AWS KMS.
func forensicShareGrants(account string) []actions.Grant {
	return []actions.Grant{
		{Name: "ShareSnapshots", Actions: []string{"ec2:ModifySnapshotAttribute"}, Resources: []string{"arn:${Partition}:ec2:${Region}::snapshot/*"},
			Conditions: map[string]map[string][]string{
				"ForAllValues:StringEquals": {"ec2:Add/userId": {account}, "ec2:Remove/userId": {account}},
				"Null":                      {"ec2:Add/group": {"true"}, "ec2:ResourceTag/" + actions.IncidentTagKey: {"false"}},
			}},
		{Name: "ReadKeys", Actions: []string{"kms:DescribeKey", "kms:GetKeyPolicy"}, Resources: []string{"arn:${Partition}:kms:${Region}:${Account}:key/*"}},
	}
}

// ForensicPolicy is the policy of the role cordon assumes in the forensic
// account (the provider's assume_role_arn with that account's id): copy
// the snapshots shared with it, tag the copies as they are made, watch
// them, and use the keys the copies need, its own (kms_key_id) and the
// workload accounts' keys of encrypted snapshots, only through grants for
// AWS services (kms:GrantIsForAWSResource) where a grant is made. It
// fails when the configuration names no forensic account.
func (e *Engine) ForensicPolicy() (IAMPolicy, error) {
	f := e.forensic()
	if f == nil {
		return IAMPolicy{}, fmt.Errorf("the configuration names no forensic account: set forensic_account and kms_key_id in the evidence block of the cordon block")
	}
	scopes := e.snapshotScopes()
	if len(scopes) == 0 {
		return IAMPolicy{}, fmt.Errorf("no enabled rule takes snapshots (action aws_ec2_snapshot or collector aws_ebs_acquire): nothing is copied into account %s", f.Account)
	}
	b := policyBuilder{partition: partitionOf(e.providerRegion())}
	b.addGrants("CordonForensic", "copy", forensicCopyGrants(*f), scopes)
	return IAMPolicy{Version: "2012-10-17", Statement: b.statements}, nil
}

// forensicCopyGrants are the forensic role's grants. Snapshot ARNs have
// no account, so the copies' statements name every snapshot of the
// regions; the workload keys are those of the scopes' accounts.
func forensicCopyGrants(f evidence.Forensic) []actions.Grant {
	grantForAWS := map[string]map[string][]string{"Bool": {"kms:GrantIsForAWSResource": {"true"}}}
	// The configured key: its ARN, or its id in each region.
	forensicKey := "arn:${Partition}:kms:${Region}:" + f.Account + ":key/" + f.KMSKeyID
	switch {
	case strings.HasPrefix(f.KMSKeyID, "arn:") && strings.Contains(f.KMSKeyID, ":key/"):
		forensicKey = f.KMSKeyID
	case strings.HasPrefix(f.KMSKeyID, "arn:") || strings.HasPrefix(f.KMSKeyID, "alias/"):
		// An alias names a key KMS resolves: any key of the account.
		forensicKey = "arn:${Partition}:kms:${Region}:" + f.Account + ":key/*"
	}
	sourceKeys := "arn:${Partition}:kms:${Region}:${Account}:key/*"
	return []actions.Grant{
		{Name: "Snapshots", Actions: []string{"ec2:CopySnapshot"}, Resources: []string{"arn:${Partition}:ec2:${Region}::snapshot/*"}},
		{Name: "TagCopies", Actions: []string{"ec2:CreateTags"}, Resources: []string{"arn:${Partition}:ec2:${Region}::snapshot/*"},
			Conditions: map[string]map[string][]string{"StringEquals": {"ec2:CreateAction": {"CopySnapshot"}}}},
		{Name: "Read", Actions: []string{"ec2:DescribeSnapshots"}, Resources: []string{"*"}},
		{Name: "SourceKeys", Actions: []string{"kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"}, Resources: []string{sourceKeys}},
		{Name: "SourceKeyGrants", Actions: []string{"kms:CreateGrant"}, Resources: []string{sourceKeys}, Conditions: grantForAWS},
		{Name: "Key", Actions: []string{"kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptTo"}, Resources: []string{forensicKey}},
		{Name: "KeyGrants", Actions: []string{"kms:CreateGrant"}, Resources: []string{forensicKey}, Conditions: grantForAWS},
	}
}

// CallerPolicy is the policy of the identity cordon starts from when it
// assumes a role per account: only sts:AssumeRole on that role.
func (e *Engine) CallerPolicy() (IAMPolicy, error) {
	p := e.cfg.Provider
	if p == nil || p.AssumeRoleARN == "" {
		return IAMPolicy{}, fmt.Errorf("the provider block sets no assume_role_arn, so cordon acts as its own identity: give it the policy of `cordon iam-policy`")
	}
	return IAMPolicy{Version: "2012-10-17", Statement: []IAMStatement{{
		Sid: "CordonAssumeResponderRole", Effect: "Allow", Action: []string{"sts:AssumeRole"},
		Resource: []string{roleARNPattern(p.AssumeRoleARN)},
	}}}, nil
}

// PolicyActions lists every API action a policy allows.
func (p IAMPolicy) PolicyActions() map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			out[a] = true
		}
	}
	return out
}

// Size is the policy's size as IAM counts it against its limits: the
// characters of its JSON other than white space.
func (p IAMPolicy) Size() int {
	b, err := json.Marshal(p)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range string(b) {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// IAM's limits on policy size: a managed policy, and all the inline
// policies of a role together.
const (
	ManagedPolicyLimit = 6144
	RoleInlineLimit    = 10240
)

// Split packs the policy's statements, in order, into as few documents of
// at most limit characters (Size) as it can, to attach as several managed
// policies when one would be too large. A statement too large alone is
// split by its resources into statements with numbered ids; one that
// cannot be (a single resource) is returned alone, and err says so.
func (p IAMPolicy) Split(limit int) ([]IAMPolicy, error) {
	var stmts []IAMStatement
	var tooLarge []string
	for _, st := range p.Statement {
		parts := splitStatement(st, limit)
		for _, part := range parts {
			if (IAMPolicy{Version: p.Version, Statement: []IAMStatement{part}}).Size() > limit {
				tooLarge = append(tooLarge, part.Sid)
			}
		}
		stmts = append(stmts, parts...)
	}
	var out []IAMPolicy
	cur := IAMPolicy{Version: p.Version}
	for _, st := range stmts {
		next := IAMPolicy{Version: p.Version, Statement: append(slices.Clone(cur.Statement), st)}
		if len(cur.Statement) > 0 && next.Size() > limit {
			out = append(out, cur)
			next = IAMPolicy{Version: p.Version, Statement: []IAMStatement{st}}
		}
		cur = next
	}
	if len(cur.Statement) > 0 {
		out = append(out, cur)
	}
	if len(tooLarge) > 0 {
		return out, fmt.Errorf("statements %s are larger than %d characters alone", strings.Join(tooLarge, ", "), limit)
	}
	return out, nil
}

// splitStatement halves a statement's resources until each part fits.
func splitStatement(st IAMStatement, limit int) []IAMStatement {
	if (IAMPolicy{Version: "2012-10-17", Statement: []IAMStatement{st}}).Size() <= limit || len(st.Resource) < 2 {
		return []IAMStatement{st}
	}
	half := len(st.Resource) / 2
	a, b := st, st
	a.Resource, b.Resource = st.Resource[:half], st.Resource[half:]
	var out []IAMStatement
	for _, part := range [][]IAMStatement{splitStatement(a, limit), splitStatement(b, limit)} {
		out = append(out, part...)
	}
	for i := range out {
		out[i].Sid = fmt.Sprintf("%sPart%d", st.Sid, i+1)
	}
	return out
}

// roleARNPattern is the provider's assume_role_arn with {account} as a
// wildcard.
func roleARNPattern(arn string) string { return strings.ReplaceAll(arn, "{account}", "*") }

// providerRegion is the provider block's region, "" without one.
func (e *Engine) providerRegion() string {
	if e.cfg.Provider == nil {
		return ""
	}
	return e.cfg.Provider.Region
}

// scopesOfRules returns the scopes of the enabled rules keep selects,
// without repeats, in name order.
func (e *Engine) scopesOfRules(keep func(*config.Rule) bool) []*config.Scope {
	seen := map[string]bool{}
	var out []*config.Scope
	for _, r := range e.cfg.Rules {
		if !r.Enabled || !keep(r) {
			continue
		}
		for _, s := range r.Scopes {
			if sc := e.cfg.Scopes[s]; sc != nil && !seen[s] {
				seen[s] = true
				out = append(out, sc)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// grantsOf is an action's grants, or its permissions on "*" when its type
// does not detail them.
func grantsOf(impl any) []actions.Grant {
	if g, ok := impl.(actions.Granter); ok {
		return g.Grants()
	}
	if p, ok := impl.(permissioner); ok && len(p.Permissions()) > 0 {
		return []actions.Grant{{Actions: p.Permissions(), Resources: []string{"*"}}}
	}
	return nil
}

// selfProtection denies the policy's writes to roles on the role cordon
// assumes: aws_iam_deny_all and revoke_sessions write inline policies onto
// roles, and IAM cannot condition those writes on the policy's name (the
// Service Authorization Reference for IAM lists no such key), so without
// this a leaked responder session could grant itself anything.
func (e *Engine) selfProtection(stmts []IAMStatement) *IAMStatement {
	p := e.cfg.Provider
	if p == nil || p.AssumeRoleARN == "" {
		return nil
	}
	risky := []string{"iam:DeleteRolePolicy", "iam:PassRole", "iam:PutRolePolicy", "iam:TagRole", "iam:UntagRole"}
	var denied []string
	for _, s := range stmts {
		for _, a := range s.Action {
			if slices.Contains(risky, a) && !slices.Contains(denied, a) {
				denied = append(denied, a)
			}
		}
	}
	if len(denied) == 0 {
		return nil
	}
	sort.Strings(denied)
	return &IAMStatement{Sid: "CordonDenyChangingOwnRole", Effect: "Deny", Action: denied, Resource: []string{roleARNPattern(p.AssumeRoleARN)}}
}

// policyBuilder collects statements, merging those of one id.
type policyBuilder struct {
	partition  string
	statements []IAMStatement
}

// addGrants adds a type's grants, narrowed to scopes.
func (b *policyBuilder) addGrants(prefix, typ string, grants []actions.Grant, scopes []*config.Scope) {
	for _, g := range grants {
		if !scopesHoldType(scopes, g.TargetTypes) {
			continue
		}
		st := IAMStatement{Sid: prefix + camel(typ) + g.Name, Effect: "Allow", Action: sortedUnique(g.Actions),
			Resource: b.resources(g.Resources, scopes)}
		cond := IAMCondition{}
		for op, keys := range g.Conditions {
			for k, v := range keys {
				cond.add(op, k, v...)
			}
		}
		if g.TargetTagKey != "" {
			scopeTagConditions(cond, g.TargetTagKey, scopes)
		}
		if len(cond) > 0 {
			st.Condition = cond
		}
		b.add(st)
	}
}

// add merges st into the statement of its id when their effect and
// conditions agree (two action blocks of one type in the same scopes);
// else it is added, its id numbered.
func (b *policyBuilder) add(st IAMStatement) {
	same := 0
	for i := range b.statements {
		cur := &b.statements[i]
		if baseSid(cur.Sid) != st.Sid {
			continue
		}
		same++
		if cur.Effect == st.Effect && canonical(conditionValue(cur.Condition)) == canonical(conditionValue(st.Condition)) {
			cur.Action = sortedUnique(append(cur.Action, st.Action...))
			cur.Resource = sortedUnique(append(cur.Resource, st.Resource...))
			return
		}
	}
	if same > 0 {
		st.Sid = fmt.Sprintf("%s%d", st.Sid, same+1)
	}
	b.statements = append(b.statements, st)
}

// baseSid strips the number add gives a further statement of one id.
func baseSid(sid string) string { return strings.TrimRight(sid, "0123456789") }

// conditionValue is a condition as a JSON-shaped value, for comparison.
func conditionValue(c IAMCondition) map[string]any {
	out := map[string]any{}
	for op, keys := range c {
		m := map[string]any{}
		for k, v := range keys {
			vals := make([]any, len(v))
			for i, s := range v {
				vals[i] = s
			}
			m[k] = vals
		}
		out[op] = m
	}
	return out
}

// resources fills the placeholders of ARN patterns from the scopes: one
// ARN per account and region pair a scope allows, "*" where it allows
// any.
func (b *policyBuilder) resources(patterns []string, scopes []*config.Scope) []string {
	var out []string
	for _, p := range patterns {
		if !strings.Contains(p, "${") {
			out = append(out, p)
			continue
		}
		for _, s := range scopes {
			accounts, regions := s.Accounts, s.Regions
			if len(accounts) == 0 {
				accounts = []string{"*"}
			}
			if len(regions) == 0 {
				regions = []string{"*"}
			}
			for _, acct := range accounts {
				for _, reg := range regions {
					partition := b.partition
					if pp := partitionOf(reg); pp != "aws" {
						partition = pp
					}
					r := strings.NewReplacer("${Partition}", partition, "${Region}", reg, "${Account}", acct).Replace(p)
					out = append(out, r)
				}
			}
		}
	}
	return sortedUnique(out)
}

// partitionOf is the AWS partition of a region (or region pattern).
func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// scopesHoldType reports whether some scope can hold a resource of one
// of types (nil types: any).
func scopesHoldType(scopes []*config.Scope, types []string) bool {
	if types == nil {
		return true
	}
	for _, s := range scopes {
		if len(s.ResourceTypes) == 0 {
			return true
		}
		for _, t := range types {
			if slices.Contains(s.ResourceTypes, t) {
				return true
			}
		}
	}
	return false
}

// scopeTagConditions adds the conditions on a target's tags that hold for
// every target the scopes admit: a key every scope requires must have one
// of their patterns (each scope requires all its keys, so the union of
// the patterns of each key is sound), and a pattern every scope excludes
// for a key must not match. A scope that requires nothing of a key makes
// the key unconstrained. Cordon's globs use * and ? as IAM's StringLike
// does; a literal "${" is escaped as IAM reads it as a policy variable.
func scopeTagConditions(cond IAMCondition, prefix string, scopes []*config.Scope) {
	if len(scopes) == 0 {
		return
	}
	for _, key := range sortedKeys(scopes[0].Tags) {
		var values []string
		everywhere := true
		for _, s := range scopes {
			v, ok := s.Tags[key]
			if !ok {
				everywhere = false
				break
			}
			values = append(values, v)
		}
		if !everywhere {
			continue
		}
		op := "StringEquals"
		if slices.ContainsFunc(values, isGlob) {
			op = "StringLike"
		}
		cond.add(op, prefix+key, escapePolicyValues(values)...)
	}
	for _, key := range sortedKeys(scopes[0].ExcludeTags) {
		pattern := scopes[0].ExcludeTags[key]
		everywhere := true
		for _, s := range scopes[1:] {
			if s.ExcludeTags[key] != pattern {
				everywhere = false
				break
			}
		}
		if !everywhere {
			continue
		}
		op := "StringNotEquals"
		if isGlob(pattern) {
			op = "StringNotLike"
		}
		cond.add(op, prefix+key, escapePolicyValues([]string{pattern})...)
	}
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }

func escapePolicyValues(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ReplaceAll(v, "${", "${$}{")
	}
	return out
}

// add appends values to a condition, without repeats.
func (c IAMCondition) add(op, key string, values ...string) {
	if c[op] == nil {
		c[op] = map[string][]string{}
	}
	c[op][key] = sortedUnique(append(c[op][key], values...))
}

// collectorGrants details a collector's permissions from its type's
// calls; the grants keep only the actions the configured collector makes
// (Permissions), so an option it leaves off grants nothing. Resource
// types and condition keys are the Service Authorization Reference's.
func collectorGrants(c *config.Collector) []actions.Grant {
	p, ok := c.Impl.(permissioner)
	if !ok {
		return nil
	}
	perms := p.Permissions()
	const (
		instance = "arn:${Partition}:ec2:${Region}:${Account}:instance/*"
		volume   = "arn:${Partition}:ec2:${Region}:${Account}:volume/*"
		snapshot = "arn:${Partition}:ec2:${Region}::snapshot/*"
	)
	var grants []actions.Grant
	switch c.Type {
	case "aws_ssm_triage":
		grants = []actions.Grant{
			// ssm:SendCommand is authorized on the document (document*,
			// an AWS-owned document's ARN has no account) and on the
			// instance, whose tags are ssm:resourceTag keys.
			{Name: "Document", Actions: []string{"ssm:SendCommand"}, Resources: []string{"arn:${Partition}:ssm:${Region}::document/AWS-RunShellScript"}},
			{Actions: []string{"ssm:SendCommand"}, Resources: []string{instance}, TargetTagKey: "ssm:resourceTag/"},
			{Name: "Read", Actions: []string{"ssm:CancelCommand", "ssm:GetCommandInvocation"}, Resources: []string{"*"}},
		}
	case "aws_ec2_console":
		grants = []actions.Grant{{Actions: []string{"ec2:GetConsoleOutput", "ec2:GetConsoleScreenshot"}, Resources: []string{instance}, TargetTagKey: "ec2:ResourceTag/"}}
	case "aws_ebs_acquire":
		grants = []actions.Grant{
			{Name: "Read", Actions: []string{"ec2:DescribeInstances", "ec2:DescribeSnapshots"}, Resources: []string{"*"}},
			{Actions: []string{"ec2:CreateSnapshots"}, Resources: []string{instance}, TargetTagKey: "ec2:ResourceTag/"},
			{Name: "Volumes", Actions: []string{"ec2:CreateSnapshots"}, Resources: []string{volume, snapshot}},
			{Name: "TagSnapshots", Actions: []string{"ec2:CreateTags"}, Resources: []string{snapshot},
				Conditions: map[string]map[string][]string{"StringEquals": {"ec2:CreateAction": {"CreateSnapshots"}}}},
		}
	case "aws_ec2_describe":
		grants = []actions.Grant{
			{Name: "Read", Actions: []string{"autoscaling:DescribeAutoScalingInstances", "ec2:DescribeInstanceAttribute", "ec2:DescribeInstances",
				"ec2:DescribeVolumes", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
				"elasticloadbalancing:DescribeTargetHealth"}, Resources: []string{"*"}},
			{Name: "Profiles", Actions: []string{"iam:GetInstanceProfile"}, Resources: []string{"arn:${Partition}:iam::${Account}:instance-profile/*"}},
		}
	case "aws_cloudtrail_events":
		// LookupEvents supports no resource-level permissions.
		grants = []actions.Grant{{Actions: []string{"cloudtrail:LookupEvents"}, Resources: []string{"*"}}}
	case "aws_guardduty_related":
		grants = []actions.Grant{
			{Name: "Detectors", Actions: []string{"guardduty:ListDetectors"}, Resources: []string{"*"}},
			{Actions: []string{"guardduty:GetFindings", "guardduty:ListFindings"}, Resources: []string{"arn:${Partition}:guardduty:${Region}:${Account}:detector/*"}},
		}
	}
	return keepActions(grants, perms)
}

// keepActions keeps of grants the actions in perms, and puts any action
// of perms no grant covers on "*" (a type the table does not know).
func keepActions(grants []actions.Grant, perms []string) []actions.Grant {
	covered := map[string]bool{}
	var out []actions.Grant
	for _, g := range grants {
		var kept []string
		for _, a := range g.Actions {
			if slices.Contains(perms, a) {
				kept = append(kept, a)
				covered[a] = true
			}
		}
		if len(kept) > 0 {
			g.Actions = kept
			out = append(out, g)
		}
	}
	var rest []string
	for _, a := range perms {
		if !covered[a] {
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		out = append(out, actions.Grant{Name: "Other", Actions: rest, Resources: []string{"*"}})
	}
	return out
}

// sourceGrants details a source's calls: an SQS source acts on its queue
// (queue*), a GuardDuty source lists detectors ("*") and reads findings
// of the detectors of its regions (detector*).
func sourceGrants(s *config.Source) []actions.Grant {
	switch s.Type {
	case "sqs":
		arn := queueARN(s.Config)
		return keepActions([]actions.Grant{{Actions: []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"},
			Resources: []string{arn}}}, s.Def.IAMActions)
	case "guardduty":
		account := cfgString(s.Config, "account")
		if account == "" {
			account = "*"
		}
		var regions []string
		if v := cfgAttr(s.Config, "regions"); v.IsKnown() && !v.IsNull() && v.CanIterateElements() {
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
					regions = append(regions, e.AsString())
				}
			}
		}
		if len(regions) == 0 {
			regions = []string{"*"}
		}
		var detectors []string
		for _, r := range regions {
			detectors = append(detectors, fmt.Sprintf("arn:%s:guardduty:%s:%s:detector/*", partitionOf(r), r, account))
		}
		return keepActions([]actions.Grant{
			{Name: "Detectors", Actions: []string{"guardduty:ListDetectors"}, Resources: []string{"*"}},
			{Actions: []string{"guardduty:GetFindings", "guardduty:ListFindings"}, Resources: detectors},
		}, s.Def.IAMActions)
	}
	return []actions.Grant{{Actions: s.Def.IAMActions, Resources: []string{"*"}}}
}

// queueARN is the ARN of the queue a queue URL names:
// https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (or the legacy
// REGION.queue.amazonaws.com). Through another endpoint (VPC endpoint,
// emulator) the region comes from the source's region attribute, else it
// is left open.
func queueARN(cfg cty.Value) string {
	raw := cfgString(cfg, "queue_url")
	u, err := url.Parse(raw)
	parts := []string{}
	if err == nil {
		parts = strings.Split(strings.Trim(u.Path, "/"), "/")
	}
	if err != nil || len(parts) != 2 {
		return "*"
	}
	account, name := parts[0], parts[1]
	region := cfgString(cfg, "region")
	host := ""
	if u != nil {
		host = u.Hostname()
	}
	switch {
	case region != "":
	case strings.HasPrefix(host, "sqs.") && strings.Contains(host, ".amazonaws.com"):
		region = strings.TrimPrefix(strings.SplitN(host, ".amazonaws.com", 2)[0], "sqs.")
	case strings.HasSuffix(host, ".queue.amazonaws.com"):
		region = strings.TrimSuffix(host, ".queue.amazonaws.com")
	default:
		region = "*"
	}
	if a := cfgString(cfg, "account"); a != "" {
		account = a
	}
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", partitionOf(region), region, account, name)
}

func cfgAttr(cfg cty.Value, name string) cty.Value {
	if cfg.IsNull() || !cfg.IsKnown() || !cfg.Type().IsObjectType() || !cfg.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return cfg.GetAttr(name)
}

func cfgString(cfg cty.Value, name string) string {
	v := cfgAttr(cfg, name)
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	v, _ = v.Unmark()
	return v.AsString()
}

// camel turns a type name into a part of a statement id: aws_ec2_isolate
// → Ec2Isolate, sqs → Sqs.
func camel(typ string) string {
	var b strings.Builder
	for _, part := range strings.Split(strings.TrimPrefix(typ, "aws_"), "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	sort.Strings(out)
	return slices.Compact(out)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
