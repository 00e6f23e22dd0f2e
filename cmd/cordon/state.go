package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

func runState(ctx context.Context, m *meta, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-help" || args[0] == "--help" || args[0] == "-h") {
			stateUsage(m, m.stdout)
			return 0
		}
		stateUsage(m, m.stderr)
		return 1
	}
	switch args[0] {
	case "list":
		return runStateList(ctx, m, args[1:])
	case "show":
		return runStateShow(ctx, m, args[1:])
	case "recover":
		return runStateRecover(ctx, m, args[1:])
	case "locks":
		return runStateLocks(ctx, m, args[1:])
	case "unlock":
		return runStateUnlock(ctx, m, args[1:])
	case "verify":
		return runStateVerify(ctx, m, args[1:])
	}
	fmt.Fprintf(m.stderr, "cordon state: unknown subcommand %q\n\n", args[0])
	stateUsage(m, m.stderr)
	return 1
}

func stateUsage(m *meta, w io.Writer) {
	fmt.Fprint(w, `Usage: cordon state <subcommand> [options]

  list [-json]              incidents: id, finding, verdict, status, actions
  list -pending             plans cordon serve holds for approval
  list -rejected            input cordon serve rejected, with the reason
  show INCIDENT [-json]     everything recorded about an incident, with its timeline
  recover [-json]           finish the records of actions a crash left started
  locks [-json]             the target locks held, their ids and holders
  locks -history            the locks forced or taken over from their holders
  unlock [-force] LOCK_ID   remove a lock whose holder is gone (asks first)
  verify [INCIDENT]         recompute the chains of custody, naming the first entry that does not match

Each reads the configuration's state (-config DIR, default the current
directory) without compiling its policies; list, show, verify, locks and
unlock also take -state PATH|URL to read a state database directly.
Run "cordon help state SUBCOMMAND" for a subcommand's flags.
`)
}

func runStateList(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("state list [-config DIR | -state PATH] [-pending | -rejected] [-json]", "state list [options]")
	m.configFlags(fs)
	m.stateFlag(fs)
	m.outputFlags(fs)
	m.jsonFlag(fs, "print as JSON")
	pending := fs.Bool("pending", false, "list the plans cordon serve holds for approval instead of incidents")
	rejected := fs.Bool("rejected", false, "list the input cordon serve rejected (not findings of an accepted format) instead of incidents")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "state list", pos, "") {
		return 1
	}
	if *pending && *rejected {
		fmt.Fprintln(m.stderr, "cordon state list: -pending and -rejected are alternatives: give one")
		return 1
	}
	_, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	switch {
	case *pending:
		return m.listPending(ctx, st)
	case *rejected:
		return m.listRejected(ctx, st)
	}
	list, err := st.Incidents(ctx, state.IncidentFilter{})
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	if m.jsonOut {
		m.writeJSON(newStateListDocument(list))
		return 0
	}
	if len(list) == 0 {
		fmt.Fprintln(m.stdout, "No incidents recorded.")
		return 0
	}
	tw := tabwriter.NewWriter(m.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INCIDENT\tFINDING\tRESOURCE\tVERDICT\tSTATUS\tACTIONS\tUPDATED")
	for _, s := range list {
		// Values from findings and policies are escaped: a tab would also
		// shift the columns. Each action counts once, by its latest result:
		// the attempts are in cordon state show.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ui.Safe(s.ID), ui.Safe(s.Finding.Type), ui.Safe(s.Finding.Resource.ID),
			ui.Safe(verdictsText(s.Verdicts)), ui.Safe(statusWord(s.Status)), resultCounts(s.Actions, s.Reverted), s.UpdatedAt.UTC().Format(time.RFC3339))
	}
	tw.Flush()
	return 0
}

