package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// scopeMatcher is a scope compiled for matching many findings.
type scopeMatcher struct {
	cfg           *config.Scope
	accounts      map[string]bool // nil: any
	regions       globs
	resourceTypes map[string]bool // nil: any
	tags          []tagGlob
	excludeTags   []tagGlob
}

type tagGlob struct {
	key   string
	value glob
}

// ruleMatcher is a rule compiled for matching.
type ruleMatcher struct {
	cfg          *config.Rule
	scopes       []*scopeMatcher
	sources      map[string]bool // nil: any
	findingTypes globs
	minRank      int // -1: any
	allowed      map[string]bool
}

func compileScope(s *config.Scope) *scopeMatcher {
	m := &scopeMatcher{cfg: s, regions: compileGlobs(s.Regions)}
	if len(s.Accounts) > 0 {
		m.accounts = toSet(s.Accounts)
	}
	if len(s.ResourceTypes) > 0 {
		m.resourceTypes = toSet(s.ResourceTypes)
	}
	m.tags = compileTagGlobs(s.Tags)
	m.excludeTags = compileTagGlobs(s.ExcludeTags)
	return m
}

func compileTagGlobs(tags map[string]string) []tagGlob {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]tagGlob, len(keys))
	for i, k := range keys {
		out[i] = tagGlob{key: k, value: compileGlob(tags[k])}
	}
	return out
}

