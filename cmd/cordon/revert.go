package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// runRevert plans and applies the inverse of an incident's applied,
// reversible actions, with apply's prompt, locks and drift checks.
func runRevert(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("revert INCIDENT [options]", "revert [options] INCIDENT")
	m.configFlags(fs)
	m.outputFlags(fs)
	var (
		autoApprove bool
		input       bool
		lockTimeout time.Duration
	)
	fs.BoolVar(&autoApprove, "auto-approve", false, "revert without asking")
	fs.BoolVar(&input, "input", true, "ask for approval on the terminal; with -input=false, fail instead")
	fs.DurationVar(&lockTimeout, "lock-timeout", 0, "how long to wait for another apply's locks on the same targets")
	fs.BoolVar(&m.jsonOut, "json", false, "print the results as JSON")
	fs.BoolVar(&m.debug, "debug", false, "show AWS retries on stderr")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(m.stderr, "cordon revert: expected exactly one INCIDENT")
		fs.Usage()
		return 1
	}
	e, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	rp, err := e.PlanRevert(ctx, st, fs.Arg(0))
	if errors.Is(err, state.ErrNotFound) {
		return m.fail("No such incident", fmt.Errorf("incident %s is not in the state (cordon state list shows those that are)", fs.Arg(0)))
	}
	if err != nil {
		return m.fail("Cannot plan the revert", err)
	}
	if !m.jsonOut {
		color := m.color(m.stdout)
		if len(rp.Actions) == 0 {
			fmt.Fprintf(m.stdout, "Incident %s has no applied actions left to revert.\n", ui.Safe(rp.Incident))
		} else {
			fmt.Fprintf(m.stdout, "cordon will revert the following actions of incident %s:\n\n", ui.Safe(rp.Incident))
			plan.RenderActions(m.stdout, rp.Actions, plan.RenderOptions{Color: color})
		}
		if len(rp.Irreversible) > 0 {
			kept := make([]string, len(rp.Irreversible))
			for i, addr := range rp.Irreversible {
				kept[i] = ui.Safe(addr) // addresses quote the finding's resources
			}
			fmt.Fprintf(m.stdout, "\nNot reverted, by design (evidence is kept, notifications cannot be unsent):\n  %s\n", strings.Join(kept, "\n  "))
		}
		fmt.Fprintf(m.stdout, "\nRevert: %d to revert.\n", len(rp.Actions))
	}
	if len(rp.Actions) == 0 {
		return 0
	}
	if !autoApprove {
		if !input {
			return m.fail("No approval", errors.New("with -input=false, cordon revert needs -auto-approve"))
		}
		ok, err := ui.Confirm(m.stdin, m.stdout, "Do you want to revert these actions?", "cordon will undo the actions described above.")
		if errors.Is(err, ui.ErrNoTerminal) {
			return m.fail("No approval", errors.New("standard input is not a terminal, so cordon cannot ask; use -auto-approve"))
		}
		if err != nil {
			return m.fail("No approval", err)
		}
		if !ok {
			fmt.Fprintln(m.stdout, "Revert cancelled.")
			return 1
		}
	}
	res, err := e.Revert(ctx, rp, m.applyOptions(st, lockTimeout, "revert"))
	return m.finishApply(res, err, "Revert")
}
