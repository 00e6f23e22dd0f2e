package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/internal/ui"
)

func runPlan(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("plan -finding FILE [-finding FILE…] [options]", "plan [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	var (
		findings     multiFlag
		factsPath    string
		out          string
		detailedExit bool
	)
	fs.Var(&findings, "finding", "findings `FILE` (GuardDuty, Security Hub ASFF, OCSF; JSON, array or NDJSON; repeatable)")
	fs.StringVar(&factsPath, "facts", "", "facts `FILE` used instead of running collectors")
	fs.StringVar(&out, "out", "", "save the plan to `PLANFILE` for `cordon apply`")
	fs.BoolVar(&m.jsonOut, "json", false, "print the plan as JSON")
	fs.BoolVar(&detailedExit, "detailed-exitcode", false, "exit 2 when the plan has actions (0: none, 1: error)")
	fs.BoolVar(&m.debug, "debug", false, "show policy print() output and debug logs on stderr")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.stderr, "cordon plan: unexpected argument %q (findings are given with -finding FILE)\n", fs.Arg(0))
		fs.Usage()
		return 1
	}
	if len(findings) == 0 {
		m.showDiags(hcl.Diagnostics{ui.ErrorDiag("No findings given", "cordon plan needs at least one -finding FILE.")})
		return 1
	}

	e, res, ok := m.planFindings(ctx, findings, factsPath, out != "")
	if !ok {
		// Findings that could not be read are errors, but what was planned
		// of the others is shown; it is never saved.
		if res != nil {
			m.showPlan(res.Plan)
		}
		return 1
	}
	p := res.Plan
	m.showPlan(p)
	if p.HasErrors() {
		m.showDiags(hcl.Diagnostics{ui.ErrorDiag("Plan has failed investigations",
			fmt.Sprintf("%d investigations failed (see each incident's errors above). A plan with errors is never applied, so no plan file was written.", p.Summary.Errors))})
		return 1
	}
	if out != "" {
		// The plan is signed with the state's plan key, made on first use:
		// apply refuses a plan file not signed by its state's key.
		keys, err := e.PlanKeys()
		if err != nil {
			return m.fail("Cannot save the plan", err)
		}
		key, err := keys.PlanKey(ctx, true)
		if err != nil {
			return m.fail("Cannot save the plan", err)
		}
		if err := plan.Write(out, res.File(e, time.Now().UTC().Format(time.RFC3339)), key); err != nil {
			return m.fail("Cannot save the plan", err)
		}
		if !m.jsonOut {
			fmt.Fprintf(m.stdout, "\nSaved the plan to: %s\n\nTo perform exactly these actions, run:\n  cordon apply %s\n", out, out)
		}
	}
	if detailedExit && p.Summary.Actions > 0 {
		return 2
	}
	return 0
}

// planFindings loads the configuration, reads the findings and the facts
// file (if any), and plans them, as cordon plan and cordon apply -finding
// both do. Without a facts file the collectors gather facts from AWS.
// Diagnostics are shown; ok is false when any was an error, and the plan
// is then returned only if one was made (of the findings that could be
// read), to be shown and never applied.
func (m *meta) planFindings(ctx context.Context, findings []string, factsPath string, keepData bool) (*engine.Engine, *engine.Result, bool) {
	e, diags := m.loadEngine(ctx, false)
	if diags.HasErrors() {
		m.showDiags(diags)
		return nil, nil, false
	}
	files, fdiags := engine.ReadFindings(findings)
	diags = append(diags, fdiags...)
	var facts *engine.FactsFile
	if factsPath != "" {
		var err error
		if facts, err = e.ReadFactsFile(factsPath); err != nil {
			diags = append(diags, ui.ErrorDiag("Invalid facts file", err.Error()))
		}
	}
	if diags.HasErrors() {
		m.showDiags(diags)
		return nil, nil, false
	}
	popts := engine.PlanOptions{Facts: facts, KeepData: keepData}
	if facts == nil {
		popts.AWS = m.awsFactory(ctx, e)
	}
	// max_actions_per_hour counts what state recorded in the last hour.
	// State is only read: a plan never creates it, and where there is none
	// yet nothing has been counted.
	counter, err := e.OpenStateReadOnly()
	if err != nil {
		m.showDiags(append(diags, ui.ErrorDiag("Cannot read state", err.Error()+" (max_actions_per_hour is counted from state)")))
		return nil, nil, false
	}
	if counter != nil {
		defer counter.Close()
		popts.Budget = counter
	}
	res, pdiags := e.Plan(ctx, files, popts)
	diags = append(diags, pdiags...)
	m.showDiags(diags) // errors, or warnings
	if diags.HasErrors() {
		return nil, res, false
	}
	return e, res, true
}

// showPlan prints a plan, as JSON with -json.
func (m *meta) showPlan(p *plan.Plan) {
	if m.jsonOut {
		p.WriteJSON(m.stdout)
		return
	}
	p.Render(m.stdout, plan.RenderOptions{Color: m.color(m.stdout)})
}
