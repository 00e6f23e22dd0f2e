package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine/plan"
)

// runShow shows a saved plan: the plan apply would apply, decoded once,
// as apply decodes it. A plan file this configuration's state cannot
// verify (edited, forged, or made with another state) is shown with a
// warning that apply will refuse it.
func runShow(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("show PLANFILE [-json]", "show [options] PLANFILE")
	m.outputFlags(fs)
	fs.StringVar(&m.configDir, "config", ".", "configuration `DIR` whose state verifies the plan file's signature")
	fs.BoolVar(&m.jsonOut, "json", false, "print the plan as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(m.stderr, "cordon show: expected exactly one PLANFILE")
		fs.Usage()
		return 1
	}
	f, err := plan.Read(fs.Arg(0))
	if err != nil {
		return m.fail("Cannot read plan file", err)
	}
	m.warnUnverified(ctx, f, fs.Arg(0))
	// The counts shown are of what the plan holds, whatever its summary
	// says: apply refuses a plan whose summary differs.
	f.Plan.Recount(f.Plan.Summary.Findings)
	if m.jsonOut {
		f.Plan.WriteJSON(m.stdout)
		return 0
	}
	f.Plan.Render(m.stdout, plan.RenderOptions{Color: m.color(m.stdout)})
	return 0
}

// warnUnverified warns when the plan file cannot be verified with the
// state of the configuration in -config: apply would refuse it.
func (m *meta) warnUnverified(ctx context.Context, f *plan.File, path string) {
	warn := func(summary, detail string) {
		m.showDiags(hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: summary, Detail: detail + " cordon apply will refuse it."}})
	}
	e, diags := m.loadEngine(ctx, false)
	if diags.HasErrors() {
		if err := f.CheckID(); err != nil {
			warn("Saved plan was modified", fmt.Sprintf("%s: %v.", path, err))
			return
		}
		warn("Cannot verify the saved plan", fmt.Sprintf("The configuration in %s does not load, so the state that would verify %s's signature is unknown (give the plan's configuration with -config).", m.configDir, path))
		return
	}
	if summary, err := m.verifyPlanFile(ctx, e, f, path); err != nil {
		warn(summary, err.Error())
	}
}