// listPending lists the plans waiting for approval.
func (m *meta) listPending(ctx context.Context, st state.Store) int {
	list, err := st.Plans(ctx, state.PlanFilter{Status: []state.PlanStatus{state.PlanPending}})
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	if m.jsonOut {
		if list == nil {
			list = []state.PlanRecord{}
		}
		m.writeJSON(struct {
			FormatVersion string             `json:"format_version"`
			Plans         []state.PlanRecord `json:"plans"`
		}{ui.FormatVersion, list})
		return 0
	}
	if len(list) == 0 {
		fmt.Fprintln(m.stdout, "No plans wait for approval.")
		return 0
	}
	tw := tabwriter.NewWriter(m.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tINCIDENT\tACTIONS\tCREATED\tEXPIRES\tWHY")
	for _, p := range list {
		expires := "-"
		if p.ExpiresAt != nil {
			expires = p.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.ID, ui.Safe(p.IncidentID), p.Actions,
			p.CreatedAt.UTC().Format(time.RFC3339), expires, ui.Safe(p.Reason))
	}
	tw.Flush()
	fmt.Fprintln(m.stdout, "\nReview one with GET /v1/plans/PLAN_ID, then: cordon approve PLAN_ID, or cordon reject PLAN_ID.")
	return 0
}

// listRejected lists what the daemon's sources could not accept.
func (m *meta) listRejected(ctx context.Context, st state.Store) int {
	list, err := st.Rejections(ctx, 0)
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	if m.jsonOut {
		if list == nil {
			list = []state.Rejection{}
		}
		m.writeJSON(struct {
			FormatVersion string            `json:"format_version"`
			Rejections    []state.Rejection `json:"rejections"`
		}{ui.FormatVersion, list})
		return 0
	}
	if len(list) == 0 {
		fmt.Fprintln(m.stdout, "Nothing was rejected.")
		return 0
	}
	tw := tabwriter.NewWriter(m.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tRECEIVED\tSIZE\tREASON")
	for _, r := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", r.ID, ui.Safe(r.Source), r.ReceivedAt.UTC().Format(time.RFC3339), r.Size, ui.Safe(r.Reason))
	}
	tw.Flush()
	return 0
}

func verdictsText(vs []plan.Verdict) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Verdict)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func runStateShow(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("state show INCIDENT [-config DIR | -state PATH] [-json]", "state show INCIDENT [options]")
	m.configFlags(fs)
	m.stateFlag(fs)
	m.outputFlags(fs)
	m.jsonFlag(fs, "print as JSON")
	// Flags may follow the incident, as in the synopsis.
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.stderr, "cordon state show: expected exactly one INCIDENT")
		fs.Usage()
		return 1
	}
	id := pos[0]
	e, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	d, err := st.Incident(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return m.fail("No such incident", fmt.Errorf("incident %s is not in the state (cordon state list shows those that are)", id))
	}
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	// The timeline merges the finding's times, the collectors' facts and
	// cordon's actions, sorted, each entry with its source. Without a
	// configuration (-state), facts are recognised by their shape.
	var collectorTypes map[string]string
	if e != nil {
		collectorTypes = e.CollectorTypes()
	}
	timeline := report.Timeline(d, collectorTypes, 0)
	if m.jsonOut {
		m.writeJSON(newStateShowDocument(d, timeline))
		return 0
	}
	color := m.color(m.stdout)
	inc := d.Incident
	// Every value from the finding, its facts, the policies or AWS goes
	// through ui.Safe, so none can repaint what the responder reads.
	safe := ui.Safe
	fmt.Fprintf(m.stdout, "%s · %s · %s\n", ui.Paint(color, ui.Bold, "Incident "+safe(inc.ID)), safe(inc.Finding.Type), safe(inc.Finding.Severity))
	fmt.Fprintf(m.stdout, "  finding   %s (%s)\n", safe(inc.Finding.ID), safe(inc.Finding.Source))
	fmt.Fprintf(m.stdout, "  resource  %s.%s (%s, %s)\n", safe(inc.Finding.Resource.Type), safe(inc.Finding.Resource.ID), safe(inc.Finding.Account), safe(inc.Finding.Region))
	fmt.Fprintf(m.stdout, "  status    %s\n", safe(statusWord(d.Status)))
	for _, v := range inc.Verdicts {
		line := safe(v.Verdict)
		if v.Confidence != nil {
			line += fmt.Sprintf(" (confidence %.2f)", *v.Confidence)
		}
		fmt.Fprintf(m.stdout, "  verdict   %s by rule.%s\n", line, safe(v.Rule))
		for _, r := range v.Reasons {
			fmt.Fprintf(m.stdout, "              - %s\n", safe(r))
		}
	}
	if inc.FactsSHA256 != "" {
		fmt.Fprintf(m.stdout, "  facts     sha256:%s\n", inc.FactsSHA256)
	}
	fmt.Fprintln(m.stdout, "\nActions:")
	for _, a := range d.Actions {
		when := a.StartedAt.UTC().Format(time.RFC3339)
		kind := ""
		if a.Kind == state.KindRevert {
			kind = " (revert)"
		}
		fmt.Fprintf(m.stdout, "\n  # %s%s (%s, %s) %s at %s\n", safe(a.Address), kind, safe(a.Type), safe(a.Phase), safe(strings.ToUpper(resultWord(a.Result))), when)
		var before, after map[string]any
		json.Unmarshal(a.Before, &before)
		json.Unmarshal(a.After, &after)
		if before != nil && after != nil {
			plan.RenderChange(m.stdout, actions.Change{Before: before, After: after}, plan.RenderOptions{Color: color})
		}
		if a.Error != "" {
			fmt.Fprintf(m.stdout, "    %s\n", safe(a.Error))
		}
	}
	if len(d.Evidence) > 0 {
		fmt.Fprintln(m.stdout, "\nEvidence:")
		for _, ev := range d.Evidence {
			fmt.Fprintf(m.stdout, "  - %s %s sha256:%s (%d bytes)\n", safe(ev.Kind), safe(ev.Name), safe(ev.SHA256), ev.Size)
		}
	}
	fmt.Fprintln(m.stdout, "\nTimeline (UTC; ~ marks items placed when the triage observed them):")
	if len(timeline.Entries) == 0 {
		fmt.Fprintln(m.stdout, "  nothing with a time was recorded")
		return 0
	}
	timeline.WriteText(m.stdout, report.TextOptions{Color: color, Indent: "  "})
	return 0
}

func runStateRecover(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("state recover [-config DIR] [-json]", "state recover [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	m.jsonFlag(fs, "print as JSON")
	fs.BoolVar(&m.debug, "debug", false, "show AWS retries on stderr")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "state recover", pos, "") {
		return 1
	}
	e, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	opts := m.applyOptions(st, 0, "state recover")
	opts.Progress = nil
	results, err := e.Recover(ctx, opts)
	if m.jsonOut {
		m.writeJSON(newStateRecoverDocument(results))
	}
	if err != nil {
		return m.fail("Recovery failed", err)
	}
	if !m.jsonOut {
		if len(results) == 0 {
			fmt.Fprintln(m.stdout, "Nothing to recover: no action was left started.")
		}
		for _, r := range results {
			fmt.Fprintf(m.stdout, "%s (incident %s): %s%s\n", ui.Safe(r.Address), ui.Safe(r.Incident), resultWord(r.Result), ui.Safe(noteText(r.Note)))
		}
	}
	return 0
}

func noteText(n string) string {
	if n == "" {
		return ""
	}
	return " — " + n
}
