package actions

import (
	"github.com/cordonhq/cordon/schema"
)

// Phase orders an apply: preserve → contain → acquire → disrupt → notify.
// Evidence is preserved before anything changes the instance, contained
// before it is acquired, and disrupted (stopped) only after acquisition, so
// a stop never loses memory-resident evidence a snapshot would have kept.
type Phase int

// The phases, in apply order.
const (
	Preserve Phase = iota
	Contain
	Acquire
	Disrupt
	Notify
)

var phaseNames = [...]string{"preserve", "contain", "acquire", "disrupt", "notify"}

func (p Phase) String() string {
	if p < 0 || int(p) >= len(phaseNames) {
		return "unknown"
	}
	return phaseNames[p]
}

// ParsePhase returns the phase with the given name.
func ParsePhase(s string) (Phase, bool) {
	for i, n := range phaseNames {
		if n == s {
			return Phase(i), true
		}
	}
	return 0, false
}

// Target identifies the resource an action acts on. Its JSON is the plan's
// `target` object (docs/plan-and-apply.md).
type Target struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Account string `json:"account"`
	Region  string `json:"region"`
}

// Change is an action's effect on its target: attribute values before and
// after. An attribute whose value is not known until apply is listed in
// BeforeUnknown or AfterUnknown and absent from the map, the way Terraform's
// plan JSON has after_unknown.
type Change struct {
	Before        map[string]any `json:"before"`
	After         map[string]any `json:"after"`
	BeforeUnknown []string       `json:"before_unknown,omitempty"`
	AfterUnknown  []string       `json:"after_unknown,omitempty"`
}

// Request is what an action sees of one planned application: its target,
// everything the investigation knows about that target, and the incident.
type Request struct {
	IncidentID string
	Target     Target
	// Resource is the target's full record: the finding's resource or one
	// a collector's facts revealed.
	Resource schema.Resource
	Finding  *schema.Finding
	// Facts are the investigation's facts keyed by collector type
	// ("aws_ec2_describe"), so an action finds the facts it understands
	// whatever the user named the collector block.
	Facts map[string]map[string]any
}

// FactsOf returns the facts a collector of type typ gathered, or nil when no
// such collector ran or it failed.
func (r *Request) FactsOf(typ string) map[string]any {
	f := r.Facts[typ]
	if f == nil {
		return nil
	}
	if _, failed := f["error"]; failed {
		return nil
	}
	return f
}
