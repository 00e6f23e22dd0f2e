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
	fs := m.flagSet("show PLANFILE [-config DIR] [-json]", "show PLANFILE [options]")
	m.outputFlags(fs)
	m.configOnlyFlag(fs)
	m.jsonFlag(fs, "print the plan as JSON")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.stderr, "cordon show: expected exactly one PLANFILE")
		fs.Usage()
		return 1
	}
	path := pos[0]
	f, err := plan.Read(path)
	if err != nil {
		return m.fail("Cannot read plan file", err)
	}
	m.warnUnverified(ctx, f, path)
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
	// The state verifies the signature: the policies need not compile.
	e, diags := m.loadConfig(ctx)
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
