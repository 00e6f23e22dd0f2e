package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/schema"
)

// RecoverResult is what recovery decided about one action a crash left
// started.
type RecoverResult struct {
	ActionID int64          `json:"action_id"`
	Incident string         `json:"incident"`
	Address  string         `json:"address"`
	Result   state.Result   `json:"result"`
	Note     string         `json:"note,omitempty"`
	Live     map[string]any `json:"live,omitempty"`
}

// Recover finishes the records of actions a crash left started (docs/state.md):
// it takes each target's lock (an action still in flight in a live apply
// holds it, and is left alone), re-reads the target's live state, and
// records the action as recovered when the change was made, interrupted
// when it was not. A notification has no live state to re-read: it is
// interrupted, its delivery unknown. It never repeats a step: a later
// apply of the same plan does what is left, a notification included.
func (e *Engine) Recover(ctx context.Context, opts ApplyOptions) ([]RecoverResult, error) {
	a, err := e.newApplier(ctx, opts, state.KindApply, "")
	if err != nil {
		return nil, err
	}
	started, err := opts.Store.StartedActions(ctx)
	if err != nil {
		return nil, err
	}
	var out []RecoverResult
	for _, rec := range started {
		release, err := opts.Store.Lock(ctx, []string{state.TargetLockKey(rec.Target)}, opts.Owner, 0)
		if errors.Is(err, state.ErrLockTimeout) {
			out = append(out, RecoverResult{ActionID: rec.ID, Incident: rec.IncidentID, Address: rec.Address, Result: state.ResultStarted,
				Note: heldNote(err)})
			continue
		}
		if err != nil {
			return out, err
		}
		res, err := a.recoverOne(ctx, rec, nil)
		release()
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// heldNote says why recovery left an action alone: its target's lock is
// held, by a live apply or by one on another host that cordon cannot
// judge (a dead holder on this host would have been taken over). It names
// the holder and the lock's id, so a holder known to be gone can be
// unlocked and the action recovered.
func heldNote(err error) string {
	var le *state.LockError
	if !errors.As(err, &le) || le.Holder.ID == "" {
		return "in flight: a running apply holds the target's lock; left alone"
	}
	h := le.Holder
	where := "running on this host"
	if h.Liveness != state.LivenessAlive {
		where = "on another host, which cordon cannot check"
	}
	return fmt.Sprintf("in flight: the target's lock %s is held by %s (pid %d on %s, %s); left alone. If that apply is gone, run `cordon state unlock %s`, then recover again",
		h.ID, h.Owner, h.PID, h.Host, where, h.ID)
}

// recoverStarted recovers the started actions of the apply being resumed,
// before it goes on. Their targets' locks are already held.
func (a *applier) recoverStarted(ctx context.Context, jobs []*job) error {
	started, err := a.opts.Store.StartedActions(ctx)
	if err != nil {
		return err
	}
	byKey := map[state.ActionKey]*job{}
	for _, j := range jobs {
		byKey[state.ActionKey{IncidentID: j.incident, Address: j.action.Address}] = j
	}
	for _, rec := range started {
		if rec.PlanID != a.planID {
			continue
		}
		res, err := a.recoverOne(ctx, rec, byKey[rec.Key()])
		if err != nil {
			return err
		}
		a.progress("%s: Recovered from the interrupted apply: %s%s", rec.Address, res.Result, noteSuffix(res.Note))
	}
	return nil
}

// notificationNote says why a notification left started is interrupted,
// and what becomes of it.
func notificationNote(rec state.ActionRecord) string {
	note := "whether the receiver got the notification is unknown (no answer was recorded before the crash); the next apply of this plan, or the incident's next plan, sends it again"
	var before map[string]any
	json.Unmarshal(rec.Before, &before)
	if key, ok := before[deliveredKey].(string); ok && key != "" {
		note += " with the same delivery key (X-Cordon-Delivery " + key + ")"
	}
	return note
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return " (" + n + ")"
}

// recoverOne decides and records one started action. j, when known, gives
// the request the plan made; otherwise it is rebuilt from state.
func (a *applier) recoverOne(ctx context.Context, rec state.ActionRecord, j *job) (RecoverResult, error) {
	res := RecoverResult{ActionID: rec.ID, Incident: rec.IncidentID, Address: rec.Address}
	finish := func(r state.Result, note string, after map[string]any) (RecoverResult, error) {
		res.Result, res.Note = r, note
		var aj json.RawMessage
		if after != nil {
			aj, _ = json.Marshal(after)
		}
		err := a.opts.Store.ActionFinished(context.WithoutCancel(ctx), rec.ID, state.Outcome{Result: r, After: aj, Error: note, FinishedAt: a.now()})
		return res, err
	}
	if rec.Phase == actions.Notify.String() {
		// A notification cannot be read back from its receiver: it was
		// delivered only if its receiver's 2xx was recorded, and a started
		// record says it was not. Counting it as sent could lose it for
		// good; sent again, it carries the same delivery key, which the
		// receiver uses to drop a copy (Slack cannot, and may show one).
		return finish(state.ResultInterrupted, notificationNote(rec), nil)
	}
	exec, err := a.e.executorFor(rec)
	if err != nil {
		return finish(state.ResultInterrupted, "cannot re-read the target: "+err.Error(), nil)
	}
	var req *actions.Request
	if j != nil {
		req = j.req
	} else if req, err = a.e.requestFromState(ctx, a.opts.Store, rec); err != nil {
		return finish(state.ResultInterrupted, "cannot re-read the target: "+err.Error(), nil)
	}
	env := a.env
	live, err := exec.Read(ctx, &env, req)
	if err != nil {
		// Unknown: leave it started, so a later recovery tries again.
		res.Result, res.Note = state.ResultStarted, "reading live state failed: "+err.Error()
		return res, nil
	}
	live = normalizeJSON(live)
	res.Live = live

	var before map[string]any
	json.Unmarshal(rec.Before, &before)
	var planned actions.Change
	json.Unmarshal(rec.Planned, &planned)
	if rec.Kind == state.KindRevert {
		// A revert's plan runs from the applied after back to before.
		planned.Before, planned.After = planned.After, planned.Before
	}
	if before != nil && len(differences(before, nil, live)) == 0 {
		return finish(state.ResultInterrupted, "the change was not made", nil)
	}
	if planned.After != nil && len(differences(planned.After, planned.AfterUnknown, live)) == 0 {
		return finish(state.ResultRecovered, "", live)
	}
	if before == nil {
		return finish(state.ResultInterrupted, "the state before the change was not recorded; check the target", nil)
	}
	return finish(state.ResultInterrupted, "the target is in neither the state before nor the planned state, so the change may be half made: "+
		strings.Join(differences(before, nil, live), "; "), nil)
}

// executorFor rebuilds the action of a recorded action: from its recorded
// configuration, or the current configuration's block of that name.
func (e *Engine) executorFor(rec state.ActionRecord) (actions.Executor, error) {
	def, ok := actions.Lookup(rec.Type)
	if !ok {
		return nil, fmt.Errorf("unknown action type %s", rec.Type)
	}
	var a actions.Action
	if rec.Config != nil {
		val, err := ctyjson.Unmarshal(rec.Config, hcldec.ImpliedType(def.Attributes))
		if err != nil {
			return nil, fmt.Errorf("recorded configuration of %s: %w", rec.Address, err)
		}
		if a, err = def.New(val); err != nil {
			return nil, fmt.Errorf("recorded configuration of %s: %w", rec.Address, err)
		}
	} else if c := e.cfg.Actions[rec.Action]; c != nil && c.Type == rec.Type {
		a = c.Impl
	} else {
		return nil, fmt.Errorf("action %s (%s) is no longer configured and its configuration was not recorded", rec.Action, rec.Type)
	}
	exec, ok := a.(actions.Executor)
	if !ok {
		return nil, fmt.Errorf("action type %s cannot act", rec.Type)
	}
	return exec, nil
}

// requestFromState rebuilds an action's request from the incident
// recorded in state: the finding, its resources and its facts.
func (e *Engine) requestFromState(ctx context.Context, st state.Store, rec state.ActionRecord) (*actions.Request, error) {
	d, err := st.Incident(ctx, rec.IncidentID)
	if err != nil {
		return nil, err
	}
	req := &actions.Request{IncidentID: rec.IncidentID, Target: rec.Target, Facts: map[string]map[string]any{}}
	var f schema.Finding
	if d.Incident.FindingData != nil && json.Unmarshal(d.Incident.FindingData, &f) == nil {
		req.Finding = &f
	}
	var facts map[string]map[string]any
	if d.Incident.Facts != nil && json.Unmarshal(d.Incident.Facts, &facts) == nil {
		req.Facts = e.factsByType(facts)
	}
	req.Resource = schema.Resource{Type: rec.Target.Type, ID: rec.Target.ID, Tags: map[string]string{}, Details: map[string]any{}}
	if req.Finding != nil {
		for _, r := range req.Finding.Resources {
			if r.ID == rec.Target.ID && r.Type == rec.Target.Type {
				req.Resource = r
			}
		}
	}
	return req, nil
}

// revertAction is an applied action as a planned revert: its change runs
// from the recorded after back to the recorded before.
func revertAction(rec state.ActionRecord) *plan.Action {
	var before, after map[string]any
	json.Unmarshal(rec.Before, &before)
	json.Unmarshal(rec.After, &after)
	// The revert expects the target as the apply left it, in the
	// attributes Read returns (the keys of the recorded before); the
	// after-state may hold more (a revoked role's name) that Read cannot
	// see once the change is made.
	expect := make(map[string]any, len(before))
	for k := range before {
		if v, ok := after[k]; ok {
			expect[k] = v
		}
	}
	return &plan.Action{
		Address: rec.Address, Action: rec.Action, Type: rec.Type, Phase: rec.Phase, Target: rec.Target,
		Change: actions.Change{Before: expect, After: before}, Rules: []string{}, Reasons: []string{},
	}
}