func toSet(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// matchStatic applies every filter but the condition to the finding's
// primary resource.
func (m *scopeMatcher) matchStatic(f *schema.Finding) bool {
	return m.matchResource(f.Account, f.Region, &f.Resource)
}

// matchResource applies every filter but the condition to a resource in
// an account and region: the finding's primary resource when matching,
// any target of a response when planning and applying (docs/configuration.md).
func (m *scopeMatcher) matchResource(account, region string, r *schema.Resource) bool {
	if m.accounts != nil && !m.accounts[account] {
		return false
	}
	if len(m.regions) > 0 && !m.regions.matchAny(region) {
		return false
	}
	if m.resourceTypes != nil && !m.resourceTypes[r.Type] {
		return false
	}
	for _, t := range m.tags {
		v, ok := r.Tags[t.key]
		if !ok || !t.value.match(v) {
			return false
		}
	}
	return m.excludedBy(r.Tags) == nil
}

// excludedBy returns the first exclude tag of the scope that tags carry,
// or nil.
func (m *scopeMatcher) excludedBy(tags map[string]string) *tagGlob {
	for i, t := range m.excludeTags {
		if v, ok := tags[t.key]; ok && t.value.match(v) {
			return &m.excludeTags[i]
		}
	}
	return nil
}

// matchStatic applies the rule's own filters but the condition.
func (m *ruleMatcher) matchStatic(f *schema.Finding) bool {
	if !m.cfg.Enabled {
		return false
	}
	if m.sources != nil && !m.sources[f.Source] {
		return false
	}
	if !m.findingTypes.matchAny(f.Type) {
		return false
	}
	if m.minRank >= 0 {
		rank, ok := schema.SeverityRank(f.Severity)
		if !ok || rank < m.minRank {
			return false
		}
	}
	return true
}

func compileRule(r *config.Rule, scopes map[string]*scopeMatcher) *ruleMatcher {
	m := &ruleMatcher{cfg: r, findingTypes: compileGlobs(r.FindingTypes), minRank: -1, allowed: toSet(r.Actions)}
	for _, name := range r.Scopes {
		m.scopes = append(m.scopes, scopes[name])
	}
	if len(r.Sources) > 0 {
		m.sources = toSet(r.Sources)
	}
	if r.MinSeverity != "" {
		m.minRank, _ = schema.SeverityRank(r.MinSeverity)
	}
	return m
}

// match is one rule matching a finding through one of its scopes.
type match struct {
	rule  *ruleMatcher
	scope *scopeMatcher
}

// conditionValues converts a finding for HCL conditions at most once, and
// only if some condition needs it: the conversion costs more than all the
// static filters together.
type conditionValues struct {
	cfg               *config.Config
	f                 *schema.Finding
	finding, resource cty.Value
	done              bool
}

func (c *conditionValues) get() (cty.Value, cty.Value) {
	if !c.done {
		c.finding, c.resource = c.cfg.ConditionValues(c.f)
		c.done = true
	}
	return c.finding, c.resource
}

// matchFinding returns the rules matching f (docs/configuration.md): enabled, at least
// one scope matching the primary resource (first in the rule's order wins),
// and every filter present holding. A condition that fails to evaluate is a
// warning for this finding and does not match.
func (e *Engine) matchFinding(f *schema.Finding) ([]match, hcl.Diagnostics) {
	var (
		out   []match
		diags hcl.Diagnostics
		cv    = conditionValues{cfg: e.cfg, f: f}
	)
	scopeResult := make(map[*scopeMatcher]bool, len(e.scopes))
	for _, rm := range e.rules {
		if !rm.matchStatic(f) {
			continue
		}
		var matched *scopeMatcher
		for _, sm := range rm.scopes {
			ok, seen := scopeResult[sm]
			if !seen {
				ok = sm.matchStatic(f)
				if ok && sm.cfg.Condition != nil {
					fv, rv := cv.get()
					var d hcl.Diagnostics
					ok, d = e.cfg.EvalCondition(sm.cfg.Condition, fv, rv)
					diags = append(diags, conditionWarnings(d, f, "scope."+sm.cfg.Name)...)
				}
				scopeResult[sm] = ok
			}
			if ok {
				matched = sm
				break
			}
		}
		if matched == nil {
			continue
		}
		if rm.cfg.Condition != nil {
			fv, rv := cv.get()
			ok, d := e.cfg.EvalCondition(rm.cfg.Condition, fv, rv)
			diags = append(diags, conditionWarnings(d, f, "rule."+rm.cfg.Name)...)
			if !ok {
				continue
			}
		}
		out = append(out, match{rule: rm, scope: matched})
	}
	return out, diags
}

// targetInScope reports whether a response's target passes at least one of
// the rule's scopes (docs/configuration.md: every target of every planned action, not
// only the primary resource): types, accounts, regions, tags, exclude_tags
// and condition, the condition seeing the target as `resource`. The
// account and region are the target's, which actions act in. finding
// returns the finding's condition value, converted only when a condition
// needs it. It returns the scope passed, or why none was.
func (e *Engine) targetInScope(rm *ruleMatcher, account, region string, target *schema.Resource, finding func() cty.Value) (*scopeMatcher, string) {
	var why []string
	for _, sm := range rm.scopes {
		if !sm.matchResource(account, region, target) {
			if t := sm.excludedBy(target.Tags); t != nil {
				why = append(why, fmt.Sprintf("scope.%s excludes it (tag %q = %q)", sm.cfg.Name, t.key, target.Tags[t.key]))
			} else {
				why = append(why, fmt.Sprintf("scope.%s does not match it", sm.cfg.Name))
			}
			continue
		}
		if sm.cfg.Condition == nil {
			return sm, ""
		}
		ok, d := e.cfg.EvalCondition(sm.cfg.Condition, finding(), config.ResourceValue(target))
		if ok && !d.HasErrors() {
			return sm, ""
		}
		if d.HasErrors() {
			why = append(why, fmt.Sprintf("scope.%s's condition failed on it: %s", sm.cfg.Name, d[0].Summary))
		} else {
			why = append(why, fmt.Sprintf("scope.%s's condition is false for it", sm.cfg.Name))
		}
	}
	return nil, strings.Join(why, "; ")
}

// conditionWarnings turns a condition's evaluation errors into warnings
// naming the finding: the finding does not match, and the plan goes on.
func conditionWarnings(diags hcl.Diagnostics, f *schema.Finding, where string) hcl.Diagnostics {
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		w := *d
		w.Severity = hcl.DiagWarning
		w.Summary = fmt.Sprintf("Condition of %s failed for finding %s", where, f.ID)
		w.Detail = d.Summary
		if d.Detail != "" {
			w.Detail += ": " + d.Detail
		}
		w.Detail += " The finding does not match."
		out = append(out, &w)
	}
	return out
}

