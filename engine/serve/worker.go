package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/schema"
)

// maxAttempts is how many times a delivery is taken up before it is given
// up as failed: one whose investigation kills the process every time (an
// out-of-memory policy, say) must not keep the daemon in a crash loop.
const maxAttempts = 3

// investigate plans the response to one delivery and, unless a guardrail
// or the rule holds it for approval, applies it. Every outcome is recorded
// with the delivery; a plan is stored in the same transaction that marks
// the delivery done, and applied after, so a crash anywhere leaves either
// the delivery queued or the plan stored to resume.
func (d *Daemon) investigate(ctx context.Context, id int64) error {
	dl, err := d.store.Delivery(ctx, id)
	if err != nil {
		return err
	}
	if dl.Status != state.DeliveryQueued {
		return nil
	}
	log := d.log.With("delivery", dl.ID, "source", dl.Source, "finding_id", dl.FindingID, "incident_id", dl.IncidentID)
	attempts, err := d.store.StartDelivery(ctx, id)
	if err != nil {
		return err
	}
	if attempts > maxAttempts {
		log.Error("giving up on the delivery: its investigation did not finish in earlier attempts", "attempts", attempts-1)
		d.metrics.investigations.WithLabelValues("error").Inc()
		return d.store.FinishDelivery(ctx, id, state.DeliveryResult{Outcome: state.OutcomeFailed,
			Error: fmt.Sprintf("given up after %d attempts that did not finish (the process stopped during each)", attempts-1)}, nil)
	}

	// An update no newer than the one last planned for the incident is
	// dropped: deliveries are unordered, and a re-publication of a finding
	// is a new delivery that must not undo a newer one.
	prevUpdated, prevCount, known, err := d.store.FindingVersion(ctx, dl.IncidentID)
	if err != nil {
		return err
	}
	if known && !newerUpdate(dl.FindingUpdatedAt, prevUpdated) {
		why := "an older update"
		if dl.FindingUpdatedAt == prevUpdated {
			why = "the same update"
		}
		log.Info("ignored: "+why+" of the finding than the one already planned", "updated_at", dl.FindingUpdatedAt, "planned_updated_at", prevUpdated)
		d.metrics.deduplicated.Inc()
		return d.store.FinishDelivery(ctx, id, state.DeliveryResult{Outcome: state.OutcomeStale,
			Error: fmt.Sprintf("%s of the finding (updated_at %s) than the one already planned (%s)", why, orNone(dl.FindingUpdatedAt), orNone(prevUpdated))}, nil)
	}

	eng := d.engine()
	res, diags := eng.Plan(ctx, []*engine.FindingsFile{{
		Name:    fmt.Sprintf("delivery %d (%s)", dl.ID, dl.Source),
		Records: []schema.Record{{Raw: dl.Record, Index: 0}},
	}}, engine.PlanOptions{Workers: 1, KeepData: true, AWS: d.aws, Facts: d.facts(), Budget: d.store})
	if ctx.Err() != nil {
		// Stopping: the delivery stays queued for the next start.
		return ctx.Err()
	}
	if diags.HasErrors() {
		msg := diagsText(diags)
		log.Error("investigation failed", "error", msg)
		d.metrics.investigations.WithLabelValues("error").Inc()
		return d.store.FinishDelivery(ctx, id, state.DeliveryResult{Outcome: state.OutcomeFailed, Error: msg}, nil)
	}
	p := res.Plan
	if len(p.Incidents) == 0 {
		reason := "no rule matched"
		if len(p.Unmatched) > 0 {
			reason = p.Unmatched[0].Reason
		}
		log.Info("no rule matched the finding", "type", dl.FindingType)
		d.metrics.investigations.WithLabelValues("none").Inc()
		return d.store.FinishDelivery(ctx, id, state.DeliveryResult{Outcome: state.OutcomeUnmatched, Error: reason}, nil)
	}
	inc := p.Incidents[0]
	data := res.Data[inc.ID]
	// The incident, its timeline events, the plan and the delivery's
	// outcome are recorded in one transaction.
	result := state.DeliveryResult{}
	incRec := engine.IncidentRecord(inc, data)
	result.Incident = &incRec
	for _, v := range inc.Verdicts {
		d.metrics.investigations.WithLabelValues(v.Verdict).Inc()
		log.Info("verdict", "rule", v.Rule, "verdict", v.Verdict, "confidence", confidence(v.Confidence))
	}
	if known {
		count := 0
		if data != nil && data.Finding != nil {
			count = data.Finding.Count
		}
		detail, _ := json.Marshal(map[string]any{"updated_at": dl.FindingUpdatedAt, "count": count, "previous_updated_at": prevUpdated, "previous_count": prevCount, "delivery": dl.ID})
		result.Events = append(result.Events, state.IncidentEvent{IncidentID: inc.ID, Kind: state.EventRecurrence,
			Summary: fmt.Sprintf("finding re-published: count %d (was %d), updated %s", count, prevCount, dl.FindingUpdatedAt),
			Detail:  detail, At: d.now()})
		log.Info("recurrence of a known incident: planned again", "count", count, "previous_count", prevCount)
	}
	// Actions past a rule's max_actions_per_hour were withheld at plan
	// time: each says why on the timeline and in the log.
	for _, w := range inc.Withheld {
		detail, _ := json.Marshal(map[string]any{"address": w.Address, "type": w.Type, "rules": w.Rules})
		result.Events = append(result.Events, state.IncidentEvent{IncidentID: inc.ID, Kind: state.EventWithheld,
			Summary: w.Address + " withheld: " + w.Reason, Detail: detail, At: d.now()})
		log.Warn("action withheld", "action", w.Address, "type", w.Type, "reason", w.Reason)
	}
	if len(inc.Errors) > 0 {
		var msgs []string
		for _, e := range inc.Errors {
			msgs = append(msgs, e.Rule+": "+e.Summary+": "+e.Detail)
		}
		log.Error("investigation failed", "errors", strings.Join(msgs, "; "))
		d.metrics.investigations.WithLabelValues("error").Inc()
		result.Outcome, result.Error = state.OutcomeFailed, strings.Join(msgs, "; ")
		return d.store.FinishDelivery(ctx, id, result, nil)
	}
	if len(inc.Actions) == 0 {
		log.Info("no actions planned")
		result.Outcome = state.OutcomeNoActions
		return d.store.FinishDelivery(ctx, id, result, nil)
	}

	file := res.File(eng, d.now().UTC().Format(time.RFC3339Nano))
	body, err := plan.Encode(file)
	if err != nil {
		return err
	}
	rec := &state.PlanRecord{ID: file.ID, IncidentID: inc.ID, ConfigDigest: file.ConfigDigest,
		Actions: len(inc.Actions), File: body, CreatedAt: d.now()}
	result.Outcome, result.PlanID = state.OutcomePlanned, rec.ID
	hold, err := d.holdReason(ctx, eng, inc)
	if err != nil {
		return err
	}
	switch {
	case eng.Config().Serve.DryRun:
		rec.Status, rec.Reason, result.Outcome = state.PlanDryRun, "dry_run: recorded, never applied", state.OutcomeDryRun
		result.Events = append(result.Events, d.planEvent(inc.ID, state.EventDryRun,
			fmt.Sprintf("dry run: plan %s recorded with %d actions, none applied", rec.ID, len(inc.Actions)), rec.ID))
	case hold != "":
		exp := d.now().Add(eng.Config().Serve.ApprovalTimeout)
		rec.Status, rec.Reason, rec.ExpiresAt, result.Outcome = state.PlanPending, hold, &exp, state.OutcomePending
		result.Events = append(result.Events, d.planEvent(inc.ID, state.EventHeld,
			fmt.Sprintf("plan %s waits for approval: %s", rec.ID, hold), rec.ID))
	default:
		rec.Status = state.PlanApproved
		rec.DecidedBy = "cordon (approval = \"auto\")"
	}
	// The worker applies the plan it made itself when the queue lets it
	// (claimed before it is stored, so the dispatcher does not hand it to
	// another worker too); on PostgreSQL the plan's own job applies it,
	// on whichever replica claims it.
	var release func()
	inline := false
	if rec.Status == state.PlanApproved {
		release, inline = d.dispatch.claimPlan(rec.ID)
		if inline {
			defer release()
			result.ApplyJobDelay = d.dispatch.backup()
		}
	}
	if err := d.store.FinishDelivery(ctx, id, result, rec); err != nil {
		return err
	}
	switch rec.Status {
	case state.PlanDryRun:
		for _, a := range inc.Actions {
			log.Info("dry run: would have applied", "plan", rec.ID, "action", a.Address, "type", a.Type)
		}
		return nil
	case state.PlanPending:
		d.metrics.plansPending.Inc()
		log.Warn("plan held for approval", "plan", rec.ID, "reason", hold, "expires_at", rec.ExpiresAt.UTC().Format(time.RFC3339))
		d.notifyPending(ctx, eng, file, rec, log)
		return nil
	}
	if !inline {
		return nil
	}
	d.reactionStart(inc.ID, dl.ReceivedAt)
	defer d.reacted(inc.ID, "", "") // forgets it, if no change was made
	// The plan just stored is applied from memory: reading it back would
	// only decode what was encoded.
	err = d.applyFile(ctx, rec, file, applyLockWait)
	if _, later := retryAt(err); later {
		// The plan stays approved in state: the queue tries it again
		// (the delivery itself is done).
		return nil
	}
	return err
}

