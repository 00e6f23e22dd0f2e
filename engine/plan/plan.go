// Package plan defines cordon's plan: the reviewable list of actions the
// engine will take for a set of findings, its JSON form (docs/plan-and-apply.md), the plan
// file that carries it from `cordon plan -out` to `cordon apply`, and its
// human rendering.
package plan

import (
	"encoding/json"

	"github.com/cordonhq/cordon/actions"
)

// FormatVersion is the version of the plan JSON document. It changes only
// when a key changes meaning or goes away; new keys may be added.
const FormatVersion = "1.0"

// Plan is the plan JSON document of docs/plan-and-apply.md.
type Plan struct {
	FormatVersion string `json:"format_version"`
	CordonVersion string `json:"cordon_version"`
	ConfigDigest  string `json:"config_digest"`
	// Warnings say what the plan was made without: collectors that
	// failed, so that policies saw {"error": …} in place of their facts.
	// Not errors (policies may act on missing evidence), but a plan that
	// could not investigate must not look like one that could.
	Warnings  []*Warning   `json:"warnings"`
	Incidents []*Incident  `json:"incidents"`
	Unmatched []*Unmatched `json:"unmatched"`
	Summary   Summary      `json:"summary"`
}

// Warning is one collector that failed, for one cause, for some of the
// plan's findings.
type Warning struct {
	Collector string `json:"collector"`
	Summary   string `json:"summary"`
	// Detail is the cause, shared by every run counted here.
	Detail string `json:"detail"`
	// Findings counts the findings whose policies saw the collector's
	// error; Incidents are their incidents.
	Findings  int      `json:"findings"`
	Incidents []string `json:"incidents"`
}

// Incident is what the engine concluded and plans for one finding.
type Incident struct {
	ID       string         `json:"id"`
	Finding  FindingSummary `json:"finding"`
	Matches  []Match        `json:"matches"`
	Verdicts []Verdict      `json:"verdicts"`
	Actions  []*Action      `json:"actions"`
	// Withheld are the actions max_actions_per_hour keeps out of Actions.
	Withheld []*Withheld     `json:"withheld"`
	Errors   []IncidentError `json:"errors"`
}

// MarshalJSON writes the incident with its lists as [] when empty, never
// null, whoever built it (a plan file from an older cordon has no
// withheld list).
func (inc Incident) MarshalJSON() ([]byte, error) {
	type plain Incident
	c := plain(inc)
	if c.Matches == nil {
		c.Matches = []Match{}
	}
	if c.Verdicts == nil {
		c.Verdicts = []Verdict{}
	}
	if c.Actions == nil {
		c.Actions = []*Action{}
	}
	if c.Withheld == nil {
		c.Withheld = []*Withheld{}
	}
	if c.Errors == nil {
		c.Errors = []IncidentError{}
	}
	return json.Marshal(c)
}

// FindingSummary identifies an incident's finding in the plan.
type FindingSummary struct {
	ID       string      `json:"id"`
	Source   string      `json:"source"`
	Type     string      `json:"type"`
	Severity string      `json:"severity"`
	Account  string      `json:"account"`
	Region   string      `json:"region"`
	Resource ResourceRef `json:"resource"`
	// Sample marks a sample finding (docs/findings.md), whose changing actions are
	// withheld unless their rules set allow_sample_findings.
	Sample bool `json:"sample,omitempty"`
}

// ResourceRef names a resource by type and id.
type ResourceRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Match is one rule that matched the finding, with the scope it matched
// through.
type Match struct {
	Rule  string `json:"rule"`
	Scope string `json:"scope"`
}

// Verdict is a rule's verdict on the finding.
type Verdict struct {
	Rule       string   `json:"rule"`
	Verdict    string   `json:"verdict"`
	Confidence *float64 `json:"confidence,omitempty"`
	Reasons    []string `json:"reasons"`
	Summary    string   `json:"summary,omitempty"`
	RootCause  string   `json:"root_cause,omitempty"`
	Impact     string   `json:"impact,omitempty"`
}

// Action is one planned action on one target. The same action on the same
// target planned by several rules is one Action listing them all.
type Action struct {
	Address  string         `json:"address"`
	Action   string         `json:"action"`
	Type     string         `json:"type"`
	Phase    string         `json:"phase"`
	Target   actions.Target `json:"target"`
	Change   actions.Change `json:"change"`
	Rules    []string       `json:"rules"`
	Reasons  []string       `json:"reasons"`
	Approval string         `json:"approval"`
}