// nearMisses explains a finding no rule matched (docs/plan-and-apply.md's unmatched
// list): for each rule whose sources and finding_types take it, what kept
// the rule from matching, every obstacle named, so that whoever expected
// a response sees what to change. A rule that is disabled or whose
// min_severity is above the finding's says so; then, unless a scope
// admits the primary resource, each scope says why it does not (account,
// region, resource type, tags, exclude_tags, condition), and if one does,
// whether the rule's condition is false. Conditions are evaluated again
// here, their failures already reported by matchFinding as warnings.
func (e *Engine) nearMisses(f *schema.Finding) []plan.NearMiss {
	var (
		out []plan.NearMiss
		cv  = conditionValues{cfg: e.cfg, f: f}
	)
	for _, rm := range e.rules {
		if rm.sources != nil && !rm.sources[f.Source] || !rm.findingTypes.matchAny(f.Type) {
			continue
		}
		name := rm.cfg.Name
		if !rm.cfg.Enabled {
			out = append(out, plan.NearMiss{Rule: name, Why: "the rule is disabled (enabled = false)"})
		}
		if rm.minRank >= 0 {
			if rank, ok := schema.SeverityRank(f.Severity); !ok || rank < rm.minRank {
				out = append(out, plan.NearMiss{Rule: name, Why: fmt.Sprintf("severity %q is under the rule's min_severity %q", f.Severity, rm.cfg.MinSeverity)})
			}
		}
		var (
			admitted *scopeMatcher
			misses   []plan.NearMiss
		)
		for _, sm := range rm.scopes {
			why := sm.whyNot(f.Account, f.Region, &f.Resource)
			if why == "" && sm.cfg.Condition != nil {
				fv, rv := cv.get()
				why = conditionWhy(e.cfg.EvalCondition(sm.cfg.Condition, fv, rv))
			}
			if why == "" {
				admitted = sm
				break
			}
			misses = append(misses, plan.NearMiss{Rule: name, Scope: sm.cfg.Name, Why: why})
		}
		switch {
		case admitted == nil:
			out = append(out, misses...)
		case rm.cfg.Condition != nil:
			fv, rv := cv.get()
			if why := conditionWhy(e.cfg.EvalCondition(rm.cfg.Condition, fv, rv)); why != "" {
				out = append(out, plan.NearMiss{Rule: name, Scope: admitted.cfg.Name, Why: "the rule's " + strings.TrimPrefix(why, "its ")})
			}
		}
	}
	return out
}

// conditionWhy says why a condition's result does not admit, or "".
func conditionWhy(ok bool, diags hcl.Diagnostics) string {
	switch {
	case diags.HasErrors():
		return "its condition failed: " + diags[0].Summary
	case !ok:
		return "its condition is false"
	}
	return ""
}

// whyNot says why the scope does not admit a resource in an account and
// region, naming every filter but the condition that fails, or returns ""
// when they all hold. Values are quoted as HCL writes them.
func (m *scopeMatcher) whyNot(account, region string, r *schema.Resource) string {
	var why []string
	if m.accounts != nil && !m.accounts[account] {
		why = append(why, notIn("account", account, "accounts", m.cfg.Accounts))
	}
	if len(m.regions) > 0 && !m.regions.matchAny(region) {
		why = append(why, notIn("region", region, "regions", m.cfg.Regions))
	}
	if m.resourceTypes != nil && !m.resourceTypes[r.Type] {
		why = append(why, notIn("resource type", r.Type, "resource_types", m.cfg.ResourceTypes))
	}
	for _, t := range m.tags {
		v, ok := r.Tags[t.key]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("tag %q is missing (tags wants %q)", t.key, t.value.pattern))
		case !t.value.match(v):
			why = append(why, fmt.Sprintf("tag %q = %q does not match %q", t.key, v, t.value.pattern))
		}
	}
	if t := m.excludedBy(r.Tags); t != nil {
		why = append(why, fmt.Sprintf("exclude_tags excludes tag %q = %q", t.key, r.Tags[t.key]))
	}
	return strings.Join(why, "; ")
}

// notIn says that a value of the finding is not in a scope's list:
// `region "eu-west-1" is not in regions ["us-*"]`, or, for a finding that
// has none, `no region (regions = ["us-*"])`.
func notIn(what, v, attr string, list []string) string {
	if v == "" {
		return "no " + what + " (" + attr + " = [" + joinQuoted(list) + "])"
	}
	return fmt.Sprintf("%s %q is not in %s [%s]", what, v, attr, joinQuoted(list))
}
