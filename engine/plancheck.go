package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// Errors returned by Apply for a saved plan that is not what cordon
// planned under the current configuration, with nothing changed.
var (
	ErrModifiedPlan = errors.New("Saved plan was modified")
	ErrPlanMismatch = errors.New("Saved plan does not match the configuration")
)

// checkPlanFile is what Apply checks of a plan before anything changes
// (docs/configuration.md, docs/plan-and-apply.md): a plan file is input, and a plan file edited after it was
// written must not make apply act where the configuration does not let
// it. Its variables are those the current sources give; and each action is one the current configuration would
// plan: its action block exists with its type, runs in its type's phase,
// on a target type it accepts, which is a resource the incident recorded,
// in the finding's account and region; its rules exist, are enabled, still
// match the finding, list the action, and admit the target through one of
// their scopes; and it asks for manual approval when one of them does.
func (e *Engine) checkPlanFile(f *plan.File) error {
	if err := e.checkVariables(f.Variables); err != nil {
		return err
	}
	return e.checkPlan(f)
}

// checkVariables refuses a plan whose variable values differ from those
// the configuration has now. Apply takes variables from their sources
// (-var, -var-file, CORDON_VAR_name, defaults) as plan does, never from
// the plan file: a value in the file (an isolation group, a webhook) is
// only compared, so editing it cannot change what apply does.
func (e *Engine) checkVariables(recorded map[string]json.RawMessage) error {
	now := e.variablesJSON()
	names := make([]string, 0, len(now)+len(recorded))
	for n := range now {
		names = append(names, n)
	}
	for n := range recorded {
		if _, ok := now[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		was, inPlan := recorded[n]
		is, inConfig := now[n]
		var why string
		switch {
		case !inPlan:
			why = "is set now but was not when the plan was made"
		case !inConfig:
			why = "was set when the plan was made but is not now"
		case !sameJSON(was, is):
			why = "has another value now than when the plan was made"
		default:
			continue
		}
		return fmt.Errorf("%w: variable %q %s. Apply takes variables from the same sources as plan (-var, -var-file, CORDON_VAR_%s, defaults), never from the plan file: give the values the plan was made with, or run cordon plan again",
			ErrStalePlan, n, why, n)
	}
	return nil
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// checkPlan checks the plan's incidents and actions against the
// configuration, and the parts of the file a person reviews (the plan)
// against the parts apply acts on (the incident data), so that what
// `cordon show` displays is what apply does.
func (e *Engine) checkPlan(f *plan.File) error {
	p := f.Plan
	if p.ConfigDigest != f.ConfigDigest {
		return fmt.Errorf("%w: the plan's config_digest %q differs from the file's %q", ErrPlanMismatch, p.ConfigDigest, f.ConfigDigest)
	}
	rules := make(map[string]*ruleMatcher, len(e.rules))
	for _, rm := range e.rules {
		rules[rm.cfg.Name] = rm
	}
	seen := make(map[string]bool, len(p.Incidents))
	var actions, withheld int
	for _, inc := range p.Incidents {
		if seen[inc.ID] {
			return fmt.Errorf("%w: incident %q is listed twice", ErrPlanMismatch, inc.ID)
		}
		seen[inc.ID] = true
		if len(inc.Errors) > 0 {
			return fmt.Errorf("%w: incident %q has %d failed investigations", ErrIncompletePlan, inc.ID, len(inc.Errors))
		}
		actions += len(inc.Actions)
		withheld += len(inc.Withheld)
		if len(inc.Actions) == 0 {
			continue
		}
		if err := e.checkIncident(inc, f.Incidents[inc.ID], rules); err != nil {
			return err
		}
	}
	if s := p.Summary; s.Actions != actions || s.Withheld != withheld || s.Incidents != len(p.Incidents) || s.Unmatched != len(p.Unmatched) {
		return fmt.Errorf("%w: its summary (%d incidents, %d actions, %d withheld, %d unmatched) does not count what it holds (%d, %d, %d, %d)",
			ErrPlanMismatch, s.Incidents, s.Actions, s.Withheld, s.Unmatched, len(p.Incidents), actions, withheld, len(p.Unmatched))
	}
	return nil
}

func (e *Engine) checkIncident(inc *plan.Incident, data *plan.IncidentData, rules map[string]*ruleMatcher) error {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: incident %q: %s", ErrPlanMismatch, inc.ID, fmt.Sprintf(format, args...))
	}
	if data == nil || data.Finding == nil {
		return mismatch("the plan file holds no finding for it")
	}
	// The finding is read again from its raw data, the detector's own
	// words, as plan read it: the normalized finding, its resources and
	// their tags are checked against that, not taken from the file.
	parsed, err := schema.ParseRecord("the finding of incident "+inc.ID, schema.Record{Raw: data.Finding.Raw})
	if err != nil || len(parsed) != 1 {
		return mismatch("its raw finding does not read back as one finding (%v)", err)
	}
	fd, held, shown := parsed[0], data.Finding, inc.Finding
	// An envelope (EventBridge's) can give the account and region a raw
	// finding lacks; only those are taken from the finding held.
	if fd.Account == "" {
		fd.Account = held.Account
	}
	if fd.Region == "" {
		fd.Region = held.Region
	}
	if !sameFinding(fd, held) {
		return mismatch("the finding it holds for apply differs from its raw finding")
	}
	if shown.ID != fd.ID || shown.Source != fd.Source || shown.Type != fd.Type || shown.Severity != fd.Severity ||
		shown.Account != fd.Account || shown.Region != fd.Region || shown.Sample != fd.Sample ||
		shown.Resource.Type != fd.Resource.Type || shown.Resource.ID != fd.Resource.ID {
		return mismatch("the finding the plan shows differs from the finding it holds for apply")
	}
	if id := IncidentID(held); id != inc.ID {
		return mismatch("its finding is incident %q's", id)
	}
	// The rules that match the finding now, as plan matched them.
	matches, _ := e.matchFinding(fd)
	matching := make(map[string]bool, len(matches))
	for _, m := range matches {
		matching[m.rule.cfg.Name] = true
	}
	ic := &incidentCheck{
		finding: fd, data: data, rules: rules, matching: matching,
		resources: e.validTargets(fd, data.Facts),
	}
	addresses := make(map[string]bool, len(inc.Actions))
	for _, a := range inc.Actions {
		if addresses[a.Address] {
			return mismatch("action %s is listed twice", a.Address)
		}
		addresses[a.Address] = true
		if err := e.checkAction(a, ic); err != nil {
			return mismatch("%s: %v", a.Address, err)
		}
	}
	return nil
}

// sameFinding compares what apply uses of a finding besides its raw data.
func sameFinding(a, b *schema.Finding) bool {
	if a.ID != b.ID || a.Source != b.Source || a.Type != b.Type || a.Severity != b.Severity ||
		a.Account != b.Account || a.Region != b.Region || a.UpdatedAt != b.UpdatedAt || a.Count != b.Count ||
		len(a.Resources) != len(b.Resources) || !sameResource(&a.Resource, &b.Resource) {
		return false
	}
	for i := range a.Resources {
		if !sameResource(&a.Resources[i], &b.Resources[i]) {
			return false
		}
	}
	return true
}

func sameResource(a, b *schema.Resource) bool {
	if a.Type != b.Type || a.ID != b.ID || len(a.Tags) != len(b.Tags) {
		return false
	}
	for k, v := range a.Tags {
		if w, ok := b.Tags[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// validTargets are the resources a response may target, derived as plan
// derives them: the finding's, and those its collectors' facts reveal.
func (e *Engine) validTargets(f *schema.Finding, facts map[string]map[string]any) []schema.Resource {
	rs := append([]schema.Resource(nil), f.Resources...)
	names := make([]string, 0, len(facts))
	for n := range facts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := e.cfg.Collectors[n]
		if c == nil || c.Def.Resources == nil {
			continue
		}
		if _, failed := facts[n]["error"]; failed {
			continue
		}
		rs = append(rs, c.Def.Resources(facts[n], f.Resource)...)
	}
	return rs
}

// incidentCheck is what checking an incident's actions needs.
type incidentCheck struct {
	finding   *schema.Finding // read again from its raw data
	data      *plan.IncidentData
	rules     map[string]*ruleMatcher
	matching  map[string]bool // the rules matching the finding now
	resources []schema.Resource

	findingValue cty.Value
	converted    bool
}

func (ic *incidentCheck) target(typ, id string) (schema.Resource, bool) {
	if r := &ic.finding.Resource; r.Type == typ && r.ID == id {
		return *r, true
	}
	for _, r := range ic.resources {
		if r.Type == typ && r.ID == id {
			return r, true
		}
	}
	return schema.Resource{}, false
}

// checkAction says why a planned action is not one the configuration
// would plan for its incident, or returns nil.
func (e *Engine) checkAction(a *plan.Action, ic *incidentCheck) error {
	if want := plan.Address(a.Action, a.Target.ID); a.Address != want {
		return fmt.Errorf("its address does not name its target %q", a.Target.ID)
	}
	cfg := e.cfg.Actions[a.Action]
	if cfg == nil {
		return fmt.Errorf("action %q is not in the configuration", a.Action)
	}
	def := cfg.Def
	if a.Type != cfg.Type {
		return fmt.Errorf("action %q is of type %s, not %q", a.Action, cfg.Type, a.Type)
	}
	if want := def.Phase.String(); a.Phase != want {
		return fmt.Errorf("it runs in phase %q, but %s actions run in %s", a.Phase, def.Type, want)
	}
	if !def.Accepts(a.Target.Type) {
		return fmt.Errorf("its target is a %q, which %s does not act on", a.Target.Type, def.Type)
	}
	fd := ic.finding
	if a.Target.Account != fd.Account || a.Target.Region != fd.Region {
		return fmt.Errorf("its target is in account %q, region %q, not the finding's (%s, %s)", a.Target.Account, a.Target.Region, fd.Account, fd.Region)
	}
	res, ok := ic.target(a.Target.Type, a.Target.ID)
	if !ok {
		return fmt.Errorf("its target %s %q is not a resource of the finding or its facts", a.Target.Type, a.Target.ID)
	}
	if recorded, ok := recordedResource(ic.data, res.Type, res.ID); !ok || !sameResource(&recorded, &res) {
		return fmt.Errorf("the resource it records for its target %s %q differs from the finding's", res.Type, res.ID)
	}
	if len(a.Rules) == 0 {
		return errors.New("it names no rule that planned it")
	}
	conditionFinding := func() cty.Value {
		if !ic.converted {
			ic.findingValue, _ = e.cfg.ConditionValues(fd)
			ic.converted = true
		}
		return ic.findingValue
	}
	approval := config.ApprovalAuto
	for _, name := range a.Rules {
		rm := ic.rules[name]
		switch {
		case rm == nil:
			return fmt.Errorf("rule %q is not in the configuration", name)
		case !rm.cfg.Enabled:
			return fmt.Errorf("rule %s is disabled", name)
		case !rm.allowed[a.Action]:
			return fmt.Errorf("rule %s does not list action %s", name, a.Action)
		case !ic.matching[name]:
			return fmt.Errorf("rule %s does not match the incident's finding", name)
		case fd.Sample && !rm.cfg.AllowSampleFindings && a.Phase != actions.Notify.String():
			return fmt.Errorf("its finding is %s, and rule %s does not set allow_sample_findings = true", fd.SampleDescription(), name)
		}
		if sm, why := e.targetInScope(rm, a.Target.Account, a.Target.Region, &res, conditionFinding); sm == nil {
			return fmt.Errorf("its target %s %q is outside every scope of rule %s (%s)", res.Type, res.ID, name, why)
		}
		if rm.cfg.Approval == config.ApprovalManual {
			approval = config.ApprovalManual
		}
	}
	if a.Approval != approval {
		return fmt.Errorf("its approval is %q, but its rules require %q", a.Approval, approval)
	}
	// Plan withholds a disruption whose target's volatile evidence was
	// not secured; a plan that lists one was edited.
	if why := e.unsecured(a, fd, ic.data.Facts); why != "" {
		return fmt.Errorf("it must be withheld: %s", why)
	}
	return nil
}

// recordedResource finds the incident's resource of the given type and id.
func recordedResource(data *plan.IncidentData, typ, id string) (schema.Resource, bool) {
	for _, r := range data.Resources {
		if r.ID == id && r.Type == typ {
			return r, true
		}
	}
	return schema.Resource{}, false
}

// liveOutOfScope says why an action's target is, by the tags its Read just
// returned, outside every scope of one of the action's rules (an exclude
// tag such as cordon:exempt = "true" put on it since the plan was made),
// or returns "". Only tags Read returns are known live; the others are
// those recorded in the plan.
func (e *Engine) liveOutOfScope(j *job, live map[string]any) string {
	raw, ok := live["tags"].(map[string]any)
	if !ok || len(raw) == 0 {
		return ""
	}
	res := j.req.Resource
	tags := make(map[string]string, len(res.Tags)+len(raw))
	for k, v := range res.Tags {
		tags[k] = v
	}
	for k, v := range raw {
		if s, ok := v.(string); ok {
			tags[k] = s
		}
	}
	res.Tags = tags
	var (
		findingValue cty.Value
		converted    bool
	)
	conditionFinding := func() cty.Value {
		if !converted {
			findingValue, _ = e.cfg.ConditionValues(j.req.Finding)
			converted = true
		}
		return findingValue
	}
	for _, name := range j.action.Rules {
		for _, rm := range e.rules {
			if rm.cfg.Name != name {
				continue
			}
			if sm, why := e.targetInScope(rm, j.action.Target.Account, j.action.Target.Region, &res, conditionFinding); sm == nil {
				return fmt.Sprintf("by its live tags, %s is outside every scope of rule %s now (%s)", res.ID, name, why)
			}
		}
	}
	return ""
}
