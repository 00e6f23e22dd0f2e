package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/ui"
)

// runApply applies a saved plan (its own approval, as in Terraform), or
// plans findings and applies after asking.
func runApply(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("apply -config DIR -finding FILE [-facts FILE] [options]", "apply [PLANFILE] [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	var (
		findings    multiFlag
		factsPath   string
		autoApprove bool
		input       bool
		lockTimeout time.Duration
	)
	fs.Var(&findings, "finding", "plan and apply the findings of `FILE` (a directory of them, or - for standard input; repeatable)")
	fs.StringVar(&factsPath, "facts", "", "facts `FILE` used instead of running collectors")
	fs.BoolVar(&autoApprove, "auto-approve", false, "apply without asking (also applies manual-approval actions)")
	fs.BoolVar(&input, "input", true, "ask for approval on the terminal; with -input=false, fail instead")
	fs.DurationVar(&lockTimeout, "lock-timeout", 0, "how long to wait for another apply's locks on the same targets (a `DURATION`: 30s, 5m)")
	m.jsonFlag(fs, "print the results as JSON")
	fs.BoolVar(&m.debug, "debug", false, "show AWS retries, policy print() output and each finding as normalized on stderr")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}

	var (
		e     *engine.Engine
		f     *plan.File
		diags hcl.Diagnostics
	)
	savedPlan := len(pos) == 1
	switch {
	case len(pos) > 1 || savedPlan && len(findings) > 0:
		fmt.Fprintln(m.stderr, "cordon apply: give either a PLANFILE or -finding, not both")
		fs.Usage()
		return 1
	case savedPlan:
		path := pos[0]
		var err error
		if f, err = plan.Read(path); err != nil {
			return m.fail("Cannot read plan file", err)
		}
		// Variables come from their sources, as for plan, never from the
		// plan file: Apply only compares the values the file records.
		if e, diags = m.loadEngine(ctx, false); diags.HasErrors() {
			m.showDiags(diags)
			return 1
		}
		m.showDiags(diags)
		if summary, err := m.verifyPlanFile(ctx, e, f, path); err != nil {
			return m.fail(summary, err)
		}
		if f.ConfigDigest != e.Digest() {
			return m.fail(engine.ErrStalePlan.Error(), staleFiles(f, e, path))
		}
	case len(findings) == 0:
		fmt.Fprintln(m.stderr, "cordon apply: give a PLANFILE, or -finding FILE to plan and apply")
		fs.Usage()
		return 1
	default:
		var code int
		if e, f, code = m.planForApply(ctx, findings, factsPath); e == nil {
			return code
		}
		if f.Plan.Summary.Actions == 0 {
			if m.jsonOut {
				return m.finishApply(&engine.ApplyResult{PlanID: f.ID, Kind: state.KindApply}, nil, "Apply")
			}
			fmt.Fprintln(m.stdout, "\nNo actions to take: nothing to apply.")
			return 0
		}
		if !autoApprove {
			if !input {
				return m.fail("No approval", errors.New("with -input=false, cordon apply needs -auto-approve or a saved plan file"))
			}
			// With -json, stdout holds the result document only.
			asked := m.stdout
			if m.jsonOut {
				asked = m.stderr
				f.Plan.Render(asked, plan.RenderOptions{Color: m.color(asked)})
			}
			ok, err := ui.Confirm(m.stdin, asked, "Do you want to perform these actions?",
				"cordon will perform the actions described above.")
			if errors.Is(err, ui.ErrNoTerminal) {
				return m.fail("No approval", errors.New("standard input is not a terminal, so cordon cannot ask; use -auto-approve or apply a saved plan file"))
			}
			if err != nil {
				return m.fail("No approval", err)
			}
			if !ok {
				fmt.Fprintln(asked, "Apply cancelled.")
				return 1
			}
		}
	}

	st, err := e.OpenState()
	if err != nil {
		return m.fail("Cannot open state", err)
	}
	defer st.Close()
	opts := m.applyOptions(st, lockTimeout, "apply")
	// A saved plan is its own approval; so is -auto-approve.
	opts.ApproveManual = savedPlan || autoApprove
	res, err := e.Apply(ctx, f, opts)
	return m.finishApply(res, err, "Apply")
}