// applyPlan applies a stored, approved plan. An apply a crash interrupted
// is resumed (the apply journal decides what is left); a plan already
// applied is only marked so.
func (d *Daemon) applyPlan(ctx context.Context, id string) error {
	return d.applyPlanWaiting(ctx, id, applyLockWait)
}

// applyLockWait is how long an apply waits for another apply's locks on
// its targets.
const applyLockWait = 2 * time.Minute

// applyPlanWaiting is applyPlan waiting at most lockWait for the targets'
// locks: a job queue that can put the job back (River) waits none.
func (d *Daemon) applyPlanWaiting(ctx context.Context, id string, lockWait time.Duration) error {
	rec, err := d.store.Plan(ctx, id)
	if err != nil {
		return err
	}
	if rec.Status != state.PlanApproved {
		return nil
	}
	f, err := plan.Decode(rec.File)
	if err != nil {
		// State holds what cordon wrote; this is corruption, not input.
		d.log.Error("stored plan is unreadable", "plan", id, "incident_id", rec.IncidentID, "error", err)
		return d.store.FinishPlan(ctx, id, state.PlanFailed, 0, "stored plan is unreadable: "+err.Error())
	}
	if rec.DeliveryID != 0 && rec.DecidedAt == nil {
		// Applied as soon as it was made (by another worker or replica):
		// the reaction runs from its finding's arrival.
		if dl, err := d.store.Delivery(ctx, rec.DeliveryID); err == nil {
			d.reactionStart(rec.IncidentID, dl.ReceivedAt)
			defer d.reacted(rec.IncidentID, "", "")
		}
	}
	return d.applyFile(ctx, rec, f, lockWait)
}

