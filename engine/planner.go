package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/schema"
)

// PlanOptions configure Plan.
type PlanOptions struct {
	// Facts replaces running collectors (plan -facts).
	Facts *FactsFile
	// Workers is the number of findings planned concurrently; default
	// GOMAXPROCS.
	Workers int
	// AWS is used by collectors; nil plans without AWS access (collectors
	// that need it record an error fact).
	AWS *awsclient.Factory
	// AWSError is why AWS is nil when AWS access was wanted (the provider
	// block's profile does not exist): collectors that call AWS fail with
	// it, as they would with credentials that every call refuses.
	AWSError error
	// Hook hears of each finding read and each collector run; nil hears
	// nothing.
	Hook PlanHook
	// KeepData keeps what a plan file needs (findings, facts, resources)
	// in Result.Data. Without it, a large plan holds only the plan.
	KeepData bool
	// CompactData keeps that data only in its encoded form, compressed
	// (plan.IncidentData.Compact), as each finding is planned: for a
	// caller that only writes it to a plan file.
	CompactData bool
	// Budget counts, from state, the actions each rule started within the
	// last hour, so that max_actions_per_hour is shared by every run (docs/configuration.md). Nil counts only the actions of this plan: scenario tests, and
	// runs with no state yet.
	Budget ActionCounter
	// Now is the clock the last hour is counted back from; default
	// time.Now.
	Now func() time.Time
}

// ActionCounter counts the actions a rule started since a time that may
// have changed their target (notifications excluded): state.Guardrails.
type ActionCounter interface {
	CountActions(ctx context.Context, since time.Time, rule string) (int, error)
}

// PlanHook hears of what planning does that takes time or that a person
// debugging a plan wants to see, as Terraform's hooks do: the CLI renders
// progress and -debug output from it, and the engine never prints. Its
// methods are called concurrently, from the goroutines that plan.
type PlanHook interface {
	// FindingRead is called with each finding as normalized, before it is
	// matched against the rules.
	FindingRead(f *schema.Finding)
	// CollectorStarted is called as a collector starts gathering facts,
	// and CollectorFinished as it ends, with its error (nil on success).
	CollectorStarted(ev CollectorEvent)
	CollectorFinished(ev CollectorEvent, err error)
}

// CollectorEvent identifies one collector run.
type CollectorEvent struct {
	// Collector is the collector block's name, Type its type.
	Collector, Type string
	// Incident is the incident the run gathers facts for, Resource the id
	// of the resource it gathers them about.
	Incident, Resource string
	Started            time.Time
}

// Result is a plan with what a plan file needs besides it.
type Result struct {
	Plan *plan.Plan
	// Data holds, per incident id, the finding, facts and resources the
	// incident's actions need at apply (with PlanOptions.KeepData).
	Data map[string]*plan.IncidentData
	// NoAWSAccess says why, when collectors needed AWS and cordon could
	// call it in none of the findings' accounts (no credentials, refused
	// credentials, an endpoint that cannot be reached, a role it cannot
	// assume): one cause per account. The plan then rests on no evidence
	// from AWS at all, and the CLI refuses it, as Terraform refuses to
	// plan with a provider that cannot configure.
	NoAWSAccess []string
}

// File returns the plan file for the result.
func (r *Result) File(e *Engine, createdAt string) *plan.File {
	return &plan.File{
		CordonVersion: Version,
		CreatedAt:     createdAt,
		ConfigDigest:  r.Plan.ConfigDigest,
		ConfigFiles:   e.FileDigests(),
		Variables:     e.variablesJSON(),
		Plan:          r.Plan,
		Incidents:     r.Data,
	}
}

// outcome is what planning one finding produced.
type outcome struct {
	incident  *plan.Incident
	data      *plan.IncidentData
	unmatched *plan.Unmatched
	diags     hcl.Diagnostics
	// updatedAt is the finding's updated_at: of two copies of one finding
	// the newest is planned.
	updatedAt string
	// failures are the collectors that failed for the finding, by name.
	failures map[string]*collectorFailure
}

