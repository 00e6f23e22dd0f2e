package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/demo"
	"github.com/cordonhq/cordon/schema"
)

// A saved plan is input: whoever can write the file must not be able to
// make apply act where the plan shown, or the configuration, does not.
// These tests edit plan files as an attacker would and check that `cordon
// apply` refuses them with nothing changed in the emulator and nothing
// recorded in state.

const (
	bastionFinding = "../../policies/testdata/findings/ec2_ssh_bruteforce_target.json"
	web1ID         = "i-0a1b2c3d4e5f67890"
	web1ENI        = "eni-0d4c3b2a190817263"
	// ciRunner is tagged cordon:exempt = "true" in the demo fleet.
	ciRunner    = "i-0d1d2d3d4d5d6d7d8"
	isolationSG = "sg-0e1f2a3b4c5d6e7f8"
	otherSG     = "sg-0a1b2c3d4e5f60718"
)

// editConfig rewrites the configuration's cordon.hcl, replacing old with
// new once.
func editConfig(t *testing.T, dir, old, new string) {
	t.Helper()
	path := filepath.Join(dir, "cordon.hcl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("cordon.hcl has no %q", old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// isolationByVariable makes the isolation group a variable, as configurations
// usually have it.
func isolationByVariable(t *testing.T, dir string) {
	editConfig(t, dir, `security_group_id = "`+isolationSG+`"`, `security_group_id = var.isolation_sg`)
	editConfig(t, dir, `variable "webhook_url" {`, `variable "isolation_sg" {
  type    = string
  default = "`+isolationSG+`"
}

variable "webhook_url" {`)
}

func readGz(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func writeGz(t *testing.T, path, body string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// How an edited plan file is written back.
type rewrite int

const (
	// raw: the JSON edited as text and compressed again; the id no longer
	// matches.
	raw rewrite = iota
	// reencoded: decoded, edited and encoded with its id recomputed, as
	// anyone can; not signed.
	reencoded
	// resigned: signed again with the state's plan key, as only someone
	// who can read the key can: what is left is the check against the
	// configuration.
	resigned
)

func TestApplyRefusesTamperedPlanFiles(t *testing.T) {
	dir, emu := emulatedConfig(t)
	isolationByVariable(t, dir)
	var stolen atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { stolen.Add(1) }))
	defer attacker.Close()

	original := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", original); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	key, err := state.FilePlanKey{Path: filepath.Join(dir, ".cordon", "plan.key")}.PlanKey(context.Background(), false)
	if err != nil {
		t.Fatalf("plan -out made no plan key: %v", err)
	}

	stop := func(t *testing.T, f *plan.File) *plan.Action {
		for _, a := range f.Plan.Incidents[0].Actions {
			if a.Action == "stop" {
				return a
			}
		}
		t.Fatal("no stop action")
		return nil
	}
	retargetStop := func(t *testing.T, f *plan.File) {
		a := stop(t, f)
		a.Target.ID, a.Address = ciRunner, plan.Address("stop", ciRunner)
		d := f.Incidents[f.Plan.Incidents[0].ID]
		d.Resources = append(d.Resources, schema.Resource{Type: "aws_instance", ID: ciRunner,
			Tags: map[string]string{"Name": "ci-runner-3"}, Details: map[string]any{}})
	}
	for _, tc := range []struct {
		name    string
		how     rewrite
		text    func(string) string // raw
		edit    func(*testing.T, *plan.File)
		summary string
		detail  string
	}{
		{name: "isolation group in the text", how: raw,
			text:    func(s string) string { return strings.ReplaceAll(s, isolationSG, otherSG) },
			summary: "Saved plan was modified", detail: "its content digests to plan-"},
		{name: "isolation group variable", how: resigned,
			edit:    func(_ *testing.T, f *plan.File) { f.Variables["isolation_sg"] = json.RawMessage(`"` + otherSG + `"`) },
			summary: "Saved plan is stale", detail: `variable "isolation_sg" has another value now than when the plan was made`},
		{name: "stop retargeted at the exempt instance", how: resigned, edit: retargetStop,
			summary: "Saved plan does not match the configuration",
			detail:  `its target aws_instance "` + ciRunner + `" is not a resource of the finding or its facts`},
		{name: "stop retargeted, unsigned", how: reencoded, edit: retargetStop,
			summary: "Saved plan was not made with this state", detail: "the plan file is not signed"},
		{name: "stop retargeted under its old address", how: resigned,
			edit:    func(t *testing.T, f *plan.File) { stop(t, f).Target.ID = ciRunner },
			summary: "Saved plan does not match the configuration", detail: "its address does not name its target"},
		{name: "webhook url variable", how: resigned,
			edit: func(_ *testing.T, f *plan.File) {
				f.Variables["webhook_url"] = json.RawMessage(`"` + attacker.URL + `"`)
			},
			summary: "Saved plan is stale", detail: `variable "webhook_url" has another value now`},
		{name: "webhook url in the text", how: raw,
			text: func(s string) string {
				return strings.Replace(s, `"webhook_url":"http://`, `"webhook_url":"`+attacker.URL+`#http://`, 1)
			},
			summary: "Saved plan was modified", detail: "digests to"},
		{name: "stop moved before isolation", how: resigned,
			edit:    func(t *testing.T, f *plan.File) { stop(t, f).Phase = "preserve" },
			summary: "Saved plan does not match the configuration", detail: `it runs in phase "preserve", but aws_ec2_stop actions run in disrupt`},
		{name: "stop moved before isolation, unsigned", how: reencoded,
			edit:    func(t *testing.T, f *plan.File) { stop(t, f).Phase = "preserve" },
			summary: "Saved plan was not made with this state", detail: "run cordon plan -out FILE where you apply"},
		{name: "id", how: raw,
			text:    func(s string) string { return strings.Replace(s, `"id":"plan-`, `"id":"plan-f`, 1) },
			summary: "Saved plan was modified", detail: "not to the id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edited.plan")
			switch tc.how {
			case raw:
				body := readGz(t, original)
				edited := tc.text(body)
				if edited == body {
					t.Fatal("the edit changed nothing")
				}
				writeGz(t, path, edited)
			default:
				f, err := plan.Read(original)
				if err != nil {
					t.Fatal(err)
				}
				tc.edit(t, f)
				var k []byte
				if tc.how == resigned {
					k = key
				}
				if err := plan.Write(path, f, k); err != nil {
					t.Fatal(err)
				}
			}
			calls := len(emu.Calls())
			code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", path)
			if code != 1 || !strings.Contains(errOut, tc.summary) || !strings.Contains(errOut, tc.detail) {
				t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s\nwant %q and %q", code, out, errOut, tc.summary, tc.detail)
			}
			if n := len(emu.Calls()) - calls; n != 0 {
				t.Errorf("a refused plan made %d AWS calls", n)
			}
			if n := stolen.Load(); n != 0 {
				t.Errorf("the attacker's webhook got %d requests", n)
			}
			assertNothingRecorded(t, dir)

			// show displays the file, warning that apply will refuse it.
			if tc.how != resigned {
				code, _, errOut = cordon(t, "show", "-config", dir, "-no-color", path)
				if code != 0 || !strings.Contains(errOut, "Warning: "+tc.summary) || !strings.Contains(errOut, "cordon apply will refuse it") {
					t.Errorf("show: exit %d\n%s", code, errOut)
				}
			}
		})
	}

	// A plan made with another state (another checkout of the same
	// configuration) is refused, saying how to proceed.
	elsewhere := t.TempDir()
	for _, name := range []string{"cordon.hcl", "provider.hcl", "policies/verdict.rego", "policies/response.rego"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(elsewhere, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(elsewhere, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	foreign := filepath.Join(t.TempDir(), "foreign.plan")
	if code, _, errOut := cordon(t, "plan", "-config", elsewhere, "-finding", web1Finding, "-out", foreign); code != 0 {
		t.Fatalf("plan elsewhere: %s", errOut)
	}
	code, _, errOut := cordon(t, "apply", "-config", dir, foreign)
	if code != 1 || !strings.Contains(errOut, "Saved plan was not made with this state") ||
		!strings.Contains(errOut, "signed with another plan key") || !strings.Contains(errOut, "cordon plan -out FILE where you apply") {
		t.Errorf("foreign plan: exit %d\n%s", code, errOut)
	}
	assertNothingRecorded(t, dir)
	// With a state that never signed a plan.
	unsignedState := t.TempDir()
	for _, name := range []string{"cordon.hcl", "provider.hcl", "policies/verdict.rego", "policies/response.rego"} {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		os.MkdirAll(filepath.Join(unsignedState, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(unsignedState, name), data, 0o644)
	}
	code, _, errOut = cordon(t, "apply", "-config", unsignedState, original)
	if code != 1 || !strings.Contains(errOut, "this configuration's state has signed no plan file") {
		t.Errorf("apply with a state without a key: exit %d\n%s", code, errOut)
	}

	// The untouched plan applies.
	code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", original)
	if code != 0 || !strings.Contains(out, "Apply complete!") {
		t.Fatalf("the original plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if g := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].NetworkInterfaces[web1ENI].Groups; len(g) != 1 || g[0] != isolationSG {
		t.Errorf("web-1's groups %v", g)
	}
	if s := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances[ciRunner].State; s != "running" {
		t.Errorf("ci-runner-3 is %s", s)
	}
}

// assertNothingRecorded checks that state holds no incident.
func assertNothingRecorded(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, ".cordon", "state.db")); os.IsNotExist(err) {
		return
	}
	code, out, errOut := cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []json.RawMessage `json:"incidents"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Incidents) != 0 {
		t.Errorf("state after a refused apply: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Apply takes variables from their sources, as plan does, and refuses a
// plan made with other values.
func TestApplyTakesVariablesFromTheirSources(t *testing.T) {
	dir, emu := emulatedConfig(t)
	isolationByVariable(t, dir)
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-var", "isolation_sg="+otherSG, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	code, _, errOut := cordon(t, "apply", "-config", dir, planFile)
	if code != 1 || !strings.Contains(errOut, "Saved plan is stale") || !strings.Contains(errOut, `variable "isolation_sg" has another value now`) {
		t.Fatalf("apply without the plan's -var: exit %d\n%s", code, errOut)
	}
	if len(emu.Calls()) != 0 {
		t.Error("a refused plan called AWS")
	}
	code, out, errOut := cordon(t, "apply", "-config", dir, "-var", "isolation_sg="+otherSG, "-no-color", planFile)
	if code != 0 {
		t.Fatalf("apply with the plan's -var: exit %d\n%s\n%s", code, out, errOut)
	}
	if g := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].NetworkInterfaces[web1ENI].Groups; len(g) != 1 || g[0] != otherSG {
		t.Errorf("web-1's groups %v, want [%s]", g, otherSG)
	}
}

// max_actions_per_hour at plan time: counted within the plan with no state
// (which plan does not create), and from state once applies recorded
// actions, so that separate runs share the budget.
func TestPlanWithholdsPastMaxActionsPerHour(t *testing.T) {
	dir, emu := emulatedConfig(t)
	editConfig(t, dir, `rule "respond" {`, `rule "respond" {
  max_actions_per_hour = 4`)
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	code, out, errOut := cordon(t, "plan", "-config", dir, "-no-color", "-finding", web1Finding, "-out", planFile)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	stopWeb1 := `action.stop["` + web1ID + `"]`
	if !strings.Contains(out, "# "+stopWeb1+" withheld: rule respond reached max_actions_per_hour (4)") ||
		!strings.Contains(out, "Plan: 5 to apply, 1 withheld, 0 findings unmatched.") {
		t.Errorf("plan:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, ".cordon", "state.db")); !os.IsNotExist(err) {
		t.Errorf("plan created the state: %v", err)
	}
	code, out, errOut = cordon(t, "apply", "-config", dir, "-no-color", planFile)
	if code != 0 || !strings.Contains(out, "Apply complete! Actions: 5 applied") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances[web1ID].State; s != "running" {
		t.Errorf("web-1 was stopped past the limit: %s", s)
	}

	// The bastion's plan finds the budget spent by the apply: every action
	// but the notification is withheld.
	code, out, errOut = cordon(t, "plan", "-config", dir, "-json", "-detailed-exitcode", "-finding", bastionFinding)
	if code != 2 {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	var p struct {
		Incidents []struct {
			Actions  []struct{ Address string } `json:"actions"`
			Withheld []struct {
				Address, Reason string
				Rules           []string
			} `json:"withheld"`
		} `json:"incidents"`
		Summary struct{ Actions, Withheld int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	inc := p.Incidents[0]
	if p.Summary.Actions != 1 || p.Summary.Withheld != 5 || len(inc.Actions) != 1 || !strings.HasPrefix(inc.Actions[0].Address, "action.notify[") {
		t.Fatalf("plan -json:\n%s", out)
	}
	if w := inc.Withheld[0]; w.Reason != "rule respond reached max_actions_per_hour (4); state counts 4 of its actions in the last hour" || w.Rules[0] != "respond" {
		t.Errorf("first withheld: %+v", w)
	}
}
