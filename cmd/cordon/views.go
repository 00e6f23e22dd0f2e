package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// The JSON documents the state commands print. Each carries
// format_version (ui.FormatVersion) and writes an empty list as [], never
// null, so that a script reads every key without a default.

// stateListDocument is `cordon state list -json`.
type stateListDocument struct {
	FormatVersion string                  `json:"format_version"`
	Incidents     []state.IncidentSummary `json:"incidents"`
}

func newStateListDocument(list []state.IncidentSummary) stateListDocument {
	if list == nil {
		list = []state.IncidentSummary{}
	}
	for i := range list {
		if list[i].Verdicts == nil {
			list[i].Verdicts = []plan.Verdict{}
		}
	}
	return stateListDocument{ui.FormatVersion, list}
}

// stateShowDocument is `cordon state show -json`: everything recorded
// about the incident, with its timeline.
type stateShowDocument struct {
	FormatVersion string `json:"format_version"`
	*state.IncidentDetail
	Timeline report.Events `json:"timeline"`
}

func newStateShowDocument(d *state.IncidentDetail, timeline report.Events) stateShowDocument {
	if d.Applies == nil {
		d.Applies = []state.ApplyRecord{}
	}
	if d.Actions == nil {
		d.Actions = []state.ActionRecord{}
	}
	if d.Evidence == nil {
		d.Evidence = []state.Evidence{}
	}
	if d.Events == nil {
		d.Events = []state.IncidentEvent{}
	}
	if d.Plans == nil {
		d.Plans = []state.PlanRecord{}
	}
	if timeline.Entries == nil {
		timeline.Entries = []report.Entry{}
	}
	return stateShowDocument{ui.FormatVersion, d, timeline}
}

// stateRecoverDocument is `cordon state recover -json`.
type stateRecoverDocument struct {
	FormatVersion string                 `json:"format_version"`
	Recovered     []engine.RecoverResult `json:"recovered"`
}

func newStateRecoverDocument(results []engine.RecoverResult) stateRecoverDocument {
	if results == nil {
		results = []engine.RecoverResult{}
	}
	return stateRecoverDocument{ui.FormatVersion, results}
}

// resultWords are the words people read for action results: "no change",
// never the enum's no_change.
var resultWords = map[state.Result]string{
	state.ResultStarted:     "in progress",
	state.ResultApplied:     "applied",
	state.ResultNoChange:    "no change",
	state.ResultDrifted:     "drifted",
	state.ResultFailed:      "failed",
	state.ResultSkipped:     "skipped",
	state.ResultInterrupted: "interrupted",
	state.ResultRecovered:   "recovered",
}

// resultWord is an action result as people read it.
func resultWord(r state.Result) string {
	if w, ok := resultWords[r]; ok {
		return w
	}
	return strings.ReplaceAll(string(r), "_", " ")
}

// statusWord is an incident status as people read it.
func statusWord(s state.IncidentStatus) string {
	return strings.ReplaceAll(string(s), "_", " ")
}

// resultCounts is the ACTIONS column of state list: each action counted
// once, by its latest result, in the order an apply goes through them.
func resultCounts(counts map[state.Result]int, reverted int) string {
	order := []state.Result{state.ResultApplied, state.ResultRecovered, state.ResultNoChange, state.ResultStarted,
		state.ResultFailed, state.ResultInterrupted, state.ResultDrifted, state.ResultSkipped}
	known := map[state.Result]bool{}
	var parts []string
	for _, r := range order {
		known[r] = true
		if n := counts[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, resultWord(r)))
		}
	}
	var other []string
	for r, n := range counts {
		if !known[r] && n > 0 {
			other = append(other, fmt.Sprintf("%d %s", n, resultWord(r)))
		}
	}
	sort.Strings(other)
	parts = append(parts, other...)
	if reverted > 0 {
		parts = append(parts, fmt.Sprintf("%d reverted", reverted))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