// Plan plans the response to every finding of files. Findings are parsed
// and planned on Workers goroutines, as they are read; the plan lists them
// in input order. A record that cannot be read as findings is rejected
// alone: an error diagnostic, listed as unmatched with why, while the
// others are planned (the caller must not write a plan with errors). A
// failed investigation is recorded in its incident's errors.
func (e *Engine) Plan(ctx context.Context, files []*FindingsFile, opts PlanOptions) (*Result, hcl.Diagnostics) {
	facts := newFactsSource(e, opts.Facts, opts)
	planRecord := func(file string, rec schema.Record) ([]outcome, error) {
		findings, err := schema.ParseRecord(file, rec)
		if err != nil {
			return nil, err
		}
		outs := make([]outcome, 0, len(findings))
		for _, f := range findings {
			if opts.Hook != nil {
				opts.Hook.FindingRead(f)
			}
			o := e.investigate(ctx, f, file, facts)
			switch {
			case !opts.KeepData:
				o.data = nil
			case opts.CompactData && o.data != nil:
				// On failure the data stays as it is, and writing the
				// plan reports the same error.
				_ = o.data.Compact()
			}
			outs = append(outs, o)
			// The decoded raw finding is only needed to build the policy
			// input; keep only its bytes from here on.
			f.ReleaseDecoded()
		}
		return outs, nil
	}
	results, diags := planRecords(files, opts.Workers, planRecord)

	p := &plan.Plan{
		FormatVersion: plan.FormatVersion,
		CordonVersion: Version,
		ConfigDigest:  e.digest,
		Incidents:     []*plan.Incident{},
		Unmatched:     []*plan.Unmatched{},
		Warnings:      []*plan.Warning{},
	}
	res := &Result{Plan: p, Data: map[string]*plan.IncidentData{}}
	warnings := warningSet{}
	findings := 0
	// Copies of one finding (given twice, by another route, or
	// re-published by the detector) have one incident id: the incident is
	// the copy with the newest updated_at (of equals, the first), in the
	// place of the first, and every other copy is listed as unmatched.
	type kept struct {
		index     int
		updatedAt time.Time
	}
	seen := map[string]kept{}
	for _, r := range results {
		if r.err != nil {
			findings++
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid finding", Detail: r.err.Error()})
			p.Unmatched = append(p.Unmatched, rejectedRecord(r.err))
			continue
		}
		for _, o := range r.outs {
			findings++
			diags = append(diags, o.diags...)
			if o.unmatched != nil {
				p.Unmatched = append(p.Unmatched, o.unmatched)
				continue
			}
			id := o.incident.ID
			warnings.add(o)
			updated, _ := time.Parse(time.RFC3339Nano, o.updatedAt)
			prev, dup := seen[id]
			if !dup {
				seen[id] = kept{index: len(p.Incidents), updatedAt: updated}
				p.Incidents = append(p.Incidents, o.incident)
				if o.data != nil {
					res.Data[id] = o.data
				}
				continue
			}
			older := o.incident
			if updated.After(prev.updatedAt) {
				older = p.Incidents[prev.index]
				p.Incidents[prev.index] = o.incident
				seen[id] = kept{index: prev.index, updatedAt: updated}
				delete(res.Data, id)
				if o.data != nil {
					res.Data[id] = o.data
				}
			}
			reason := "duplicate of an earlier finding (incident " + id + ")"
			if !updated.Equal(prev.updatedAt) {
				reason = "older update of finding " + p.Incidents[prev.index].Finding.ID + " (incident " + id + ")"
			}
			u := unmatchedSummary(older.Finding)
			u.Reason = reason
			p.Unmatched = append(p.Unmatched, u)
		}
	}
	if err := e.withhold(ctx, p, opts); err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot count the rules' recent actions", Detail: err.Error()})
	}
	p.Warnings = warnings.list()
	res.NoAWSAccess = facts.accessFailures()
	p.Recount(findings)
	return res, diags
}

// warningSet groups the collectors that failed, by collector and cause:
// the triage of twelve findings failing on one refused connection is one
// warning.
type warningSet map[[2]string]*warningEntry

type warningEntry struct {
	access    bool
	findings  int
	incidents map[string]bool
}

