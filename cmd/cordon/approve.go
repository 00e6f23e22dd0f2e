package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/cordonhq/cordon/engine/serve"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// runApprove approves a plan `cordon serve` holds (docs/daemon.md).
func runApprove(ctx context.Context, m *meta, args []string) int {
	return decidePlan(ctx, m, args, "approve", state.PlanApproved)
}

// runReject rejects a plan `cordon serve` holds: it will never be applied.
func runReject(ctx context.Context, m *meta, args []string) int {
	return decidePlan(ctx, m, args, "reject", state.PlanRejected)
}

func decidePlan(ctx context.Context, m *meta, args []string, verb string, status state.PlanStatus) int {
	fs := m.flagSet(verb+" PLAN_ID [-approver NAME] [-note TEXT] [-config DIR] [-json]", verb+" [options] PLAN_ID")
	m.configFlags(fs)
	var approver, note string
	fs.StringVar(&approver, "approver", defaultApprover(), "`NAME` recorded as who decided (your user name and host unless given)")
	fs.StringVar(&note, "note", "", "why, recorded with the decision (`TEXT`)")
	fs.BoolVar(&m.jsonOut, "json", false, "print the decided plan as JSON")
	m.outputFlags(fs)
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(m.stderr, "cordon %s: expected exactly one PLAN_ID (cordon state list -pending lists them)\n", verb)
		fs.Usage()
		return 1
	}
	if approver == "" {
		fmt.Fprintf(m.stderr, "cordon %s: -approver must name who decides\n", verb)
		return 1
	}
	_, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	rec, err := serve.DecidePlan(ctx, st, pos[0], state.PlanDecision{Status: status, By: approver, Note: note, At: time.Now()})
	switch {
	case errors.Is(err, state.ErrNotFound):
		return m.fail("No such plan", fmt.Errorf("plan %s is not in the state (cordon state list -pending lists the plans that wait)", pos[0]))
	case errors.Is(err, state.ErrPlanDecided):
		return m.fail("Plan is not pending", err)
	case err != nil:
		return m.fail("Cannot "+verb+" the plan", err)
	}
	if m.jsonOut {
		m.writeJSON(struct {
			FormatVersion string            `json:"format_version"`
			Plan          *state.PlanRecord `json:"plan"`
		}{"1.0", rec})
		return 0
	}
	switch status {
	case state.PlanApproved:
		fmt.Fprintf(m.stdout, "Plan %s of incident %s approved by %s. cordon serve applies it when it next reads its state (within seconds).\n",
			rec.ID, ui.Safe(rec.IncidentID), ui.Safe(approver))
	default:
		fmt.Fprintf(m.stdout, "Plan %s of incident %s rejected by %s: it will never be applied.\n", rec.ID, ui.Safe(rec.IncidentID), ui.Safe(approver))
	}
	return 0
}

// defaultApprover is user@host.
func defaultApprover() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	if name == "" {
		return ""
	}
	return name + "@" + host
}