// applyFile applies an approved plan's file.
func (d *Daemon) applyFile(ctx context.Context, rec *state.PlanRecord, f *plan.File, lockWait time.Duration) error {
	id := rec.ID
	log := d.log.With("plan", id, "incident_id", rec.IncidentID)
	if len(f.Plan.Incidents) > 0 && f.Plan.Incidents[0].Finding.ID != "" {
		log = log.With("finding_id", f.Plan.Incidents[0].Finding.ID)
	}
	eng := d.engine()
	if f.ConfigDigest != eng.Digest() {
		return d.replanStale(ctx, eng, rec, f, log)
	}
	opts := d.applyOptions(log)
	opts.LockTimeout = lockWait
	// An approved plan is its own approval, as a saved plan is; its
	// incidents were recorded with it.
	opts.ApproveManual = true
	opts.IncidentsRecorded = true
	res, err := eng.Apply(ctx, f, opts)
	if errors.Is(err, engine.ErrAppliedPlan) {
		log.Info("plan was applied before the restart")
		return d.store.FinishPlan(ctx, id, state.PlanApplied, 0, "")
	}
	if errors.Is(err, engine.ErrStalePlan) {
		// A reload changed what the plan was made with (a variable's
		// value): plan the finding again, as for a changed digest.
		return d.replanStale(ctx, eng, rec, f, log)
	}
	if err != nil {
		if ctx.Err() != nil {
			// Stopping mid-apply: the apply stays running in state and is
			// resumed at the next start.
			return ctx.Err()
		}
		if errors.Is(err, state.ErrApplyTakenOver) {
			// Another replica resumed this apply (this one's lock sessions
			// were lost): it finishes the plan.
			log.Warn("apply taken over by another replica; stopping here", "error", err)
			return nil
		}
		if errors.Is(err, state.ErrApplyInProgress) {
			return err // another process still applies it: try later
		}
		var le *state.LockError
		if errors.As(err, &le) {
			// Another investigation acts on the target; the plan stays
			// approved and is tried again.
			log.Info("another apply holds the targets; will try again", "error", err)
			return err
		}
		if errors.Is(err, engine.ErrNoAccess) {
			// Nothing was recorded: the plan stays approved and is
			// tried again, within the approval timeout (retry.go).
			if at, first, ok := d.retries.failed(rec, d.now(), eng.Config().Serve.ApprovalTimeout); ok {
				log.Warn("apply found no AWS access; the plan stays approved and is tried again", "retry_at", at.UTC().Format(time.RFC3339), "error", err)
				if first {
					// The deadline first: the cause can be long, and
					// listings cut it short.
					summary := fmt.Sprintf("apply of plan %s failed; it is tried again until %s: %s", id,
						retryDeadline(rec, eng.Config().Serve.ApprovalTimeout).UTC().Format(time.RFC3339), err)
					if err := d.event(ctx, rec.IncidentID, state.EventApplyFailed, summary, id); err != nil {
						return err
					}
				}
				return &errRetryLater{at: at, err: err}
			}
			err = fmt.Errorf("%w (tried again until the approval timeout, %s after the plan was made or approved)", err, eng.Config().Serve.ApprovalTimeout)
		}
		d.retries.forget(id)
		log.Error("apply failed", "error", err)
		if err := d.event(ctx, rec.IncidentID, state.EventApplyFailed, fmt.Sprintf("apply of plan %s failed: %s", id, err), id); err != nil {
			return err
		}
		return d.store.FinishPlan(ctx, id, state.PlanFailed, 0, err.Error())
	}
	d.retries.forget(id)
	d.observeApply(res)
	status := state.PlanApplied
	if res.Failed() {
		status = state.PlanFailed
	}
	log.Info("plan applied", "apply", res.ApplyID, "applied", res.Summary.Applied, "no_change", res.Summary.NoChange,
		"failed", res.Summary.Failed, "drifted", res.Summary.Drifted, "skipped", res.Summary.Skipped)
	return d.store.FinishPlan(ctx, id, status, res.ApplyID, res.SummaryLine())
}