// staleFiles explains a saved plan whose configuration changed: the files
// added, changed or removed since it was made, from the digests it
// records.
func staleFiles(f *plan.File, e *engine.Engine, path string) error {
	generic := fmt.Errorf("%s: the configuration or its policies changed since the plan was made (plan %s, now %s). Nothing was applied; run cordon plan again",
		path, shortDigest(f.ConfigDigest), shortDigest(e.Digest()))
	if len(f.ConfigFiles) == 0 {
		return generic
	}
	now := e.FileDigests()
	var changed, added, removed []string
	for name, sum := range now {
		was, ok := f.ConfigFiles[name]
		switch {
		case !ok:
			added = append(added, name)
		case was != sum:
			changed = append(changed, name)
		}
	}
	for name := range f.ConfigFiles {
		if _, ok := now[name]; !ok {
			removed = append(removed, name)
		}
	}
	if len(changed)+len(added)+len(removed) == 0 {
		return generic
	}
	var parts []string
	for _, l := range []struct {
		what  string
		names []string
	}{{"changed", changed}, {"added", added}, {"removed", removed}} {
		if len(l.names) > 0 {
			sort.Strings(l.names)
			parts = append(parts, l.what+": "+strings.Join(l.names, ", "))
		}
	}
	return fmt.Errorf("%s: the configuration changed since the plan was made (%s). Nothing was applied; run cordon plan again",
		path, strings.Join(parts, "; "))
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// replanHint says how to proceed with a plan file this state cannot
// verify.
const replanHint = "A plan file applies only with the state it was made with, which keeps the key that signs it (plan.key beside the SQLite state): run cordon plan -out FILE where you apply, then cordon apply FILE."

// verifyPlanFile checks that a plan file read from path was written, as
// it is, by `cordon plan -out` with this configuration's state: signed
// with the state's plan key, and unchanged since. It returns a summary
// for the error.
func (m *meta) verifyPlanFile(ctx context.Context, e *engine.Engine, f *plan.File, path string) (string, error) {
	const notOurs = "Saved plan was not made with this state"
	keys, err := e.PlanKeys()
	if err != nil {
		return "Cannot verify the saved plan", err
	}
	key, err := keys.PlanKey(ctx, false)
	if errors.Is(err, state.ErrNoPlanKey) {
		return notOurs, fmt.Errorf("%s: this configuration's state has signed no plan file (%v), so the plan was made with another state or on another machine. %s", path, err, replanHint)
	}
	if err != nil {
		return "Cannot verify the saved plan", err
	}
	err = f.Verify(key)
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, plan.ErrModified), errors.Is(err, plan.ErrBadSignature):
		return "Saved plan was modified", fmt.Errorf("%s: %w. Nothing was applied; run cordon plan again", path, err)
	case errors.Is(err, plan.ErrOtherKey):
		return notOurs, fmt.Errorf("%s: %w: it was made with another state or on another machine. %s", path, err, replanHint)
	case errors.Is(err, plan.ErrUnsigned):
		return notOurs, fmt.Errorf("%s: %w: cordon plan -out signs what it writes. %s", path, err, replanHint)
	}
	return "Cannot verify the saved plan", err
}

// planForApply plans findings for an apply and shows the plan.
func (m *meta) planForApply(ctx context.Context, findings []string, factsPath string) (*engine.Engine, *plan.File, int) {
	e, res, ok := m.planFindings(ctx, findings, factsPath, keepDataToApply)
	if !ok {
		return nil, nil, 1
	}
	if !m.jsonOut {
		res.Plan.Render(m.stdout, plan.RenderOptions{Color: m.color(m.stdout)})
	}
	if res.Plan.HasErrors() {
		m.showDiags(hcl.Diagnostics{ui.ErrorDiag("Cannot apply incomplete plan",
			plural(res.Plan.Summary.Errors, "investigation", "investigations")+" failed; nothing was applied.")})
		return nil, nil, 1
	}
	// Nanoseconds: an apply run again at once (after a failure) is a new
	// plan, not the one already applied.
	f := res.File(e, time.Now().UTC().Format(time.RFC3339Nano))
	// An in-process plan gets an id as a written one does.
	id, err := plan.ID(f)
	if err != nil {
		return nil, nil, m.fail("Cannot apply", err)
	}
	f.ID = id
	return e, f, 0
}

func (m *meta) applyOptions(st state.Store, lockTimeout time.Duration, command string) engine.ApplyOptions {
	opts := engine.ApplyOptions{
		Store:       st,
		LockTimeout: lockTimeout,
		Owner:       owner(command),
	}
	if !m.jsonOut {
		opts.Progress = m.stdout
	}
	if m.debug {
		opts.Debug = m.stderr
	}
	return opts
}

// applyDocument is the -json document of apply and revert.
type applyDocument struct {
	FormatVersion string `json:"format_version"`
	*engine.ApplyResult
}

// finishApply prints an apply's or revert's outcome and returns the exit
// code: 1 when it could not run or an action failed.
func (m *meta) finishApply(res *engine.ApplyResult, err error, verb string) int {
	if res != nil && m.jsonOut {
		if res.Actions == nil {
			res.Actions = []*engine.ActionResult{}
		}
		m.writeJSON(applyDocument{ui.FormatVersion, res})
	}
	if err != nil {
		summary := "Cannot " + strings.ToLower(verb)
		for _, known := range []error{engine.ErrStalePlan, engine.ErrAppliedPlan, engine.ErrIncompletePlan, engine.ErrModifiedPlan, engine.ErrPlanMismatch, engine.ErrNoAccess} {
			if errors.Is(err, known) {
				summary = known.Error()
			}
		}
		if errors.Is(err, state.ErrLockTimeout) {
			summary = "Error acquiring the state lock"
		}
		return m.fail(summary, err)
	}
	if res.Failed() {
		var lines []string
		for _, a := range res.Actions {
			if a.Result == state.ResultFailed || a.Result == state.ResultInterrupted {
				// One line per action: an error quoting a finding
				// cannot add lines.
				lines = append(lines, ui.Safe(fmt.Sprintf("%s: %s", a.Address, a.Error)))
			}
		}
		m.showDiags(hcl.Diagnostics{ui.ErrorDiag(plural(res.Summary.Failed, "action", "actions")+" failed", strings.Join(lines, "\n"))})
		if !m.jsonOut {
			fmt.Fprintf(m.stdout, "\n%s finished with errors. %s\n", verb, res.SummaryLine())
		}
		return 1
	}
	if !m.jsonOut {
		fmt.Fprintf(m.stdout, "\n%s %s\n", ui.Paint(m.color(m.stdout), ui.Green, verb+" complete!"), res.SummaryLine())
	}
	return 0
}

// awsFactory builds the AWS clients collectors use, from the provider
// block; when that fails (a profile that does not exist), the error is
// the planner's: collectors that call AWS fail with it, and a plan where
// every one did is refused.
func (m *meta) awsFactory(ctx context.Context, e *engine.Engine) (*awsclient.Factory, error) {
	var debug io.Writer
	if m.debug {
		debug = m.stderr
	}
	return e.AWSFactory(ctx, debug)
}

// owner names who acts, for the state record: user@host and the command.
func owner(command string) string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s (cordon %s)", name, host, command)
}
