package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/ui"
)

// ApplyOptions configure Apply and Revert.
type ApplyOptions struct {
	Store state.Store
	// AWS builds the SDK clients; nil builds them from the provider block.
	AWS *awsclient.Factory
	// HTTP posts notifications; default a client with sane timeouts.
	HTTP *http.Client
	// LockTimeout is how long to wait for another apply's target locks
	// (0: fail at once, docs/state.md).
	LockTimeout time.Duration
	// Owner says who applies (user@host and the command), for the record.
	Owner string
	// ApproveManual applies actions of rules with approval = "manual":
	// true for a saved plan or -auto-approve (docs/plan-and-apply.md).
	ApproveManual bool
	// Concurrency bounds the targets acted on at once in a phase.
	Concurrency int
	// Progress receives a line per action as it starts and ends; nil
	// discards.
	Progress io.Writer
	// IncidentsRecorded says the caller recorded the plan's incidents
	// already (the daemon records them with the plan), so Apply records
	// only their evidence.
	IncidentsRecorded bool
	// OnChange, when set, is called as an action's change is about to be
	// made: after its record is committed, before the call that makes it.
	// The daemon measures its reaction time with it.
	OnChange func(incident, address, typ string)
	// Debug receives debug lines (AWS retries); nil discards.
	Debug io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ActionResult is what became of one action of an apply or revert.
type ActionResult struct {
	Incident string         `json:"incident"`
	Address  string         `json:"address"`
	Action   string         `json:"action"`
	Type     string         `json:"type"`
	Phase    string         `json:"phase"`
	Target   actions.Target `json:"target"`
	Result   state.Result   `json:"result"`
	Error    string         `json:"error,omitempty"`
	Before   map[string]any `json:"before,omitempty"`
	After    map[string]any `json:"after,omitempty"`
	Duration time.Duration  `json:"-"`
	Millis   int64          `json:"duration_ms"`
}

// ApplyResult is the outcome of an apply or a revert.
type ApplyResult struct {
	PlanID  string          `json:"plan_id"`
	ApplyID int64           `json:"apply_id"`
	Kind    state.Kind      `json:"kind"`
	Actions []*ActionResult `json:"actions"`
	Summary ApplySummary    `json:"summary"`
}

// ApplySummary counts results.
type ApplySummary struct {
	Applied  int `json:"applied"`
	NoChange int `json:"no_change"`
	Failed   int `json:"failed"`
	Drifted  int `json:"drifted"`
	Skipped  int `json:"skipped"`
}

// Failed reports whether any action failed.
func (r *ApplyResult) Failed() bool { return r.Summary.Failed > 0 }

// SummaryLine is the closing line for the result's kind.
func (r *ApplyResult) SummaryLine() string {
	if r.Kind == state.KindRevert {
		return r.Summary.RevertString()
	}
	return r.Summary.String()
}

// String is Terraform's closing line.
func (s ApplySummary) String() string { return s.line("applied") }

// RevertString is the closing line of a revert.
func (s ApplySummary) RevertString() string { return s.line("reverted") }

func (s ApplySummary) line(done string) string {
	line := fmt.Sprintf("Actions: %d %s, %d failed, %d drifted", s.Applied, done, s.Failed, s.Drifted)
	if s.NoChange > 0 {
		line += fmt.Sprintf(", %d unchanged", s.NoChange)
	}
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	return line + "."
}

// Errors returned by Apply for a plan it refuses, with nothing changed.
var (
	ErrStalePlan      = errors.New("Saved plan is stale")
	ErrIncompletePlan = errors.New("Cannot apply incomplete plan")
	ErrAppliedPlan    = errors.New("Saved plan was already applied")
	// ErrNoAccess: cordon cannot call AWS in an account the plan acts in
	// (no credentials, refused ones, a role it cannot assume, an endpoint
	// it cannot reach). Nothing is recorded: the plan stays appliable.
	ErrNoAccess = errors.New("No AWS access")
)

// checkAccess checks, before anything is recorded, that cordon can call
// AWS in every account where an action of jobs calls it (STS
// GetCallerIdentity with the credentials and role the actions use).
func (a *applier) checkAccess(ctx context.Context, jobs []*job) error {
	causes := accessFailures(ctx, a.opts.AWS, jobs, func(j *job) bool {
		cfg := a.e.cfg.Actions[j.action.Action]
		if cfg == nil {
			return false
		}
		_, callsAWS := cfg.Impl.(interface{ Permissions() []string })
		return callsAWS
	})
	if len(causes) > 0 {
		return fmt.Errorf("%w: %s. Nothing was applied or recorded: apply the plan again once cordon can call AWS", ErrNoAccess, strings.Join(causes, "; "))
	}
	return nil
}

// accessFailures asks STS, once per account in account order, whether
// cordon can call AWS in the account of each job that callsAWS, and
// returns why not where it cannot.
func accessFailures(ctx context.Context, f *awsclient.Factory, jobs []*job, callsAWS func(*job) bool) []string {
	type where struct{ account, region string }
	seen := map[string]bool{}
	var checks []where
	for _, j := range jobs {
		if t := j.action.Target; callsAWS(j) && !seen[t.Account] {
			seen[t.Account] = true
			checks = append(checks, where{t.Account, t.Region})
		}
	}
	sort.Slice(checks, func(i, k int) bool { return checks[i].account < checks[k].account })
	var causes []string
	for _, w := range checks {
		if _, err := f.CheckAccess(ctx, w.account, w.region); err != nil {
			causes = append(causes, err.Error())
		}
	}
	return causes
}

// applier runs one apply or revert.
type applier struct {
	e      *Engine
	opts   ApplyOptions
	env    actions.Env
	apply  int64
	kind   state.Kind
	planID string

	mu      sync.Mutex
	results []*ActionResult
	// failedTargets are targets an action failed on: later phases skip them.
	failedTargets map[string]bool
	// outcomes are each incident's results so far, for notifications.
	outcomes map[string][]actions.ActionOutcome
}

// job is one action to apply or revert.
type job struct {
	incident string
	action   *plan.Action
	exec     actions.Executor
	req      *actions.Request
	config   json.RawMessage
	// For a revert: the applied record being undone.
	revertOf *state.ActionRecord
	// For a resumed apply: the earlier record of this action.
	done *state.ActionRecord
	// manual marks an action that needs an approval it has not got.
	manual bool
	// verdicts are the incident's, for notifications.
	verdicts []actions.VerdictBrief
}

// Apply applies a saved plan (docs/plan-and-apply.md): it refuses a stale, incomplete or
// already applied plan with nothing changed, and one that is not what the
// current configuration would plan (see checkPlanFile); locks every
// target; records the incidents and each action in state before and after
// its call; runs phases in order and a phase's targets concurrently; skips
// an action whose target drifted from the plan; and stops later phases for
// a target an action failed on. An apply a crash interrupted is resumed
// without repeating what it had done.
//
// Apply does not check a plan file's signature: the caller does, with the
// state's plan key (plan.File.Verify), as `cordon apply` does.
func (e *Engine) Apply(ctx context.Context, f *plan.File, opts ApplyOptions) (*ApplyResult, error) {
	if err := f.CheckID(); err != nil {
		return nil, fmt.Errorf("%w: %w. Run cordon plan again", ErrModifiedPlan, err)
	}
	if f.ConfigDigest != e.digest {
		return nil, fmt.Errorf("%w: the configuration or its policies changed since the plan was made (plan %s, now %s). Run cordon plan again", ErrStalePlan, short(f.ConfigDigest), short(e.digest))
	}
	if f.Plan.HasErrors() {
		return nil, fmt.Errorf("%w: %d investigations failed when it was made", ErrIncompletePlan, f.Plan.Summary.Errors)
	}
	if err := e.checkPlanFile(f); err != nil {
		return nil, err
	}
	a, err := e.newApplier(ctx, opts, state.KindApply, f.ID)
	if err != nil {
		return nil, err
	}
	var jobs []*job
	for _, inc := range f.Plan.Incidents {
		data := f.Incidents[inc.ID]
		for _, pa := range inc.Actions {
			j, err := e.applyJob(inc, data, pa)
			if err != nil {
				return nil, err
			}
			j.manual = pa.Approval == config.ApprovalManual && !opts.ApproveManual
			j.verdicts = verdictBriefs(inc.Verdicts)
			jobs = append(jobs, j)
		}
	}
	// Without access to an account, every action there would fail on its
	// first call (after its retries), and the plan would be recorded as
	// applied with nothing changed: refuse it first, recording nothing, so
	// that it can be applied once access works.
	if err := a.checkAccess(ctx, jobs); err != nil {
		return nil, err
	}
	release, err := a.lock(ctx, jobs)
	if err != nil {
		return nil, err
	}
	defer release()

	applyID, err := opts.Store.BeginApply(ctx, state.ApplyStart{
		PlanID: f.ID, Kind: state.KindApply, ConfigDigest: f.ConfigDigest,
		CordonVersion: Version, Owner: opts.Owner, Resume: true, StartedAt: a.now(),
	})
	if errors.Is(err, state.ErrAlreadyApplied) {
		return nil, fmt.Errorf("%w: plan %s has been applied; make a new plan", ErrAppliedPlan, f.ID)
	}
	if err != nil {
		return nil, err
	}
	a.apply = applyID

	// A resumed apply finishes what the crash left started, then skips
	// every action already done.
	if err := a.recoverStarted(ctx, jobs); err != nil {
		return nil, err
	}
	done, err := opts.Store.DoneActions(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if r, ok := done[state.ActionKey{IncidentID: j.incident, Address: j.action.Address}]; ok {
			r := r
			j.done = &r
		}
	}
	for _, inc := range f.Plan.Incidents {
		if !opts.IncidentsRecorded {
			if err := opts.Store.PutIncident(ctx, incidentRecord(inc, f.Incidents[inc.ID])); err != nil {
				return nil, err
			}
		}
		if err := recordEvidence(ctx, opts.Store, inc.ID, f.Incidents[inc.ID], a.now()); err != nil {
			return nil, err
		}
	}
	return a.run(ctx, jobs, false)
}

func (e *Engine) newApplier(ctx context.Context, opts ApplyOptions, kind state.Kind, planID string) (*applier, error) {
	if opts.Store == nil {
		return nil, errors.New("no state store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.AWS == nil {
		f, err := e.AWSFactory(ctx, opts.Debug)
		if err != nil {
			return nil, err
		}
		opts.AWS = f
	}
	return &applier{
		e: e, opts: opts, kind: kind, planID: planID,
		env:           actions.Env{AWS: opts.AWS, HTTP: opts.HTTP, Now: opts.Now, Debug: opts.Debug, Forensic: e.forensic()},
		failedTargets: map[string]bool{},
		outcomes:      map[string][]actions.ActionOutcome{},
	}, nil
}

// AWSFactory builds the AWS clients from the provider block.
func (e *Engine) AWSFactory(ctx context.Context, debug io.Writer) (*awsclient.Factory, error) {
	o := awsclient.Options{Version: Version, Debug: debug}
	if p := e.cfg.Provider; p != nil {
		o.Region, o.Profile, o.Endpoint, o.AssumeRoleARN = p.Region, p.Profile, p.Endpoint, p.AssumeRoleARN
	}
	return awsclient.New(ctx, o)
}

func (a *applier) now() time.Time { return a.opts.Now() }

// applyJob resolves a planned action to its executor and request.
func (e *Engine) applyJob(inc *plan.Incident, data *plan.IncidentData, pa *plan.Action) (*job, error) {
	cfg := e.cfg.Actions[pa.Action]
	if cfg == nil || cfg.Type != pa.Type {
		return nil, fmt.Errorf("%w: action %s (%s) is not in the configuration", ErrStalePlan, pa.Action, pa.Type)
	}
	exec, ok := cfg.Impl.(actions.Executor)
	if !ok {
		return nil, fmt.Errorf("action type %s cannot be applied", pa.Type)
	}
	if data == nil {
		return nil, fmt.Errorf("plan file has no data for incident %s", inc.ID)
	}
	res, ok := recordedResource(data, pa.Target.Type, pa.Target.ID)
	if !ok {
		return nil, fmt.Errorf("plan file has no resource %s for incident %s", pa.Target.ID, inc.ID)
	}
	j := &job{
		incident: inc.ID,
		action:   pa,
		exec:     exec,
		req: &actions.Request{
			IncidentID: inc.ID,
			Target:     pa.Target,
			Resource:   res,
			Finding:    data.Finding,
			Facts:      e.factsByType(data.Facts),
		},
	}
	if cfg.Def.Reversible {
		// The configuration revert needs (an isolation group, a profile),
		// never a secret: reversible types have none.
		if b, err := ctyjson.Marshal(cfg.Config, cfg.Config.Type()); err == nil {
			j.config = b
		}
	}
	return j, nil
}

// factsByType re-keys facts from collector names to collector types, the
// way actions look them up; failed collectors are left out.
func (e *Engine) factsByType(byName map[string]map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, facts := range byName {
		c := e.cfg.Collectors[name]
		if c == nil {
			continue
		}
		if _, failed := facts["error"]; failed {
			continue
		}
		out[c.Type] = facts
	}
	return out
}

// IncidentRecord is what state records of a planned incident.
func IncidentRecord(inc *plan.Incident, data *plan.IncidentData) state.Incident {
	return incidentRecord(inc, data)
}

func incidentRecord(inc *plan.Incident, data *plan.IncidentData) state.Incident {
	rec := state.Incident{ID: inc.ID, Finding: inc.Finding, Matches: inc.Matches, Verdicts: inc.Verdicts}
	if data != nil && data.Finding != nil {
		rec.FindingUpdatedAt, rec.FindingCount = data.Finding.UpdatedAt, data.Finding.Count
	}
	if data != nil {
		if b, err := json.Marshal(data.Finding); err == nil {
			rec.FindingData = b
		}
		if b, err := json.Marshal(data.Facts); err == nil {
			rec.Facts = b
		}
	}
	return rec
}

// recordEvidence stores an incident's facts, one record per collector with
// its SHA-256 (the chain of custody), and the artefacts collectors kept.
func recordEvidence(ctx context.Context, st state.Store, incidentID string, data *plan.IncidentData, now time.Time) error {
	if data == nil {
		return nil
	}
	names := make([]string, 0, len(data.Facts))
	for n := range data.Facts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := json.Marshal(data.Facts[n])
		if err != nil {
			return err
		}
		meta, _ := json.Marshal(map[string]any{"collector": n})
		if err := st.PutEvidence(ctx, state.Evidence{IncidentID: incidentID, Kind: "facts", Name: n, Data: b, Size: int64(len(b)), Meta: meta, CreatedAt: now}); err != nil {
			return fmt.Errorf("recording facts of %s: %w", n, err)
		}
	}
	for _, a := range data.Artefacts {
		meta, _ := json.Marshal(a.Meta)
		ev := state.Evidence{IncidentID: incidentID, Kind: a.Kind, Name: a.Name, Data: a.Data, Size: int64(len(a.Data)), Meta: meta, CreatedAt: now}
		if a.Data == nil {
			if sum, ok := a.Meta["sha256"].(string); ok {
				ev.SHA256 = sum
			}
			// An artefact kept elsewhere (a memory image in S3) gives its
			// size with its digest: an int64 from the collector, a float64
			// from a plan file.
			switch n := a.Meta["size"].(type) {
			case int64:
				ev.Size = n
			case float64:
				if n >= 0 && n == math.Trunc(n) && n < 1<<53 {
					ev.Size = int64(n)
				}
			}
		}
		if err := st.PutEvidence(ctx, ev); err != nil {
			return fmt.Errorf("recording %s %s: %w", a.Kind, a.Name, err)
		}
	}
	return nil
}

// lock takes every target's lock, all or none.
func (a *applier) lock(ctx context.Context, jobs []*job) (func(), error) {
	seen := map[string]bool{}
	var keys []string
	for _, j := range jobs {
		k := state.TargetLockKey(j.action.Target)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	release, err := a.opts.Store.Lock(ctx, keys, a.opts.Owner, a.opts.LockTimeout)
	if err != nil {
		var le *state.LockError
		if errors.As(err, &le) && a.opts.LockTimeout == 0 {
			return nil, fmt.Errorf("%w (another apply is acting on this target; wait with -lock-timeout)", err)
		}
		return nil, err
	}
	return func() { release() }, nil
}

// run executes jobs phase by phase; within a phase, each target's jobs run
// in order and different targets concurrently.
func (a *applier) run(ctx context.Context, jobs []*job, reverse bool) (*ApplyResult, error) {
	phases := map[actions.Phase][]*job{}
	for _, j := range jobs {
		p, _ := actions.ParsePhase(j.action.Phase)
		phases[p] = append(phases[p], j)
	}
	order := []actions.Phase{actions.Preserve, actions.Contain, actions.Acquire, actions.Disrupt, actions.Notify}
	if reverse {
		for i, k := 0, len(order)-1; i < k; i, k = i+1, k-1 {
			order[i], order[k] = order[k], order[i]
		}
	}
	var runErr error
	for _, phase := range order {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		byTarget := map[string][]*job{}
		var targets []string
		for _, j := range phases[phase] {
			k := state.TargetLockKey(j.action.Target) + "\x00" + j.incident
			if _, ok := byTarget[k]; !ok {
				targets = append(targets, k)
			}
			byTarget[k] = append(byTarget[k], j)
		}
		sem := make(chan struct{}, a.opts.Concurrency)
		var wg sync.WaitGroup
		var errMu sync.Mutex
		for _, k := range targets {
			wg.Add(1)
			sem <- struct{}{}
			go func(js []*job) {
				defer wg.Done()
				defer func() { <-sem }()
				for _, j := range js {
					if err := a.execute(ctx, j); err != nil {
						errMu.Lock()
						if runErr == nil {
							runErr = err
						}
						errMu.Unlock()
						return
					}
				}
			}(byTarget[k])
		}
		wg.Wait()
		if runErr != nil {
			break
		}
	}

	res := &ApplyResult{PlanID: a.planID, ApplyID: a.apply, Kind: a.kind, Actions: a.results}
	for _, r := range res.Actions {
		switch r.Result {
		case state.ResultApplied, state.ResultRecovered:
			res.Summary.Applied++
		case state.ResultNoChange:
			res.Summary.NoChange++
		case state.ResultFailed, state.ResultInterrupted:
			res.Summary.Failed++
		case state.ResultDrifted:
			res.Summary.Drifted++
		case state.ResultSkipped:
			res.Summary.Skipped++
		}
	}
	status := state.ApplyApplied
	switch {
	case res.Summary.Failed+res.Summary.Drifted+res.Summary.Skipped == 0:
	case res.Summary.Applied == 0:
		status = state.ApplyFailed
	default:
		status = state.ApplyPartial
	}
	summary, _ := json.Marshal(res.Summary)
	if runErr != nil {
		// A state write failed or the apply was cancelled: leave the apply
		// running so the next apply or `cordon state recover` finishes it.
		return res, runErr
	}
	if err := a.opts.Store.FinishApply(context.WithoutCancel(ctx), a.apply, status, summary); err != nil {
		return res, err
	}
	return res, nil
}

// execute applies (or reverts) one action and records it. Its error is a
// failure of the apply itself (state cannot be written), never of the
// action, which is recorded as failed instead.
func (a *applier) execute(ctx context.Context, j *job) error {
	targetKey := state.TargetLockKey(j.action.Target) + "\x00" + j.incident
	start := a.now()
	r := &ActionResult{
		Incident: j.incident, Address: j.action.Address, Action: j.action.Action, Type: j.action.Type,
		Phase: j.action.Phase, Target: j.action.Target,
	}
	finish := func(id int64, res state.Result, errText string, after map[string]any) error {
		r.Result, r.Error, r.After = res, errText, after
		r.Duration = a.now().Sub(start)
		r.Millis = r.Duration.Milliseconds()
		if id != 0 {
			afterJSON, _ := json.Marshal(after)
			if after == nil {
				afterJSON = nil
			}
			if err := a.opts.Store.ActionFinished(context.WithoutCancel(ctx), id, state.Outcome{Result: res, After: afterJSON, Error: errText, FinishedAt: a.now()}); err != nil {
				return err
			}
		}
		a.record(r, targetKey)
		return nil
	}
	// record records the action as started. changing says the call that
	// follows may change the target: only such records count against, and
	// can be withheld by, the rules' max_actions_per_hour.
	record := func(before map[string]any, changing bool) (int64, error) {
		bj, _ := json.Marshal(before)
		if before == nil {
			bj = nil
		}
		ps := state.ActionStart{
			ApplyID: a.apply, IncidentID: j.incident, Address: j.action.Address, Action: j.action.Action,
			Type: j.action.Type, Phase: j.action.Phase, Target: j.action.Target, Before: bj, Config: j.config,
			StartedAt: a.now(), Planned: plannedJSON(j),
		}
		if def, ok := actions.Lookup(j.action.Type); ok {
			ps.Reversible = def.Reversible
		}
		if j.revertOf != nil {
			ps.RevertOf = j.revertOf.ID
		} else {
			ps.Rules = j.action.Rules
			if changing {
				ps.Limits = a.e.ruleLimits(j.action.Rules)
			}
		}
		return a.opts.Store.ActionStarted(ctx, ps)
	}

	// Actions that are done (a resumed apply) are reported, not repeated.
	if j.done != nil && (j.done.Result == state.ResultApplied || j.done.Result == state.ResultNoChange || j.done.Result == state.ResultRecovered) {
		var after map[string]any
		json.Unmarshal(j.done.After, &after)
		r.Result, r.After = state.ResultNoChange, after
		r.Error = "already " + string(j.done.Result) + " before the apply was interrupted"
		a.record(r, targetKey)
		a.progress("%s: Already done (%s earlier)", j.action.Address, j.done.Result)
		// A crash may have come between its outcome and its evidence.
		return a.recordSnapshots(ctx, j, after)
	}

	notify := j.action.Phase == actions.Notify.String()
	if j.manual {
		id, err := record(nil, false)
		if err != nil {
			return err
		}
		a.progress("%s: Skipped: needs manual approval (apply a saved plan, or use -auto-approve)", j.action.Address)
		return finish(id, state.ResultSkipped, "needs manual approval", nil)
	}
	if why := a.e.notConfigured(j.action.Action); why != "" {
		id, err := record(nil, false)
		if err != nil {
			return err
		}
		a.progress("%s: Skipped: not configured (%s)", j.action.Address, why)
		return finish(id, state.ResultSkipped, "not configured: "+why, nil)
	}
	// A failed action stops later phases for its target, never a stop of
	// an instance whose isolation failed. Notifications still go out:
	// people need to hear about a failed response most of all.
	if !notify && a.targetFailed(targetKey) {
		id, err := record(nil, false)
		if err != nil {
			return err
		}
		a.progress("%s: Skipped: an earlier action on %s failed", j.action.Address, j.action.Target.ID)
		return finish(id, state.ResultSkipped, "an earlier action on this target failed", nil)
	}

	env := a.env
	if notify && a.kind == state.KindApply {
		// A notification cannot be read back from its receiver, so state
		// is its live state: one recorded as delivered (the receiver's
		// 2xx recorded) for this incident's update by an earlier plan is
		// not sent again. One a crash interrupted is not recorded as
		// delivered, and is sent again with the same delivery key.
		sent, err := a.alreadySent(ctx, j)
		if err != nil {
			return err
		}
		if sent {
			id, err := record(notifiedOf(j), false)
			if err != nil {
				return err
			}
			a.progress("%s: No changes (already sent for this incident)", j.action.Address)
			return finish(id, state.ResultNoChange, "", map[string]any{})
		}
		env.Incident = a.summaryFor(j)
		env.Delivery = deliveryKey(j)
	}
	verb := "Applying"
	if a.kind == state.KindRevert {
		verb = "Reverting"
	}
	a.progress("%s: %s...", j.action.Address, verb)

	live, err := j.exec.Read(ctx, &env, j.req)
	if err != nil {
		id, rerr := record(nil, false)
		if rerr != nil {
			return rerr
		}
		a.fail(targetKey)
		a.progress("%s: Failed reading live state: %v", j.action.Address, err)
		return finish(id, state.ResultFailed, "reading live state: "+err.Error(), nil)
	}
	live = normalizeJSON(live)
	r.Before = live
	if a.kind == state.KindApply && !notify {
		// A target tagged out of its rules' scopes since the plan was made
		// (cordon:exempt) is left alone, as a drifted one is.
		if why := a.e.liveOutOfScope(j, live); why != "" {
			id, err := record(live, false)
			if err != nil {
				return err
			}
			a.fail(targetKey)
			a.progress("%s: Drifted: %s", j.action.Address, why)
			return finish(id, state.ResultDrifted, why, live)
		}
	}

	ch := j.action.Change
	// The shortcut needs every changed attribute known: with one unknown
	// (a volume's flag nobody described) only Apply can tell.
	if a.kind == state.KindApply && !notify && len(ch.AfterUnknown) == 0 && changesKnownAttribute(ch) {
		if len(differences(ch.After, ch.AfterUnknown, live)) == 0 {
			id, err := record(live, false)
			if err != nil {
				return err
			}
			a.progress("%s: No changes (already in the planned state)", j.action.Address)
			return finish(id, state.ResultNoChange, "", live)
		}
	}
	if diff := differences(ch.Before, ch.BeforeUnknown, live); len(diff) > 0 {
		id, err := record(live, false)
		if err != nil {
			return err
		}
		a.fail(targetKey)
		msg := "live state no longer matches the plan: " + strings.Join(diff, "; ")
		if a.kind == state.KindRevert {
			msg = "live state changed since the action was applied, so it is not reverted: " + strings.Join(diff, "; ")
		}
		a.progress("%s: Drifted: %s", j.action.Address, msg)
		return finish(id, state.ResultDrifted, msg, live)
	}

	if notify && a.kind == state.KindApply {
		// What a notification's receiver was told is its live state.
		live = notifiedOf(j)
	}
	// Notifications are never withheld: people must hear of a burst most of all.
	id, err := record(live, a.kind == state.KindApply && !notify)
	var withheld *state.WithheldError
	if errors.As(err, &withheld) {
		// Recorded as skipped by the store, in the same transaction that
		// counted the rule's actions of the last hour.
		a.fail(targetKey)
		r.Result, r.Error = state.ResultSkipped, withheld.Error()
		r.Duration = a.now().Sub(start)
		r.Millis = r.Duration.Milliseconds()
		a.record(r, targetKey)
		a.progress("%s: Withheld: %s", j.action.Address, withheld.Error())
		return nil
	}
	if err != nil {
		return err
	}
	if a.opts.OnChange != nil {
		a.opts.OnChange(j.incident, j.action.Address, j.action.Type)
	}
	var (
		after   map[string]any
		changed = true
	)
	if a.kind == state.KindRevert {
		rev, ok := j.exec.(actions.Reverter)
		if !ok {
			err = fmt.Errorf("action type %s cannot be reverted", j.action.Type)
		} else {
			var before, applied map[string]any
			json.Unmarshal(j.revertOf.Before, &before)
			json.Unmarshal(j.revertOf.After, &applied)
			after, err = rev.Revert(ctx, &env, j.req, before, applied)
		}
	} else {
		after, changed, err = j.exec.Apply(ctx, &env, j.req, live)
	}
	after = normalizeJSON(after)
	// The snapshots it took are evidence, recorded before its outcome: a
	// crash between leaves them recorded, not lost. A failure to record
	// them fails the apply once the outcome is recorded.
	snapErr := a.recordSnapshots(ctx, j, after)
	if err != nil {
		a.fail(targetKey)
		a.progress("%s: Failed: %v", j.action.Address, err)
		return errors.Join(finish(id, state.ResultFailed, err.Error(), after), snapErr)
	}
	if !changed {
		a.progress("%s: No changes", j.action.Address)
		return errors.Join(finish(id, state.ResultNoChange, "", after), snapErr)
	}
	a.progress("%s: %s complete after %s", j.action.Address, pastTense(a.kind), a.now().Sub(start).Round(time.Millisecond))
	return errors.Join(finish(id, state.ResultApplied, "", after), snapErr)
}

// recordSnapshots records the EBS snapshots an applied action's
// after-state lists (aws_ec2_snapshot's, in the aws_ebs_acquire facts'
// shape) as evidence of its incident, each with its ids, so that every
// snapshot joins the incident's chain of custody. A snapshot recorded
// before (by a resumed apply, or a later plan finding it taken) is one
// record.
func (a *applier) recordSnapshots(ctx context.Context, j *job, after map[string]any) error {
	if a.kind != state.KindApply {
		return nil
	}
	snaps, _ := after["snapshots"].([]any)
	for _, s := range snaps {
		snap, _ := s.(map[string]any)
		id, _ := snap["snapshot_id"].(string)
		if id == "" {
			continue
		}
		meta := map[string]any{"snapshot_id": id, "action": j.action.Address, "instance_id": j.action.Target.ID,
			"account": j.action.Target.Account, "region": j.action.Target.Region}
		for _, k := range []string{"volume_id", "device", "state", "started_at"} {
			if v, ok := snap[k].(string); ok && v != "" {
				meta[k] = v
			}
		}
		b, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		ev := state.Evidence{IncidentID: j.incident, Kind: "snapshot", Name: id, Meta: b, CreatedAt: a.now()}
		if err := a.opts.Store.PutEvidence(context.WithoutCancel(ctx), ev); err != nil {
			return fmt.Errorf("recording snapshot %s of %s as evidence: %w", id, j.action.Address, err)
		}
		if err := a.recordSnapshotCopy(ctx, j, meta, snap); err != nil {
			return err
		}
	}
	return nil
}

// recordSnapshotCopy records the finished copy of a snapshot in the
// forensic account (its "copy" in the after-state) as evidence of kind
// snapshot_copy, with both snapshots' ids, so that the copy joins the
// incident's chain of custody after its source. A copy still running or
// failed is not evidence; the action's error says what became of it.
func (a *applier) recordSnapshotCopy(ctx context.Context, j *job, source map[string]any, snap map[string]any) error {
	cp, _ := snap["copy"].(map[string]any)
	id, _ := cp["snapshot_id"].(string)
	if id == "" || cp["state"] != "completed" {
		return nil
	}
	meta := map[string]any{"snapshot_id": id, "source_snapshot_id": source["snapshot_id"], "source_account": source["account"],
		"action": j.action.Address, "instance_id": j.action.Target.ID}
	for _, k := range []string{"account", "region", "kms_key_id", "state"} {
		if v, ok := cp[k].(string); ok && v != "" {
			meta[k] = v
		}
	}
	if v, ok := source["volume_id"]; ok {
		meta["volume_id"] = v
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	ev := state.Evidence{IncidentID: j.incident, Kind: state.CustodySnapshotCopy, Name: id, Meta: b, CreatedAt: a.now()}
	if err := a.opts.Store.PutEvidence(context.WithoutCancel(ctx), ev); err != nil {
		return fmt.Errorf("recording copy %s of snapshot %s of %s as evidence: %w", id, source["snapshot_id"], j.action.Address, err)
	}
	return nil
}

// alreadySent reports whether state records j's notification as delivered
// for its incident about the same update of the finding: a re-published
// finding (a recurrence) is notified once more, a redelivered one is not.
// Only an applied record (the receiver answered 2xx) counts, and a
// recovered one from versions that counted a notification a crash
// interrupted as sent; one recorded interrupted does not.
func (a *applier) alreadySent(ctx context.Context, j *job) (bool, error) {
	recs, err := a.opts.Store.AppliedActions(ctx, j.incident)
	if errors.Is(err, state.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	want := findingUpdatedAt(j)
	for _, r := range recs {
		if r.Address != j.action.Address || r.Type != j.action.Type {
			continue
		}
		var before map[string]any
		json.Unmarshal(r.Before, &before)
		// Records from before notifications said which update they were
		// about count as sent for every update.
		got, ok := before[notifiedKey].(string)
		if !ok || got == want {
			return true, nil
		}
	}
	return false, nil
}

// notifiedKey is the before-state attribute of a notification: the update
// of the finding it is about. deliveredKey is its delivery key, the
// X-Cordon-Delivery its receiver gets, recorded so that the receiver's log
// can be matched with state after a crash.
const (
	notifiedKey  = "finding_updated_at"
	deliveredKey = "delivery"
)

func notifiedOf(j *job) map[string]any {
	return map[string]any{notifiedKey: findingUpdatedAt(j), deliveredKey: deliveryKey(j)}
}

// deliveryKey is the delivery key of j's notification: the same for every
// send of it (a retry, the resumed apply, the incident's next plan), a new
// one for a recurrence.
func deliveryKey(j *job) string {
	return actions.DeliveryKey(string(state.KindApply), j.incident, j.action.Address, findingUpdatedAt(j))
}

func findingUpdatedAt(j *job) string {
	if j.req.Finding == nil {
		return ""
	}
	return j.req.Finding.UpdatedAt
}

// ruleLimits are the max_actions_per_hour of the limited rules among rules.
func (e *Engine) ruleLimits(rules []string) []state.RuleLimit {
	var out []state.RuleLimit
	for _, name := range rules {
		for _, r := range e.cfg.Rules {
			if r.Name == name && r.MaxActionsPerHour > 0 {
				out = append(out, state.RuleLimit{Rule: name, PerHour: r.MaxActionsPerHour})
			}
		}
	}
	return out
}

func pastTense(k state.Kind) string {
	if k == state.KindRevert {
		return "Revert"
	}
	return "Apply"
}

// changesKnownAttribute reports whether the plan knows, offline, an
// attribute the action changes: only then can a live state equal to the
// planned after prove the change already made. A snapshot's only change
// (new snapshots) is unknown until apply, so it is always attempted, and
// its Apply is idempotent itself.
func changesKnownAttribute(ch actions.Change) bool {
	unknownAfter := map[string]bool{}
	for _, k := range ch.AfterUnknown {
		unknownAfter[k] = true
	}
	unknownBefore := map[string]bool{}
	for _, k := range ch.BeforeUnknown {
		unknownBefore[k] = true
	}
	for k, after := range ch.After {
		if unknownAfter[k] {
			continue
		}
		before, known := ch.Before[k]
		if unknownBefore[k] || !known || !sameValue(before, after) {
			return true
		}
	}
	return false
}

func verdictBriefs(vs []plan.Verdict) []actions.VerdictBrief {
	out := make([]actions.VerdictBrief, len(vs))
	for i, v := range vs {
		out[i] = actions.VerdictBrief{Rule: v.Rule, Verdict: v.Verdict, Confidence: v.Confidence, Reasons: v.Reasons, RootCause: v.RootCause, Impact: v.Impact}
	}
	return out
}

// plannedJSON is the planned change recorded with an action, which
// recovery compares live state with.
func plannedJSON(j *job) json.RawMessage {
	b, err := json.Marshal(j.action.Change)
	if err != nil {
		return nil
	}
	return b
}

func (a *applier) record(r *ActionResult, targetKey string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.results = append(a.results, r)
	a.outcomes[r.Incident] = append(a.outcomes[r.Incident], actions.ActionOutcome{Address: r.Address, Result: string(r.Result), Error: r.Error})
}

func (a *applier) fail(targetKey string) {
	a.mu.Lock()
	a.failedTargets[targetKey] = true
	a.mu.Unlock()
}

func (a *applier) targetFailed(targetKey string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failedTargets[targetKey]
}

func (a *applier) progress(format string, args ...any) {
	if a.opts.Progress == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Addresses and errors quote findings: each line is escaped for the
	// terminal, so none can forge or repaint another.
	io.WriteString(a.opts.Progress, ui.Safe(fmt.Sprintf(format, args...))+"\n")
}

// summaryFor is the incident summary a notification of j's incident posts,
// with what the apply did so far.
func (a *applier) summaryFor(j *job) *actions.IncidentSummary {
	a.mu.Lock()
	outcomes := append([]actions.ActionOutcome(nil), a.outcomes[j.incident]...)
	a.mu.Unlock()
	f := j.req.Finding
	s := &actions.IncidentSummary{IncidentID: j.incident, Actions: outcomes}
	if f != nil {
		s.Finding = actions.FindingBrief{
			ID: f.ID, Source: f.Source, Type: f.Type, Title: f.Title, Severity: f.Severity,
			Account: f.Account, Region: f.Region,
			Resource: actions.Target{Type: f.Resource.Type, ID: f.Resource.ID, Account: f.Account, Region: f.Region},
		}
	}
	if j.verdicts != nil {
		s.Verdicts = j.verdicts
	}
	return s
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// notConfigured is why the configured action named name cannot run (an
// unset notification URL), or "". A revert of it needs nothing.
func (e *Engine) notConfigured(name string) string {
	c := e.cfg.Actions[name]
	if c == nil {
		return ""
	}
	u, ok := c.Impl.(actions.Unconfigured)
	if !ok {
		return ""
	}
	_, why := u.NotConfigured()
	return why
}