// replanStale handles a plan made under a configuration that has since
// been reloaded: it is not applied (its actions were checked against rules
// that no longer hold); its finding is planned again under the current
// configuration, and that plan goes through the guardrails afresh.
func (d *Daemon) replanStale(ctx context.Context, eng *engine.Engine, rec *state.PlanRecord, f *plan.File, log *slog.Logger) error {
	log.Warn("plan is stale: the configuration changed since it was made; planning the finding again")
	if err := d.store.FinishPlan(ctx, rec.ID, state.PlanStale, 0, "the configuration changed before it was applied"); err != nil {
		return err
	}
	for _, inc := range f.Plan.Incidents {
		data := f.Incidents[inc.ID]
		if data == nil || data.Finding == nil {
			continue
		}
		raw := data.Finding.Raw
		res, diags := eng.Plan(ctx, []*engine.FindingsFile{{Name: "stale plan " + rec.ID, Records: []schema.Record{{Raw: raw}}}},
			engine.PlanOptions{Workers: 1, KeepData: true, AWS: d.aws, Facts: d.facts(), Budget: d.store})
		if diags.HasErrors() || len(res.Plan.Incidents) == 0 || len(res.Plan.Incidents[0].Actions) == 0 || len(res.Plan.Incidents[0].Errors) > 0 {
			log.Warn("the finding plans no actions under the new configuration")
			continue
		}
		ni := res.Plan.Incidents[0]
		nf := res.File(eng, d.now().UTC().Format(time.RFC3339Nano))
		body, err := plan.Encode(nf)
		if err != nil {
			return err
		}
		if err := d.store.PutIncident(ctx, engine.IncidentRecord(ni, res.Data[ni.ID])); err != nil {
			return err
		}
		np := state.PlanRecord{ID: nf.ID, IncidentID: ni.ID, DeliveryID: rec.DeliveryID, ConfigDigest: nf.ConfigDigest,
			Actions: len(ni.Actions), File: body, CreatedAt: d.now(), Status: state.PlanApproved, DecidedBy: "cordon (approval = \"auto\")"}
		hold, err := d.holdReason(ctx, eng, ni)
		if err != nil {
			return err
		}
		if rec.DecidedBy != "" && !strings.HasPrefix(rec.DecidedBy, "cordon") && hold == "" {
			// A person approved the old plan, not this one.
			hold = fmt.Sprintf("plan %s, approved by %s, was made under a configuration that has changed since", rec.ID, rec.DecidedBy)
		}
		if eng.Config().Serve.DryRun {
			np.Status, np.Reason = state.PlanDryRun, "dry_run: recorded, never applied"
		} else if hold != "" {
			exp := d.now().Add(eng.Config().Serve.ApprovalTimeout)
			np.Status, np.Reason, np.ExpiresAt = state.PlanPending, hold, &exp
		}
		if err := d.store.PutPlan(ctx, np); err != nil {
			return err
		}
		if err := d.event(ctx, ni.ID, state.EventHeld, fmt.Sprintf("plan %s replaced stale plan %s (%s)", np.ID, rec.ID, np.Status), np.ID); err != nil {
			return err
		}
		switch np.Status {
		case state.PlanPending:
			d.metrics.plansPending.Inc()
			d.notifyPending(ctx, eng, nf, &np, log)
		case state.PlanApproved:
			d.dispatch.notify()
		}
	}
	return nil
}

