package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// runRevert plans and applies the inverse of an incident's applied,
// reversible actions, with apply's prompt, locks and drift checks.
func runRevert(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("revert INCIDENT [-auto-approve] [-input=false] [-lock-timeout DURATION] [-json]", "revert INCIDENT [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	var (
		autoApprove bool
		input       bool
		lockTimeout time.Duration
	)
	fs.BoolVar(&autoApprove, "auto-approve", false, "revert without asking")
	fs.BoolVar(&input, "input", true, "ask for approval on the terminal; with -input=false, fail instead")
	fs.DurationVar(&lockTimeout, "lock-timeout", 0, "how long to wait for another apply's locks on the same targets (a `DURATION`: 30s, 5m)")
	m.jsonFlag(fs, "print the results as JSON")
	fs.BoolVar(&m.debug, "debug", false, "show AWS retries on stderr")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.stderr, "cordon revert: expected exactly one INCIDENT")
		fs.Usage()
		return 1
	}
	// The configuration only: a revert acts with the actions' blocks and
	// never evaluates a policy, so a Rego file being edited cannot stop it.
	e, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	id := pos[0]
	rp, err := e.PlanRevert(ctx, st, id)
	if errors.Is(err, state.ErrNotFound) {
		return m.fail("No such incident", fmt.Errorf("incident %s is not in the state (cordon state list shows those that are)", id))
	}
	if err != nil {
		return m.fail("Cannot plan the revert", err)
	}
	opts := m.applyOptions(st, lockTimeout, "revert")
	if len(rp.Actions) > 0 {
		// Access first, as Terraform configures its provider before it
		// plans: a revert that cannot call AWS is refused before it is
		// shown or approved, with nothing recorded. The check asks STS
		// only; Revert repeats it, as credentials may expire at the prompt.
		// A provider block the SDK cannot load leaves AWS nil: the check
		// then reports the loader's error as the cause.
		opts.AWS, _ = m.awsFactory(ctx, e)
		if err := e.CheckRevertAccess(ctx, rp, opts); err != nil {
			return m.finishApply(nil, err, "Revert")
		}
	}
	// With -json, stdout holds the result document only: the plan of the
	// revert, its question and its progress go to stderr.
	human := m.stdout
	if m.jsonOut {
		human = m.stderr
	}
	{
		color := m.color(human)
		if len(rp.Actions) == 0 {
			fmt.Fprintf(human, "Incident %s has no applied actions left to revert.\n", ui.Safe(rp.Incident))
		} else {
			fmt.Fprintf(human, "cordon will revert the following actions of incident %s:\n\n", ui.Safe(rp.Incident))
			plan.RenderActions(human, rp.Actions, plan.RenderOptions{Color: color})
		}
		if len(rp.Irreversible) > 0 {
			kept := make([]string, len(rp.Irreversible))
			for i, addr := range rp.Irreversible {
				kept[i] = ui.Safe(addr) // addresses quote the finding's resources
			}
			fmt.Fprintf(human, "\nNot reverted, by design (evidence is kept, notifications cannot be unsent):\n  %s\n", strings.Join(kept, "\n  "))
		}
		fmt.Fprintf(human, "\nRevert: %d to revert.\n", len(rp.Actions))
	}
	if len(rp.Actions) == 0 {
		if m.jsonOut {
			return m.finishApply(&engine.ApplyResult{PlanID: rp.ID, Kind: state.KindRevert}, nil, "Revert")
		}
		return 0
	}
	if !autoApprove {
		if !input {
			return m.fail("No approval", errors.New("with -input=false, cordon revert needs -auto-approve"))
		}
		ok, err := ui.Confirm(m.stdin, human, "Do you want to revert these actions?", "cordon will undo the actions described above.")
		if errors.Is(err, ui.ErrNoTerminal) {
			return m.fail("No approval", errors.New("standard input is not a terminal, so cordon cannot ask; use -auto-approve"))
		}
		if err != nil {
			return m.fail("No approval", err)
		}
		if !ok {
			fmt.Fprintln(human, "Revert cancelled.")
			return 1
		}
	}
	res, err := e.Revert(ctx, rp, opts)
	return m.finishApply(res, err, "Revert")
}
