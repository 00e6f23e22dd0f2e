package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/internal/ui"
)

// Exit codes of `cordon plan -detailed-exitcode` besides 0 (no actions)
// and 1 (error), as Terraform's plan has them.
const (
	// exitChanges: the plan has actions to apply.
	exitChanges = 2
	// exitDegraded: the plan was made, but collectors failed, so policies
	// judged without some of the facts they asked for (whether or not it
	// has actions). Not 2, so that automation applying on 2 does not
	// apply a plan that could not investigate without a person looking;
	// not 1, since the plan is valid and may be saved and applied.
	exitDegraded = 3
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
	fs.Var(&findings, "finding", "findings `FILE` (GuardDuty, Security Hub ASFF, OCSF; JSON, array or NDJSON), a directory of them (*.json, *.ndjson, *.jsonl), or - for standard input (repeatable)")
	fs.StringVar(&factsPath, "facts", "", "facts `FILE` used instead of running collectors")
	fs.StringVar(&out, "out", "", "save the plan to `PLANFILE` for `cordon apply`")
	m.jsonFlag(fs, "print the plan as JSON")
	fs.BoolVar(&detailedExit, "detailed-exitcode", false, "exit 2 when the plan has actions, 3 when collectors failed (0: neither, 1: error)")
	fs.BoolVar(&m.debug, "debug", false, "show each finding as normalized, policy print() output and debug logs on stderr")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "plan", pos, " (findings are given with -finding FILE)") {
		return 1
	}
	if len(findings) == 0 {
		m.showDiags(hcl.Diagnostics{ui.ErrorDiag("No findings given", "cordon plan needs at least one -finding FILE.")})
		return 1
	}
	if out != "" {
		// Before minutes of investigation, not after.
		if err := checkPlanOut(out); err != nil {
			return m.fail("Cannot save the plan", err)
		}
	}

	keep := keepNoData
	if out != "" {
		keep = keepDataToWrite
	}
	e, res, ok := m.planFindings(ctx, findings, factsPath, keep)
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
			fmt.Sprintf("%s failed (see each incident's errors above). A plan with errors is never applied, so no plan file was written.",
				plural(p.Summary.Errors, "investigation", "investigations")))})
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
	switch {
	case !detailedExit:
		return 0
	case len(p.Warnings) > 0:
		return exitDegraded
	case p.Summary.Actions > 0:
		return exitChanges
	}
	return 0
}

// checkPlanOut fails early when -out cannot be written: its directory
// does not exist or is not one.
func checkPlanOut(path string) error {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory; -out names the plan file to write", path)
	}
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("directory %s does not exist (cordon writes the plan file, not its directory)", dir)
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// keptData is what planFindings keeps of each incident's data (the
// finding, facts and resources a plan file holds): none for a plan only
// shown, all of it for an apply in the same process, and for a plan file
// only its encoding, which takes a tenth of the memory.
type keptData int

const (
	keepNoData keptData = iota
	keepDataToApply
	keepDataToWrite
)

// planFindings loads the configuration, reads the findings and the facts
// file (if any), and plans them, as cordon plan and cordon apply -finding
// both do. Without a facts file the collectors gather facts from AWS.
// Diagnostics are shown; ok is false when any was an error, and the plan
// is then returned only if one was made (of the findings that could be
// read), to be shown and never applied.
func (m *meta) planFindings(ctx context.Context, findings []string, factsPath string, keep keptData) (*engine.Engine, *engine.Result, bool) {
	e, diags := m.loadEngine(ctx, false)
	if diags.HasErrors() {
		m.showDiags(diags)
		return nil, nil, false
	}
	files, fdiags := m.readFindings(findings)
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
	popts := engine.PlanOptions{Facts: facts, KeepData: keep != keepNoData, CompactData: keep == keepDataToWrite, Hook: m.planHook()}
	if facts == nil {
		popts.AWS, popts.AWSError = m.awsFactory(ctx, e)
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
	if h, ok := popts.Hook.(*progressHook); ok {
		h.stop()
	}
	diags = append(diags, pdiags...)
	if res != nil && len(res.NoAWSAccess) > 0 {
		// As Terraform stops when a provider cannot configure: a plan
		// for which no collector could call AWS is no investigation.
		diags = append(diags, ui.ErrorDiag("No AWS access",
			"cordon could not call AWS in any account the findings are in, so no collector gathered any facts and the plan was not made:\n  "+
				strings.Join(res.NoAWSAccess, "\n  ")+
				"\nCheck the credentials (environment, profile), the provider block's endpoint and assume_role_arn, then plan again; or plan offline with -facts FILE."))
		m.showDiags(diags)
		return nil, nil, false
	}
	m.showDiags(diags) // errors, or warnings
	if diags.HasErrors() {
		return nil, res, false
	}
	return e, res, true
}

// readFindings reads the -finding arguments in order: a file, every
// findings file of a directory (*.json, *.ndjson, *.jsonl, sorted), or -
// for standard input.
func (m *meta) readFindings(args []string) ([]*engine.FindingsFile, hcl.Diagnostics) {
	var (
		out       []*engine.FindingsFile
		diags     hcl.Diagnostics
		readStdin bool
	)
	for _, a := range args {
		if a == "-" {
			if readStdin {
				diags = append(diags, ui.ErrorDiag("Invalid -finding", "standard input (-) can be read once only."))
				continue
			}
			readStdin = true
			data, err := io.ReadAll(m.stdin)
			if err != nil {
				diags = append(diags, ui.ErrorDiag("Cannot read findings", "standard input: "+err.Error()))
				continue
			}
			ff, err := engine.SplitFindings("<stdin>", data)
			if err != nil {
				diags = append(diags, ui.ErrorDiag("Invalid findings file", err.Error()))
				continue
			}
			out = append(out, ff)
			continue
		}
		paths := []string{a}
		if info, err := os.Stat(a); err == nil && info.IsDir() {
			if paths, err = findingsInDir(a); err != nil {
				diags = append(diags, ui.ErrorDiag("Cannot read findings", err.Error()))
				continue
			}
		}
		files, fdiags := engine.ReadFindings(paths)
		out = append(out, files...)
		diags = append(diags, fdiags...)
	}
	return out, diags
}

// findingsExtensions are the files -finding DIR reads.
var findingsExtensions = []string{".json", ".ndjson", ".jsonl"}

// findingsInDir lists the findings files of dir (not its subdirectories),
// sorted by name.
func findingsInDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, ent := range entries {
		if ent.IsDir() || strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		for _, ext := range findingsExtensions {
			if strings.HasSuffix(ent.Name(), ext) {
				paths = append(paths, filepath.Join(dir, ent.Name()))
				break
			}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no findings file (%s)", dir, strings.Join(findingsExtensions, ", "))
	}
	sort.Strings(paths)
	return paths, nil
}

// showPlan prints a plan, as JSON with -json.
func (m *meta) showPlan(p *plan.Plan) {
	if m.jsonOut {
		p.WriteJSON(m.stdout)
		return
	}
	p.Render(m.stdout, plan.RenderOptions{Color: m.color(m.stdout)})
}