// event appends an incident event, naming the plan in its detail.
func (d *Daemon) event(ctx context.Context, incident, kind, summary, planID string) error {
	return d.store.AddIncidentEvent(ctx, d.planEvent(incident, kind, summary, planID))
}

// planEvent is an incident event about a plan.
func (d *Daemon) planEvent(incident, kind, summary, planID string) state.IncidentEvent {
	detail, _ := json.Marshal(map[string]string{"plan_id": planID})
	return state.IncidentEvent{IncidentID: incident, Kind: kind, Summary: summary, Detail: detail, At: d.now()}
}

// observeApply counts an apply's actions in the metrics.
func (d *Daemon) observeApply(res *engine.ApplyResult) {
	for _, a := range res.Actions {
		d.metrics.actions.WithLabelValues(a.Type, string(a.Result)).Inc()
		d.metrics.actionSeconds.WithLabelValues(a.Type).Observe(a.Duration.Seconds())
	}
}

// newerUpdate reports whether update time a is after b. Both are the
// finding's updated_at as the source wrote it (RFC 3339); an unparsable
// time compares as text, and a finding without one is never newer than
// one planned already.
func newerUpdate(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	if errA == nil && errB == nil {
		return ta.After(tb)
	}
	if b == "" {
		return a != ""
	}
	return a > b
}

func diagsText(diags interface{ Error() string }) string { return diags.Error() }

func confidence(c *float64) any {
	if c == nil {
		return nil
	}
	return *c
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
