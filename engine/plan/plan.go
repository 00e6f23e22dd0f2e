// Package plan defines cordon's plan: the reviewable list of actions the
// engine will take for a set of findings, its JSON form (SPEC §7), the plan
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

// Plan is the plan JSON document of SPEC §7.
type Plan struct {
	FormatVersion string       `json:"format_version"`
	CordonVersion string       `json:"cordon_version"`
	ConfigDigest  string       `json:"config_digest"`
	Incidents     []*Incident  `json:"incidents"`
	Unmatched     []*Unmatched `json:"unmatched"`
	Summary       Summary      `json:"summary"`
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
// target was withheld (SPEC §2). It is reported, never applied.
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

// Unmatched is a finding no rule matched.
type Unmatched struct {
	FindingID string `json:"finding_id"`
	Reason    string `json:"reason"`
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