func (ws warningSet) add(o outcome) {
	for name, f := range o.failures {
		k := [2]string{name, f.Cause}
		w := ws[k]
		if w == nil {
			w = &warningEntry{access: f.Access, incidents: map[string]bool{}}
			ws[k] = w
		}
		w.findings++
		w.incidents[o.incident.ID] = true
	}
}

// list returns the warnings by collector, then cause.
func (ws warningSet) list() []*plan.Warning {
	keys := make([][2]string, 0, len(ws))
	for k := range ws {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	out := make([]*plan.Warning, 0, len(keys))
	for _, k := range keys {
		w := ws[k]
		summary := "Collector " + k[0] + " failed"
		if w.access {
			summary = "Collector " + k[0] + " could not call AWS"
		}
		incidents := make([]string, 0, len(w.incidents))
		for id := range w.incidents {
			incidents = append(incidents, id)
		}
		sort.Strings(incidents)
		out = append(out, &plan.Warning{Collector: k[0], Summary: summary, Detail: k[1], Findings: w.findings, Incidents: incidents})
	}
	return out
}

// withhold enforces max_actions_per_hour on a plan (docs/configuration.md): in plan
// order, each action that may change its target takes one from the budget
// of every rule that planned it, the budget being the rule's limit less
// the actions state counts for it within the last hour. An action that
// finds any of its rules' budgets spent is withheld (the stricter rule
// wins, as approval = "manual" does), and so is every later action on the
// same target in the incident: an instance whose isolation was withheld is
// never stopped. Notifications are neither withheld nor counted: people
// must hear of a burst most of all. Apply enforces the limit again,
// atomically in state, against what other runs did meanwhile.
func (e *Engine) withhold(ctx context.Context, p *plan.Plan, opts PlanOptions) error {
	limits := map[string]int{}
	for _, r := range e.cfg.Rules {
		if r.MaxActionsPerHour > 0 {
			limits[r.Name] = r.MaxActionsPerHour
		}
	}
	if len(limits) == 0 {
		return nil
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	since := now().Add(-time.Hour)
	// used counts each limited rule's actions: state's, looked up the first
	// time the rule is met, then this plan's.
	used := map[string]int{}
	counted := map[string]int{}
	spent := func(rule string) (bool, error) {
		limit, ok := limits[rule]
		if !ok {
			return false, nil
		}
		if _, looked := used[rule]; !looked {
			n := 0
			if opts.Budget != nil {
				var err error
				if n, err = opts.Budget.CountActions(ctx, since, rule); err != nil {
					return false, fmt.Errorf("rule %s: %w", rule, err)
				}
			}
			used[rule], counted[rule] = n, n
		}
		return used[rule] >= limit, nil
	}
	reason := func(rule string) string {
		msg := fmt.Sprintf("rule %s reached max_actions_per_hour (%d)", rule, limits[rule])
		if n := counted[rule]; n > 0 {
			msg += fmt.Sprintf("; state counts %d of its actions in the last hour", n)
		}
		return msg
	}
	for _, inc := range p.Incidents {
		kept := inc.Actions[:0]
		withheldTargets := map[string]string{} // target → address withheld
		for _, a := range inc.Actions {
			if a.Phase == actions.Notify.String() {
				kept = append(kept, a)
				continue
			}
			key := state.TargetLockKey(a.Target)
			if first, ok := withheldTargets[key]; ok {
				inc.Withheld = append(inc.Withheld, withheldAction(a, "an earlier action on this target ("+first+") was withheld"))
				continue
			}
			exhausted := ""
			for _, r := range a.Rules {
				over, err := spent(r)
				if err != nil {
					return err
				}
				if over {
					exhausted = r
					break
				}
			}
			if exhausted != "" {
				withheldTargets[key] = a.Address
				inc.Withheld = append(inc.Withheld, withheldAction(a, reason(exhausted)))
				continue
			}
			for _, r := range a.Rules {
				if _, ok := limits[r]; ok {
					used[r]++
				}
			}
			kept = append(kept, a)
		}
		// The actions withheld from the tail of the list are no longer
		// referenced by the list's backing array.
		clear(inc.Actions[len(kept):])
		inc.Actions = kept
	}
	return nil
}

// withholdSample keeps a sample finding (docs/findings.md: GuardDuty's generated
// samples, on made-up resources) from planning anything that changes a
// resource: every action but a notification is withheld unless each rule
// that planned it sets allow_sample_findings (the stricter rule wins, as
// with approval and max_actions_per_hour). It runs before
// max_actions_per_hour, so withheld samples spend no rule's budget.
func (e *Engine) withholdSample(inc *plan.Incident, f *schema.Finding) {
	allowed := make(map[string]bool, len(e.cfg.Rules))
	for _, r := range e.cfg.Rules {
		allowed[r.Name] = r.AllowSampleFindings
	}
	kept := inc.Actions[:0]
	for _, a := range inc.Actions {
		var refusing []string
		if a.Phase != actions.Notify.String() {
			for _, r := range a.Rules {
				if !allowed[r] {
					refusing = append(refusing, r)
				}
			}
		}
		if len(refusing) == 0 {
			kept = append(kept, a)
			continue
		}
		who := "rule " + refusing[0] + " does"
		if len(refusing) > 1 {
			who = "rules " + strings.Join(refusing, ", ") + " do"
		}
		inc.Withheld = append(inc.Withheld, withheldAction(a,
			"the finding is "+f.SampleDescription()+"; "+who+" not set allow_sample_findings = true"))
	}
	clear(inc.Actions[len(kept):])
	inc.Actions = kept
}

// withholdUnsecured keeps a disruption from destroying evidence not yet
// secured (docs/evidence.md): collectors run before planning, and a disrupt-phase
// action (aws_ec2_stop …) on the resource they gathered facts about is
// withheld while a collector of one of the action's rules that secures
// volatile evidence (aws_ssm_memory: memory, lost when the instance stops)
// has not confirmed it. Apply checks the plan again (checkAction).
func (e *Engine) withholdUnsecured(inc *plan.Incident, f *schema.Finding, facts map[string]map[string]any) {
	kept := inc.Actions[:0]
	for _, a := range inc.Actions {
		if why := e.unsecured(a, f, facts); why != "" {
			inc.Withheld = append(inc.Withheld, withheldAction(a, why))
			continue
		}
		kept = append(kept, a)
	}
	clear(inc.Actions[len(kept):])
	inc.Actions = kept
}

// unsecured says why a disrupt-phase action must wait for the volatile
// evidence of its target to be secured; "" when it need not. Collectors
// gather facts about the finding's resource, so only an action on that
// resource waits.
func (e *Engine) unsecured(a *plan.Action, f *schema.Finding, facts map[string]map[string]any) string {
	if a.Phase != actions.Disrupt.String() || a.Target.Type != f.Resource.Type || a.Target.ID != f.Resource.ID {
		return ""
	}
	for _, rm := range e.rules {
		if !contains(a.Rules, rm.cfg.Name) {
			continue
		}
		for _, name := range rm.cfg.Collect {
			c := e.cfg.Collectors[name]
			if c == nil || c.Def.Volatile == nil {
				continue
			}
			if why := c.Def.Volatile(facts[name]); why != "" {
				return fmt.Sprintf("rule %s secures the volatile evidence of %s before disrupting it, and collector %s (%s) has not: %s",
					rm.cfg.Name, a.Target.ID, name, c.Type, why)
			}
		}
	}
	return ""
}

// unmatchedSummary describes a finding that makes no incident, from what
// the plan shows of it.
func unmatchedSummary(s plan.FindingSummary) *plan.Unmatched {
	return &plan.Unmatched{
		FindingID: s.ID, Source: s.Source, Type: s.Type, Severity: s.Severity, Sample: s.Sample,
		Resource: &plan.UnmatchedTarget{Type: s.Resource.Type, ID: s.Resource.ID, Account: s.Account, Region: s.Region},
	}
}

func withheldAction(a *plan.Action, reason string) *plan.Withheld {
	return &plan.Withheld{
		Address: a.Address, Action: a.Action, Type: a.Type, Phase: a.Phase,
		Target: a.Target, Rules: a.Rules, Reason: reason,
	}
}

// IncidentID derives an incident's id from its finding's product identity
// (docs/findings.md): a GuardDuty finding read natively, through Security Hub or as
// OCSF, and each re-publication of it (a higher count, a newer
// updated_at), is one incident, so planning it again gives the same
// incident and the daemon can de-duplicate on it. A finding without an id
// is identified by its content.
func IncidentID(f *schema.Finding) string {
	h := sha256.New()
	if key := f.ProductKey(); key != "" {
		h.Write([]byte(key))
	} else {
		h.Write(f.Raw)
	}
	return "inc-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// investigate plans the response to one finding.
func (e *Engine) investigate(ctx context.Context, f *schema.Finding, file string, facts *factsSource) outcome {
	// The plan outlives the finding: its strings are copies, as the
	// finding's share the memory of the record they were decoded from,
	// which a plan of thousands would otherwise keep whole.
	summary := plan.FindingSummary{
		ID: strings.Clone(f.ID), Source: strings.Clone(f.Source), Type: strings.Clone(f.Type), Severity: strings.Clone(f.Severity),
		Account: strings.Clone(f.Account), Region: strings.Clone(f.Region),
		Resource: plan.ResourceRef{Type: strings.Clone(f.Resource.Type), ID: strings.Clone(f.Resource.ID)},
		Sample:   f.Sample,
	}
	matches, diags := e.matchFinding(f)
	if len(matches) == 0 {
		u := unmatchedSummary(summary)
		if u.FindingID == "" {
			u.FindingID = "(finding without id in " + file + ")"
		}
		u.Reason = plan.ReasonNoRuleMatched
		u.NearMisses = e.nearMisses(f)
		return outcome{unmatched: u, diags: diags}
	}

	incID := IncidentID(f)
	inc := &plan.Incident{
		ID:       incID,
		Finding:  summary,
		Matches:  make([]plan.Match, 0, len(matches)),
		Verdicts: []plan.Verdict{},
		Actions:  []*plan.Action{},
		Withheld: []*plan.Withheld{},
		Errors:   []plan.IncidentError{},
	}
	data := &plan.IncidentData{Finding: f, File: file, Facts: map[string]map[string]any{}}
	inv := &investigation{
		engine:      e,
		finding:     f,
		incident:    inc,
		resources:   append([]schema.Resource(nil), f.Resources...),
		factsByType: map[string]map[string]any{},
		merged:      map[string]*plan.Action{},
	}
	var needed []string
	seenCollector := map[string]bool{}
	for _, m := range matches {
		for _, n := range m.rule.cfg.Collect {
			if !seenCollector[n] {
				seenCollector[n] = true
				needed = append(needed, n)
			}
		}
	}
	facts.prefetch(ctx, needed, f, incID)
	for _, m := range matches {
		inc.Matches = append(inc.Matches, plan.Match{Rule: m.rule.cfg.Name, Scope: m.scope.cfg.Name})
		if err := inv.evaluate(ctx, m, facts, data); err != nil {
			inc.Errors = append(inc.Errors, *err)
		}
	}
	var failures map[string]*collectorFailure
	for _, n := range needed {
		if fail := facts.failure(e.cfg.Collectors[n], f); fail != nil {
			if failures == nil {
				failures = map[string]*collectorFailure{}
			}
			failures[n] = fail
		}
	}
	diags = append(diags, inv.diags...)
	for _, a := range inv.merged {
		inc.Actions = append(inc.Actions, a)
	}
	sortActions(inc.Actions)
	if f.Sample {
		e.withholdSample(inc, f)
	}
	e.withholdUnsecured(inc, f, data.Facts)
	data.Resources = dedupeResources(inv.resources)
	return outcome{incident: inc, data: data, diags: diags, updatedAt: strings.Clone(f.UpdatedAt), failures: failures}
}

// investigation is the state of planning one finding across its rules.
type investigation struct {
	engine      *Engine
	finding     *schema.Finding
	incident    *plan.Incident
	resources   []schema.Resource // valid targets: the finding's and the facts'
	factsByType map[string]map[string]any
	merged      map[string]*plan.Action // by address
	// findingValue is the finding as scope conditions see it, converted
	// the first time a target's scope needs it.
	findingValue     cty.Value
	findingConverted bool
	// diags are warnings about the facts the investigation used.
	diags hcl.Diagnostics
}

// conditionFinding returns the finding's condition value.
func (inv *investigation) conditionFinding() cty.Value {
	if !inv.findingConverted {
		inv.findingValue, _ = inv.engine.cfg.ConditionValues(inv.finding)
		inv.findingConverted = true
	}
	return inv.findingValue
}

// evaluate runs one matched rule: facts, verdict, response, and the
// planned actions, merged into the incident. An error fails this rule's
// investigation only: nothing it would have planned is kept.
func (inv *investigation) evaluate(ctx context.Context, m match, facts *factsSource, data *plan.IncidentData) *plan.IncidentError {
	e, f, rule := inv.engine, inv.finding, m.rule.cfg
	fail := func(summary, detail string) *plan.IncidentError {
		return &plan.IncidentError{Rule: rule.Name, Summary: summary, Detail: detail}
	}

	factsObj := ast.NewObject()
	for _, name := range rule.Collect {
		c := e.cfg.Collectors[name]
		fm, fv, artefacts, err := facts.get(ctx, c, f, inv.incident.ID)
		if err != nil {
			return fail("Required collector failed", err.Error())
		}
		if d := facts.mismatch(c, f); d != nil {
			inv.diags = append(inv.diags, d)
		}
		factsObj.Insert(ast.StringTerm(name), ast.NewTerm(fv))
		if _, done := data.Facts[name]; done {
			continue
		}
		data.Facts[name] = fm
		data.Artefacts = append(data.Artefacts, artefacts...)
		if _, failed := fm["error"]; failed {
			continue
		}
		inv.factsByType[c.Type] = fm
		if c.Def.Resources != nil {
			inv.resources = append(inv.resources, c.Def.Resources(fm, f.Resource)...)
		}
	}

	input := e.policies.BuildInput(&policy.Input{
		Finding: f, Resource: &f.Resource, Facts: factsObj,
		Scope: m.scope.cfg.Name, Rule: rule.Name, Actions: rule.Actions,
	})
	v, err := e.policies.EvalVerdict(ctx, rule.Verdict, input)
	if err != nil {
		return fail("Verdict policy failed", err.Error())
	}
	inv.incident.Verdicts = append(inv.incident.Verdicts, plan.Verdict{
		Rule: rule.Name, Verdict: v.Verdict, Confidence: v.Confidence, Reasons: nonNil(v.Reasons),
		Summary: v.Summary, RootCause: v.RootCause, Impact: v.Impact,
	})
	responseInput := policy.WithVerdict(input, v)
	responses, err := e.policies.EvalResponse(ctx, rule.Response, responseInput)
	if err != nil {
		return fail("Response policy failed", err.Error())
	}

	planned := make([]*plan.Action, 0, len(responses))
	for _, r := range responses {
		a, perr := inv.planAction(ctx, m, r, responseInput)
		if perr != nil {
			return perr
		}
		planned = append(planned, a)
	}
	for _, a := range planned {
		inv.merge(a)
	}
	return nil
}

// planAction checks one response entry against the rule and the finding and
// describes its change.
func (inv *investigation) planAction(ctx context.Context, m match, r policy.ResponseAction, input ast.Value) (*plan.Action, *plan.IncidentError) {
	e, f, rule := inv.engine, inv.finding, m.rule.cfg
	where := func() string {
		if file, line, ok := e.policies.Locate(ctx, rule.Response, input, r); ok {
			return fmt.Sprintf(" (%s:%d)", file, line)
		}
		return ""
	}
	if !m.rule.allowed[r.Action] {
		return nil, &plan.IncidentError{
			Rule:    rule.Name,
			Summary: "Response names an action the rule does not allow",
			Detail: fmt.Sprintf("Policy %s names action %q, which rule %s does not list in its actions (%s)%s. Nothing of this investigation is planned.",
				rule.Response, r.Action, rule.Name, joinQuoted(rule.Actions), where()),
		}
	}
	cfgAction := e.cfg.Actions[r.Action]
	targetID := r.Target
	if targetID == "" {
		targetID = f.Resource.ID
	}
	res, ok := inv.resource(targetID)
	if !ok {
		return nil, &plan.IncidentError{
			Rule:    rule.Name,
			Summary: "Response targets an unknown resource",
			Detail: fmt.Sprintf("Policy %s targets %q with action %q, which is not a resource of the finding or its facts%s. Nothing of this investigation is planned.",
				rule.Response, targetID, r.Action, where()),
		}
	}
	def := cfgAction.Def
	if !def.Accepts(res.Type) {
		return nil, &plan.IncidentError{
			Rule:    rule.Name,
			Summary: "Response targets a resource the action cannot act on",
			Detail: fmt.Sprintf("Policy %s targets %s %q with action %q of type %s, which acts on %s%s. Nothing of this investigation is planned.",
				rule.Response, orNone(res.Type), targetID, r.Action, def.Type, joinQuoted(def.TargetTypes), where()),
		}
	}
	// The primary resource passed m.scope to match; any other target must
	// pass one of the rule's scopes itself, or a finding about an IAM user
	// could stop an instance no scope lets the rule touch.
	if res.Type != f.Resource.Type || res.ID != f.Resource.ID {
		if sm, why := e.targetInScope(m.rule, f.Account, f.Region, &res, inv.conditionFinding); sm == nil {
			return nil, &plan.IncidentError{
				Rule:    rule.Name,
				Summary: "Response targets a resource outside the rule's scopes",
				Detail: fmt.Sprintf("Policy %s targets %s %q with action %q, which no scope of rule %s admits (%s)%s. Nothing of this investigation is planned.",
					rule.Response, orNone(res.Type), targetID, r.Action, rule.Name, why, where()),
			}
		}
	}
	target := actions.Target{Type: strings.Clone(res.Type), ID: strings.Clone(res.ID), Account: strings.Clone(f.Account), Region: strings.Clone(f.Region)}
	change := cfgAction.Impl.Describe(&actions.Request{
		IncidentID: inv.incident.ID,
		Target:     target,
		Resource:   res,
		Finding:    f,
		Facts:      inv.factsByType,
	})
	if change.Before == nil {
		change.Before = map[string]any{}
	}
	if change.After == nil {
		change.After = map[string]any{}
	}
	a := &plan.Action{
		Address:  plan.Address(r.Action, res.ID),
		Action:   r.Action,
		Type:     def.Type,
		Phase:    def.Phase.String(),
		Target:   target,
		Change:   change,
		Rules:    []string{rule.Name},
		Reasons:  []string{},
		Approval: rule.Approval,
	}
	if r.Reason != "" {
		a.Reasons = append(a.Reasons, r.Reason)
	}
	return a, nil
}

// resource finds a valid target by id, preferring the finding's primary
// resource when several share the id.
func (inv *investigation) resource(id string) (schema.Resource, bool) {
	if inv.finding.Resource.ID == id && id != "" {
		return inv.finding.Resource, true
	}
	for _, r := range inv.resources {
		if r.ID == id && id != "" {
			return r, true
		}
	}
	return schema.Resource{}, false
}

// merge adds a planned action, folding it into an identical address
// planned by another rule (docs/configuration.md): one action listing both rules and
// reasons, needing manual approval if either rule does.
func (inv *investigation) merge(a *plan.Action) {
	prev, ok := inv.merged[a.Address]
	if !ok {
		inv.merged[a.Address] = a
		return
	}
	for _, r := range a.Rules {
		if !contains(prev.Rules, r) {
			prev.Rules = append(prev.Rules, r)
		}
	}
	for _, r := range a.Reasons {
		if !contains(prev.Reasons, r) {
			prev.Reasons = append(prev.Reasons, r)
		}
	}
	if a.Approval == "manual" {
		prev.Approval = "manual"
	}
}

// sortActions orders actions as apply runs them: phase, then target, then
// action name.
func sortActions(as []*plan.Action) {
	sort.Slice(as, func(i, j int) bool {
		pi, _ := actions.ParsePhase(as[i].Phase)
		pj, _ := actions.ParsePhase(as[j].Phase)
		if pi != pj {
			return pi < pj
		}
		if as[i].Target.ID != as[j].Target.ID {
			return as[i].Target.ID < as[j].Target.ID
		}
		return as[i].Action < as[j].Action
	})
}

func dedupeResources(rs []schema.Resource) []schema.Resource {
	seen := make(map[[2]string]bool, len(rs))
	out := rs[:0:0]
	for _, r := range rs {
		k := [2]string{r.Type, r.ID}
		if r.ID == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
