package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/schema"
)

// sampleOf returns the demo fleet's finding at path marked as a GuardDuty
// sample by mark, which edits its decoded service object.
func sampleOf(t *testing.T, path string, mark func(svc map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if mark != nil {
		mark(f["service"].(map[string]any))
	}
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func findingsOf(raws ...[]byte) []*engine.FindingsFile {
	files := make([]*engine.FindingsFile, len(raws))
	for i, raw := range raws {
		files[i] = &engine.FindingsFile{Name: "finding.json", Records: []schema.Record{{Raw: raw}}}
	}
	return files
}

// A sample finding never plans an action that changes anything unless its
// rule opts in (docs/findings.md): the other actions are withheld and say why, the
// notifications go out, and withheld samples spend no rule's budget.
func TestSampleFindingsAreNotContained(t *testing.T) {
	member := func(svc map[string]any) { svc["additionalInfo"] = map[string]any{"sample": true} }
	getFindings := func(svc map[string]any) {
		svc["additionalInfo"] = map[string]any{"value": `{"threatListName":"GeneratedFindingThreatListName","sample":true}`, "type": "default"}
	}
	notSample := func(svc map[string]any) { svc["additionalInfo"] = map[string]any{"sample": false} }
	tag, isolate, snapshot := plan.Address("tag", web1), plan.Address("isolate", web1), plan.Address("snapshot", web1)
	stop, notify := plan.Address("stop", web1), plan.Address("notify", web1)
	const (
		mark         = "the finding is a GuardDuty sample finding (service.additionalInfo.sample = true); "
		respondSays  = "rule respond does not set allow_sample_findings = true"
		bothSay      = "rules exercise, respond do not set allow_sample_findings = true"
		exerciseSays = "rule exercise does not set allow_sample_findings = true"
	)
	for _, tc := range []struct {
		name         string
		mark         func(map[string]any)
		allow        bool
		wantActions  []string
		wantWithheld map[string]string
	}{
		{name: "not a sample", mark: notSample,
			wantActions: []string{tag, isolate, snapshot, stop, notify}},
		{name: "sample, no rule opts in", mark: member,
			wantActions: []string{notify},
			wantWithheld: map[string]string{
				tag: mark + bothSay, snapshot: mark + exerciseSays, isolate: mark + respondSays, stop: mark + respondSays,
			}},
		{name: "sample, as GetFindings writes the mark", mark: getFindings,
			wantActions: []string{notify},
			wantWithheld: map[string]string{
				tag:      `service.additionalInfo.value has "sample": true); ` + bothSay,
				snapshot: exerciseSays, isolate: respondSays, stop: respondSays,
			}},
		{
			// exercise opts in: what it alone plans goes ahead; the tag,
			// planned by respond too, is withheld (the stricter rule wins).
			name: "sample, one rule opts in", mark: member, allow: true,
			wantActions: []string{snapshot, notify},
			wantWithheld: map[string]string{
				tag: mark + respondSays, isolate: mark + respondSays, stop: mark + respondSays,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/samples",
				Values: map[string]cty.Value{"allow_samples": cty.BoolVal(tc.allow)}})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			res, diags := e.Plan(context.Background(), findingsOf(sampleOf(t, web1Findings, tc.mark)), engine.PlanOptions{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			inc := res.Plan.Incidents[0]
			var got []string
			for _, a := range inc.Actions {
				got = append(got, a.Address)
			}
			if strings.Join(got, " ") != strings.Join(tc.wantActions, " ") {
				t.Errorf("actions\n  %v\nwant\n  %v", got, tc.wantActions)
			}
			withheld := map[string]string{}
			for _, w := range inc.Withheld {
				withheld[w.Address] = w.Reason
			}
			if len(withheld) != len(tc.wantWithheld) {
				t.Errorf("withheld %v, want %v", withheld, tc.wantWithheld)
			}
			for addr, reason := range tc.wantWithheld {
				if !strings.Contains(withheld[addr], reason) {
					t.Errorf("%s withheld as %q, want %q", addr, withheld[addr], reason)
				}
			}
			sample := tc.wantWithheld != nil || tc.allow
			if inc.Finding.Sample != sample || res.Plan.Summary.Withheld != len(tc.wantWithheld) {
				t.Errorf("finding %+v, summary %+v", inc.Finding, res.Plan.Summary)
			}

			// The plan JSON and the human plan say it is a sample and why
			// actions are withheld.
			var buf bytes.Buffer
			if err := res.Plan.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(buf.String(), `"sample": true`); got != sample {
				t.Errorf("plan JSON says sample %v:\n%s", got, buf.String())
			}
			buf.Reset()
			res.Plan.Render(&buf, plan.RenderOptions{})
			human := buf.String()
			if sample && (!strings.Contains(human, "· sample finding") || !strings.Contains(human, "withheld: the finding is a GuardDuty sample finding")) {
				t.Errorf("human plan:\n%s", human)
			}
		})
	}

	// The withheld actions of a sample finding spend no budget: respond
	// may take three actions this hour, and the bastion's real finding,
	// after web-1's sample, gets all three.
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/samples",
		Values: map[string]cty.Value{"respond_limit": cty.NumberIntVal(3)}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	bastionRaw, err := os.ReadFile(bastionFind)
	if err != nil {
		t.Fatal(err)
	}
	res, diags := e.Plan(context.Background(), findingsOf(sampleOf(t, web1Findings, member), bastionRaw), engine.PlanOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if n := len(res.Plan.Incidents[1].Actions); n != 5 || len(res.Plan.Incidents[1].Withheld) != 0 {
		t.Errorf("the bastion's plan after a sample: %d actions, withheld %+v", n, res.Plan.Incidents[1].Withheld)
	}
}

// The starter configuration, on GuardDuty's published sample findings,
// plans notifications only, and says why the rest is withheld.
func TestStarterPlansNoChangeForSampleFindings(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "../policies"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files, diags := engine.ReadFindings([]string{
		"../testdata/findings/guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json",
		"../testdata/findings/guardduty_PenTest_S3_ParrotLinux.json",
		"../testdata/findings/guardduty_eventbridge_detail_only_UnauthorizedAccess_EC2_SSHBruteForce.json",
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := res.Plan
	if len(p.Incidents) != 3 {
		t.Fatalf("%d incidents, unmatched %+v", len(p.Incidents), p.Unmatched)
	}
	withheld := 0
	for _, inc := range p.Incidents {
		if !inc.Finding.Sample {
			t.Errorf("incident %s: finding not marked as a sample", inc.ID)
		}
		for _, a := range inc.Actions {
			if a.Phase != actions.Notify.String() {
				t.Errorf("incident %s (%s): %s (%s) planned for a sample finding", inc.ID, inc.Finding.Type, a.Address, a.Phase)
			}
		}
		for _, w := range inc.Withheld {
			withheld++
			if !strings.HasPrefix(w.Reason, "the finding is a GuardDuty sample finding (service.additionalInfo.sample = true); rule ") ||
				!strings.HasSuffix(w.Reason, " does not set allow_sample_findings = true") {
				t.Errorf("%s withheld as %q", w.Address, w.Reason)
			}
		}
	}
	// The IAM rule would disable the key and deny its user.
	if withheld < 2 {
		t.Errorf("%d actions withheld; the IAM rule's containment should be", withheld)
	}
}

// Apply checks a saved plan again: a changing action for a sample finding
// whose rules do not opt in is refused, with nothing changed.
func TestApplyRefusesChangingActionsOfASampleFinding(t *testing.T) {
	ae := newApplyEnv(t)
	base := ae.plan(web1Findings)
	f := forge(t, base, func(f *plan.File) {
		inc := f.Plan.Incidents[0]
		d := f.Incidents[inc.ID]
		var raw map[string]any
		if err := json.Unmarshal(d.Finding.Raw, &raw); err != nil {
			t.Fatal(err)
		}
		raw["service"].(map[string]any)["additionalInfo"] = map[string]any{"sample": true}
		d.Finding.Raw, _ = json.Marshal(raw)
		d.Finding.Sample = true
		inc.Finding.Sample = true
	})
	calls := len(ae.emu.Calls())
	_, err := ae.apply(f)
	want := "its finding is a GuardDuty sample finding (service.additionalInfo.sample = true), and rule respond does not set allow_sample_findings = true"
	if !errors.Is(err, engine.ErrPlanMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("apply: %v\nwant %v containing %q", err, engine.ErrPlanMismatch, want)
	}
	if n := len(ae.emu.Calls()) - calls; n != 0 {
		t.Errorf("a refused plan made %d AWS calls", n)
	}

	// A plan that hides the mark from the reviewer is refused too.
	f = forge(t, base, func(f *plan.File) { f.Plan.Incidents[0].Finding.Sample = true })
	if _, err := ae.apply(f); !errors.Is(err, engine.ErrPlanMismatch) || !strings.Contains(err.Error(), "the finding the plan shows differs") {
		t.Fatalf("apply: %v", err)
	}
}
