package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/demo"
)

// seedState records, in a new SQLite state, actions applied by rules: per
// rule, how many were started within the last hour. It adds what must not
// count: an action of the same rules two hours ago, and a notification.
func seedState(t *testing.T, now time.Time, used map[string]int) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ".cordon", "state.db")
	st, err := state.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	applyID, err := st.BeginApply(ctx, state.ApplyStart{PlanID: "plan-seed", Kind: state.KindApply, Owner: "test", StartedAt: now.Add(-3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutIncident(ctx, state.Incident{ID: "inc-seed", Finding: plan.FindingSummary{ID: "seed"}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	record := func(rule, phase string, at time.Time) {
		n++
		target := actions.Target{Type: "aws_instance", ID: fmt.Sprintf("i-seed%d", n), Account: demo.ProdAccount, Region: demo.Region}
		id, err := st.ActionStarted(ctx, state.ActionStart{ApplyID: applyID, IncidentID: "inc-seed",
			Address: plan.Address("tag", target.ID), Action: "tag", Type: "aws_ec2_tag", Phase: phase,
			Target: target, Rules: []string{rule}, StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ActionFinished(ctx, id, state.Outcome{Result: state.ResultApplied, FinishedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	for rule, k := range used {
		for range k {
			record(rule, "preserve", now.Add(-10*time.Minute))
		}
		record(rule, "preserve", now.Add(-2*time.Hour))
		record(rule, "notify", now.Add(-time.Minute))
	}
	return path
}

// max_actions_per_hour at plan time (docs/configuration.md): in plan order, the actions
// past a rule's budget (its limit less what state counts for the last
// hour) are withheld, and so are later actions on their target;
// notifications never are.
func TestPlanWithholdsPastMaxActionsPerHour(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	tagWeb := plan.Address("tag", web1)
	isolateWeb := plan.Address("isolate", web1)
	stopWeb := plan.Address("stop", web1)
	notifyWeb := plan.Address("notify", web1)
	for _, tc := range []struct {
		name                   string
		respondLimit, tagLimit int
		used                   map[string]int // nil: no state
		findings               []string
		wantActions            []string
		wantWithheld           map[string]string // address → reason
	}{
		{
			name: "unlimited", findings: []string{web1Findings},
			wantActions: []string{tagWeb, isolateWeb, stopWeb, notifyWeb},
		},
		{
			name: "within the plan", respondLimit: 1, findings: []string{web1Findings},
			wantActions: []string{tagWeb, notifyWeb},
			wantWithheld: map[string]string{
				isolateWeb: "rule respond reached max_actions_per_hour (1)",
				stopWeb:    "an earlier action on this target (" + isolateWeb + ") was withheld",
			},
		},
		{
			name: "counted from state", respondLimit: 3, used: map[string]int{"respond": 2}, findings: []string{web1Findings},
			wantActions: []string{tagWeb, notifyWeb},
			wantWithheld: map[string]string{
				isolateWeb: "rule respond reached max_actions_per_hour (3); state counts 2 of its actions in the last hour",
				stopWeb:    "was withheld",
			},
		},
		{
			// The tag is planned by both rules: tagger's spent budget
			// withholds it, though respond has no limit.
			name: "the stricter rule wins", tagLimit: 1, used: map[string]int{"tagger": 1}, findings: []string{web1Findings},
			wantActions: []string{notifyWeb},
			wantWithheld: map[string]string{
				tagWeb:     "rule tagger reached max_actions_per_hour (1); state counts 1 of its actions in the last hour",
				isolateWeb: "an earlier action on this target (" + tagWeb + ") was withheld",
				stopWeb:    "an earlier action on this target (" + tagWeb + ") was withheld",
			},
		},
		{
			name: "shared by the incidents of a plan", respondLimit: 4, findings: []string{web1Findings, bastionFind},
			wantActions: []string{tagWeb, isolateWeb, stopWeb, notifyWeb, plan.Address("tag", bastion), plan.Address("notify", bastion)},
			wantWithheld: map[string]string{
				plan.Address("isolate", bastion): "rule respond reached max_actions_per_hour (4)",
				plan.Address("stop", bastion):    "was withheld",
			},
		},
		{
			name: "state under the limit", respondLimit: 10, used: map[string]int{"respond": 6}, findings: []string{web1Findings},
			wantActions: []string{tagWeb, isolateWeb, stopWeb, notifyWeb},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/budget", Values: map[string]cty.Value{
				"respond_limit": cty.NumberIntVal(int64(tc.respondLimit)), "tag_limit": cty.NumberIntVal(int64(tc.tagLimit)),
			}})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			opts := engine.PlanOptions{Now: func() time.Time { return now }}
			if tc.used != nil {
				ro, err := state.OpenSQLiteReadOnly(seedState(t, now, tc.used))
				if err != nil {
					t.Fatal(err)
				}
				defer ro.Close()
				opts.Budget = ro
			}
			files, diags := engine.ReadFindings(tc.findings)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			res, diags := e.Plan(context.Background(), files, opts)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var got []string
			withheld := map[string]string{}
			for _, inc := range res.Plan.Incidents {
				for _, a := range inc.Actions {
					got = append(got, a.Address)
				}
				for _, w := range inc.Withheld {
					withheld[w.Address] = w.Reason
					if w.Type == "" || w.Phase == "" || w.Target.ID == "" || len(w.Rules) == 0 {
						t.Errorf("withheld %+v lacks what it is", w)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.wantActions, " ") {
				t.Errorf("actions\n  %v\nwant\n  %v", got, tc.wantActions)
			}
			if len(withheld) != len(tc.wantWithheld) {
				t.Errorf("withheld %v, want %v", withheld, tc.wantWithheld)
			}
			for addr, reason := range tc.wantWithheld {
				if !strings.Contains(withheld[addr], reason) {
					t.Errorf("%s withheld as %q, want %q", addr, withheld[addr], reason)
				}
			}
			s := res.Plan.Summary
			if s.Actions != len(tc.wantActions) || s.Withheld != len(tc.wantWithheld) {
				t.Errorf("summary %+v", s)
			}

			// The JSON lists what is withheld, [] when nothing is; the
			// human rendering says so apart from the actions.
			var buf bytes.Buffer
			if err := res.Plan.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Incidents []struct {
					Withheld []map[string]any `json:"withheld"`
				} `json:"incidents"`
				Summary map[string]int `json:"summary"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), `"withheld": [`) || doc.Summary["withheld"] != len(tc.wantWithheld) {
				t.Errorf("plan JSON:\n%s", buf.String())
			}
			buf.Reset()
			res.Plan.Render(&buf, plan.RenderOptions{})
			human := buf.String()
			for addr, reason := range tc.wantWithheld {
				if !strings.Contains(human, "# "+addr+" withheld: ") || !strings.Contains(human, reason) {
					t.Errorf("the rendering does not show %s withheld:\n%s", addr, human)
				}
			}
			wantLine := fmt.Sprintf("Plan: %d to apply, 0 findings unmatched.", len(tc.wantActions))
			if len(tc.wantWithheld) > 0 {
				wantLine = fmt.Sprintf("Plan: %d to apply, %d withheld, 0 findings unmatched.", len(tc.wantActions), len(tc.wantWithheld))
			}
			if !strings.Contains(human, wantLine) {
				t.Errorf("want %q in:\n%s", wantLine, human)
			}
		})
	}
}

// A state that cannot be read fails the plan: the budget is never guessed.
func TestPlanFailsWhenStateCannotBeCounted(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/budget", Values: map[string]cty.Value{
		"respond_limit": cty.NumberIntVal(1)}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ro, err := state.OpenSQLiteReadOnly(seedState(t, time.Now(), map[string]int{"respond": 1}))
	if err != nil {
		t.Fatal(err)
	}
	ro.Close() // counting from a closed state fails
	files, _ := engine.ReadFindings([]string{web1Findings})
	_, diags = e.Plan(context.Background(), files, engine.PlanOptions{Budget: ro})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Cannot count the rules' recent actions") {
		t.Errorf("diags %v", diags)
	}
}
