package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
)

// notifyPending tells people a plan waits for them: the notification
// actions the plan itself has (the rules' webhook and Slack actions) are
// sent at once, with the plan id, why it waits and the commands that
// decide it. They are sent again, as part of the plan, when it is applied.
// A failed notification is logged and does not fail the plan.
func (d *Daemon) notifyPending(ctx context.Context, eng *engine.Engine, f *plan.File, rec *state.PlanRecord, log *slog.Logger) {
	for _, inc := range f.Plan.Incidents {
		data := f.Incidents[inc.ID]
		outcomes := make([]actions.ActionOutcome, 0, len(inc.Actions))
		for _, a := range inc.Actions {
			outcomes = append(outcomes, actions.ActionOutcome{Address: a.Address, Result: "pending"})
		}
		summary := &actions.IncidentSummary{
			IncidentID: inc.ID, Actions: outcomes, Verdicts: []actions.VerdictBrief{},
			Summary: fmt.Sprintf("cordon holds plan %s for approval: %s", rec.ID, rec.Reason),
			Approval: &actions.ApprovalRequest{
				PlanID: rec.ID, Reason: rec.Reason, ExpiresAt: rec.ExpiresAt.UTC().Format(time.RFC3339),
				Approve: "cordon approve " + rec.ID + " -approver NAME",
				Reject:  "cordon reject " + rec.ID + " -approver NAME",
			},
		}
		for _, v := range inc.Verdicts {
			summary.Verdicts = append(summary.Verdicts, actions.VerdictBrief{Rule: v.Rule, Verdict: v.Verdict, Confidence: v.Confidence,
				Reasons: v.Reasons, RootCause: v.RootCause, Impact: v.Impact})
		}
		if data != nil && data.Finding != nil {
			fd := data.Finding
			summary.Finding = actions.FindingBrief{ID: fd.ID, Source: fd.Source, Type: fd.Type, Title: fd.Title, Severity: fd.Severity,
				Account: fd.Account, Region: fd.Region,
				Resource: actions.Target{Type: fd.Resource.Type, ID: fd.Resource.ID, Account: fd.Account, Region: fd.Region}}
		}
		sent := false
		for _, a := range inc.Actions {
			if a.Phase != actions.Notify.String() {
				continue
			}
			cfg := eng.Config().Actions[a.Action]
			if cfg == nil {
				continue
			}
			exec, ok := cfg.Impl.(actions.Executor)
			if !ok {
				continue
			}
			env := actions.Env{AWS: d.aws, HTTP: d.httpClient(), Now: d.now, Incident: summary}
			req := &actions.Request{IncidentID: inc.ID, Target: a.Target}
			if data != nil {
				req.Finding = data.Finding
			}
			nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_, _, err := exec.Apply(nctx, &env, req, nil)
			cancel()
			if err != nil {
				log.Warn("approval request not delivered", "plan", rec.ID, "action", a.Address, "error", err)
				continue
			}
			sent = true
			log.Info("approval requested", "plan", rec.ID, "action", a.Address)
		}
		if !sent {
			log.Warn("plan waits for approval, and no notification of the rule could say so", "plan", rec.ID)
		}
	}
}

// Decide approves or rejects a pending plan for a person (the API). An
// approved plan is handed to the workers at once.
func (d *Daemon) Decide(ctx context.Context, id string, dec state.PlanDecision) (*state.PlanRecord, error) {
	if dec.At.IsZero() {
		dec.At = d.now()
	}
	out, err := DecidePlan(ctx, d.store, id, dec)
	if err != nil {
		if errors.Is(err, ErrExpired) {
			d.metrics.plansPending.Dec()
		}
		return nil, err
	}
	d.metrics.plansPending.Dec()
	d.log.Info("plan "+string(dec.Status), "plan", id, "incident_id", out.IncidentID, "by", dec.By)
	if dec.Status == state.PlanApproved {
		d.dispatch.notify()
	}
	return out, nil
}

// ErrExpired is an approval that came after the plan's approval_timeout:
// the plan is expired instead, and never applied (docs/daemon.md). It matches
// state.ErrPlanDecided.
var ErrExpired = fmt.Errorf("%w: the plan expired", state.ErrPlanDecided)

// DecidePlan records a person's decision on a pending plan in st: what
// `cordon approve`, `cordon reject` and the API do. An approval after the
// plan's expiry expires it instead. A running daemon applies an approved
// plan when it next scans its state.
func DecidePlan(ctx context.Context, st state.Store, id string, dec state.PlanDecision) (*state.PlanRecord, error) {
	if dec.At.IsZero() {
		dec.At = time.Now()
	}
	rec, err := st.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	if dec.Status == state.PlanApproved && rec.Status == state.PlanPending && rec.ExpiresAt != nil && !dec.At.Before(*rec.ExpiresAt) {
		if _, err := st.DecidePlan(ctx, id, state.PlanDecision{Status: state.PlanExpired, By: expiryDecider,
			Note: "not approved within approval_timeout", At: dec.At}); err != nil && !errors.Is(err, state.ErrPlanDecided) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: plan %s expired at %s, before it was approved; it will never be applied", ErrExpired, id, rec.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return st.DecidePlan(ctx, id, dec)
}

// expiryDecider names the clock as the decider of an expired plan.
const expiryDecider = "cordon (approval_timeout)"

// expire rejects the pending plans whose approval_timeout has passed, and
// refreshes the pending gauge.
func (d *Daemon) expire(ctx context.Context) error {
	pending, err := d.store.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanPending}})
	if err != nil {
		return err
	}
	now := d.now()
	left := len(pending)
	for _, p := range pending {
		if p.ExpiresAt == nil || now.Before(*p.ExpiresAt) {
			continue
		}
		_, err := d.store.DecidePlan(ctx, p.ID, state.PlanDecision{Status: state.PlanExpired, By: expiryDecider,
			Note: "not approved within approval_timeout", At: now})
		if errors.Is(err, state.ErrPlanDecided) {
			left--
			continue // decided meanwhile
		}
		if err != nil {
			return err
		}
		left--
		d.log.Warn("plan expired: not approved in time; it will never be applied", "plan", p.ID, "incident_id", p.IncidentID,
			"expired_at", p.ExpiresAt.UTC().Format(time.RFC3339))
	}
	d.metrics.plansPending.Set(float64(left))
	return nil
}

// expireLoop runs expire periodically until ctx is done.
func (d *Daemon) expireLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := d.expire(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("expiring plans failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Daemon) httpClient() *http.Client {
	if d.opts.HTTP != nil {
		return d.opts.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}