// Withheld is an action planned but withheld because a rule that planned
// it reached its max_actions_per_hour, or because an earlier action on its
// target was withheld (docs/configuration.md), or because its finding is a sample
// finding and a rule that planned it does not set allow_sample_findings
// (docs/findings.md). It is reported, never applied.
type Withheld struct {
	Address string         `json:"address"`
	Action  string         `json:"action"`
	Type    string         `json:"type"`
	Phase   string         `json:"phase"`
	Target  actions.Target `json:"target"`
	Rules   []string       `json:"rules"`
	Reason  string         `json:"reason"`
}

// IncidentError is an investigation that failed: nothing of it is planned,
// and a plan with any is never applied.
type IncidentError struct {
	Rule    string `json:"rule"`
	Summary string `json:"summary"`
	Detail  string `json:"detail"`
}

// ReasonNoRuleMatched is the reason of an unmatched finding that was read
// and matched no rule (docs/plan-and-apply.md).
const ReasonNoRuleMatched = "no rule matched"

// Unmatched is a finding that makes no incident: one no rule matched, a
// record that could not be read (Reason "rejected: …"), or a copy of
// another finding of the plan.
type Unmatched struct {
	FindingID string `json:"finding_id"`
	Reason    string `json:"reason"`
	// What the finding is, where it was read: its source, type, severity
	// and primary resource.
	Source   string           `json:"source,omitempty"`
	Type     string           `json:"type,omitempty"`
	Severity string           `json:"severity,omitempty"`
	Sample   bool             `json:"sample,omitempty"`
	Resource *UnmatchedTarget `json:"resource,omitempty"`
	// NearMisses are, for a finding no rule matched, the rules whose
	// sources and finding_types take it, each with why it did not match;
	// empty when no rule takes its type.
	NearMisses []NearMiss `json:"near_misses,omitempty"`
}

// MarshalJSON writes near_misses, [] when empty, for every finding no rule
// matched (so scripts can read it without a default), and leaves it out of
// the other entries, which were not matched against the rules.
func (u Unmatched) MarshalJSON() ([]byte, error) {
	type plain Unmatched
	if u.Reason != ReasonNoRuleMatched || u.Resource == nil {
		return json.Marshal(plain(u))
	}
	near := u.NearMisses
	if near == nil {
		near = []NearMiss{}
	}
	return json.Marshal(struct {
		plain
		NearMisses []NearMiss `json:"near_misses"`
	}{plain(u), near})
}

// UnmatchedTarget is an unmatched finding's primary resource, where it is.
type UnmatchedTarget struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Account string `json:"account"`
	Region  string `json:"region"`
}

// NearMiss is a rule that takes a finding's source and type but did not
// match it, and why: the rule is disabled, the severity is under its
// min_severity, its condition is false, or Scope (when set) does not admit
// the finding's primary resource.
type NearMiss struct {
	Rule  string `json:"rule"`
	Scope string `json:"scope,omitempty"`
	Why   string `json:"why"`
}

// Summary counts what the plan holds.
type Summary struct {
	Findings  int `json:"findings"`
	Incidents int `json:"incidents"`
	Actions   int `json:"actions"`
	Withheld  int `json:"withheld"`
	Unmatched int `json:"unmatched"`
	Errors    int `json:"errors"`
}

// Address returns the address of an action on a target:
// action.NAME["TARGET"], as in Terraform's resource instance addresses.
func Address(action, target string) string {
	return "action." + action + "[" + quote(target) + "]"
}

// quote quotes s as an HCL/JSON string.
func quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}

// Recount sets Summary from the plan's contents.
func (p *Plan) Recount(findings int) {
	s := Summary{Findings: findings, Incidents: len(p.Incidents), Unmatched: len(p.Unmatched)}
	for _, inc := range p.Incidents {
		s.Actions += len(inc.Actions)
		s.Withheld += len(inc.Withheld)
		s.Errors += len(inc.Errors)
	}
	p.Summary = s
}

// HasErrors reports whether any investigation failed.
func (p *Plan) HasErrors() bool { return p.Summary.Errors > 0 }
