package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
)

// RevertPlan is the inverse of an incident's applied, reversible actions,
// in reverse phase order (docs/state.md): what `cordon revert` shows and applies.
type RevertPlan struct {
	ID       string `json:"id"`
	Incident string `json:"incident"`
	// Actions run in this order; each change goes from the recorded after
	// back to the recorded before.
	Actions []*plan.Action `json:"actions"`
	// Irreversible are applied actions revert leaves as they are
	// (snapshots are evidence; notifications cannot be unsent).
	Irreversible []string `json:"irreversible"`

	records []state.ActionRecord
}

// PlanRevert plans the revert of an incident's applied actions.
func (e *Engine) PlanRevert(ctx context.Context, st state.Store, incidentID string) (*RevertPlan, error) {
	if _, err := st.Incident(ctx, incidentID); err != nil {
		return nil, fmt.Errorf("incident %s: %w", incidentID, err)
	}
	recs, err := st.AppliedActions(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	rp := &RevertPlan{Incident: incidentID, Actions: []*plan.Action{}, Irreversible: []string{}}
	var keep []state.ActionRecord
	for _, r := range recs {
		if !r.Reversible {
			rp.Irreversible = append(rp.Irreversible, r.Address)
			continue
		}
		keep = append(keep, r)
	}
	// Reverse phase order; within a phase, the reverse of the order they
	// were applied in.
	sort.SliceStable(keep, func(i, j int) bool {
		pi, _ := actions.ParsePhase(keep[i].Phase)
		pj, _ := actions.ParsePhase(keep[j].Phase)
		if pi != pj {
			return pi > pj
		}
		return keep[i].ID > keep[j].ID
	})
	h := sha256.New()
	// A revert plan is made and applied once; a later revert of what is
	// left (after drift was sorted out) is a new one.
	fmt.Fprintf(h, "revert\x00%s\x00%d", incidentID, time.Now().UnixNano())
	for _, r := range keep {
		rp.Actions = append(rp.Actions, revertAction(r))
		fmt.Fprintf(h, "\x00%d", r.ID)
	}
	rp.records = keep
	rp.ID = "revert-" + hex.EncodeToString(h.Sum(nil)[:8])
	return rp, nil
}

// Revert applies a revert plan with the same locks, records and drift
// checks as an apply: an action whose target changed since it was applied
// is reported as drifted and left alone, never blindly overwritten.
func (e *Engine) Revert(ctx context.Context, rp *RevertPlan, opts ApplyOptions) (*ApplyResult, error) {
	a, err := e.newApplier(ctx, opts, state.KindRevert, rp.ID)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	for i, rec := range rp.records {
		exec, err := e.executorFor(rec)
		if err != nil {
			return nil, err
		}
		req, err := e.requestFromState(ctx, opts.Store, rec)
		if err != nil {
			return nil, err
		}
		rec := rec
		jobs = append(jobs, &job{incident: rec.IncidentID, action: rp.Actions[i], exec: exec, req: req, config: rec.Config, revertOf: &rec})
	}
	if len(jobs) == 0 {
		return &ApplyResult{PlanID: rp.ID, Kind: state.KindRevert, Actions: []*ActionResult{}}, nil
	}
	// As for an apply: without access, every action would fail on its
	// first call and be recorded as failed with nothing changed. Refuse
	// before anything is locked or recorded, so the incident stays as it
	// is and a later revert with access undoes everything.
	if err := checkRevertAccess(ctx, a.opts.AWS, rp.Incident, jobs); err != nil {
		return nil, err
	}
	release, err := a.lock(ctx, jobs)
	if err != nil {
		return nil, err
	}
	defer release()
	applyID, err := opts.Store.BeginApply(ctx, state.ApplyStart{
		PlanID: rp.ID, Kind: state.KindRevert, ConfigDigest: e.digest, CordonVersion: Version,
		Owner: opts.Owner, Resume: true, StartedAt: a.now(),
	})
	if err != nil {
		return nil, err
	}
	a.apply = applyID
	if err := a.recoverStarted(ctx, jobs); err != nil {
		return nil, err
	}
	// Phases run in reverse; run sorts by phase, so the jobs' own order
	// within a target is kept.
	return a.run(ctx, jobs, true)
}

// CheckRevertAccess checks that cordon can call AWS in every account where
// a change of rp would be undone (STS GetCallerIdentity with the
// credentials and role the revert would use), and returns ErrNoAccess,
// naming each account and why, when it cannot. Revert runs the same check
// before it locks or records anything; `cordon revert` runs it first as
// well, so that nobody is asked to approve a revert that cannot run.
func (e *Engine) CheckRevertAccess(ctx context.Context, rp *RevertPlan, opts ApplyOptions) error {
	f := opts.AWS
	if f == nil {
		var err error
		if f, err = e.AWSFactory(ctx, opts.Debug); err != nil {
			return noRevertAccess(rp.Incident, []string{err.Error()})
		}
	}
	jobs := make([]*job, 0, len(rp.records))
	for i, rec := range rp.records {
		exec, err := e.executorFor(rec)
		if err != nil {
			return err
		}
		jobs = append(jobs, &job{incident: rec.IncidentID, action: rp.Actions[i], exec: exec})
	}
	return checkRevertAccess(ctx, f, rp.Incident, jobs)
}

// checkRevertAccess checks access in each account of jobs whose action
// calls AWS, once per account. The account comes from the recorded
// target, and whether the action calls AWS from its recorded
// configuration: a revert undoes what was done, even when the action has
// since left the configuration.
func checkRevertAccess(ctx context.Context, f *awsclient.Factory, incident string, jobs []*job) error {
	causes := accessFailures(ctx, f, jobs, func(j *job) bool {
		// Notifications declare no permissions: they are never reverted,
		// and would need none.
		p, ok := j.exec.(interface{ Permissions() []string })
		return ok && len(p.Permissions()) > 0
	})
	if len(causes) > 0 {
		return noRevertAccess(incident, causes)
	}
	return nil
}

func noRevertAccess(incident string, causes []string) error {
	return fmt.Errorf("%w: %s. Nothing was reverted or recorded: run cordon revert %s again once cordon can call AWS",
		ErrNoAccess, strings.Join(causes, "; "), incident)
}
