package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/schema"
)

// ciRunner is the demo fleet's instance tagged cordon:exempt = "true".
const ciRunner = "i-0d1d2d3d4d5d6d7d8"

// forge edits a plan as someone who can write the plan file but not sign
// it would: the content is decoded, edited, and encoded again with its id
// recomputed, so only the checks of the content against the configuration
// stand between it and the apply.
func forge(t *testing.T, f *plan.File, edit func(*plan.File)) *plan.File {
	t.Helper()
	data, err := plan.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := plan.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(g)
	if data, err = plan.Encode(g); err != nil {
		t.Fatal(err)
	}
	if g, err = plan.Decode(data); err != nil {
		t.Fatal(err)
	}
	if err := g.CheckID(); err != nil {
		t.Fatalf("the forged plan's id does not match: %v", err)
	}
	return g
}

func action(t *testing.T, f *plan.File, name string) *plan.Action {
	t.Helper()
	for _, a := range f.Plan.Incidents[0].Actions {
		if a.Action == name {
			return a
		}
	}
	t.Fatalf("no action %s in the plan", name)
	return nil
}

// Apply checks a saved plan against the current configuration before
// anything changes (docs/configuration.md, docs/plan-and-apply.md): a plan file edited to act where the
// configuration does not let it is refused whole, with nothing changed and
// nothing recorded.
func TestApplyRefusesAPlanTheConfigurationWouldNotMake(t *testing.T) {
	ae := newApplyEnv(t)
	base := ae.plan(web1Findings)
	exempt := schema.Resource{Type: "aws_instance", ID: ciRunner,
		Tags: map[string]string{"Name": "ci-runner-3", "cordon:exempt": "true"}, Details: map[string]any{}}
	retarget := func(a *plan.Action) {
		a.Target.ID = ciRunner
		a.Address = plan.Address(a.Action, ciRunner)
	}
	for _, tc := range []struct {
		name string
		edit func(*testing.T, *plan.File)
		// is and want describe the refusal.
		is   error
		want string
	}{
		{"stop retargeted at the exempt instance", func(t *testing.T, f *plan.File) {
			retarget(action(t, f, "stop"))
			d := f.Incidents[f.Plan.Incidents[0].ID]
			d.Resources = append(d.Resources, exempt)
		}, engine.ErrPlanMismatch, `its target aws_instance "` + ciRunner + `" is not a resource of the finding or its facts`},
		{"exempt instance added to the finding held", func(t *testing.T, f *plan.File) {
			retarget(action(t, f, "stop"))
			d := f.Incidents[f.Plan.Incidents[0].ID]
			d.Resources = append(d.Resources, exempt)
			d.Finding.Resources = append(d.Finding.Resources, exempt)
		}, engine.ErrPlanMismatch, "the finding it holds for apply differs from its raw finding"},
		{"target changed under its address", func(t *testing.T, f *plan.File) {
			action(t, f, "stop").Target.ID = ciRunner
		}, engine.ErrPlanMismatch, `its address does not name its target "` + ciRunner + `"`},
		{"stop moved to the first phase", func(t *testing.T, f *plan.File) {
			action(t, f, "stop").Phase = "preserve"
		}, engine.ErrPlanMismatch, `it runs in phase "preserve", but aws_ec2_stop actions run in disrupt`},
		{"action of another type", func(t *testing.T, f *plan.File) {
			action(t, f, "isolate").Type = "aws_ec2_stop"
		}, engine.ErrPlanMismatch, `action "isolate" is of type aws_ec2_isolate, not "aws_ec2_stop"`},
		{"action not in the configuration", func(t *testing.T, f *plan.File) {
			a := action(t, f, "stop")
			a.Action, a.Address = "terminate", plan.Address("terminate", a.Target.ID)
		}, engine.ErrPlanMismatch, `action "terminate" is not in the configuration`},
		{"rule not in the configuration", func(t *testing.T, f *plan.File) {
			action(t, f, "stop").Rules = []string{"unlimited"}
		}, engine.ErrPlanMismatch, `rule "unlimited" is not in the configuration`},
		{"no rule", func(t *testing.T, f *plan.File) {
			action(t, f, "stop").Rules = []string{}
		}, engine.ErrPlanMismatch, "it names no rule that planned it"},
		{"approval changed", func(t *testing.T, f *plan.File) {
			action(t, f, "stop").Approval = "manual"
		}, engine.ErrPlanMismatch, `its approval is "manual", but its rules require "auto"`},
		{"target moved to another account", func(t *testing.T, f *plan.File) {
			action(t, f, "stop").Target.Account = "999988887777"
		}, engine.ErrPlanMismatch, `its target is in account "999988887777"`},
		{"recorded tags stripped", func(t *testing.T, f *plan.File) {
			d := f.Incidents[f.Plan.Incidents[0].ID]
			for i := range d.Resources {
				if d.Resources[i].ID == web1 {
					d.Resources[i].Tags = map[string]string{}
				}
			}
		}, engine.ErrPlanMismatch, `the resource it records for its target aws_instance "` + web1 + `" differs from the finding's`},
		{"finding shown differs from the finding applied", func(t *testing.T, f *plan.File) {
			f.Plan.Incidents[0].Finding.Resource.ID = bastion
		}, engine.ErrPlanMismatch, "the finding the plan shows differs from the finding it holds for apply"},
		{"incident of another finding", func(t *testing.T, f *plan.File) {
			inc := f.Plan.Incidents[0]
			f.Incidents["inc-0000000000000000"] = f.Incidents[inc.ID]
			inc.ID = "inc-0000000000000000"
		}, engine.ErrPlanMismatch, "its finding is incident"},
		{"action listed twice", func(t *testing.T, f *plan.File) {
			inc := f.Plan.Incidents[0]
			inc.Actions = append(inc.Actions, inc.Actions[len(inc.Actions)-1])
			f.Plan.Summary.Actions++
		}, engine.ErrPlanMismatch, "is listed twice"},
		{"summary hides actions", func(t *testing.T, f *plan.File) {
			f.Plan.Summary.Actions = 1
		}, engine.ErrPlanMismatch, "its summary"},
		{"plan and file digests differ", func(t *testing.T, f *plan.File) {
			f.Plan.ConfigDigest = "sha256:0000"
		}, engine.ErrPlanMismatch, "config_digest"},
		{"failed investigation hidden from the summary", func(t *testing.T, f *plan.File) {
			f.Plan.Incidents[0].Errors = []plan.IncidentError{{Rule: "respond", Summary: "Verdict policy failed"}}
		}, engine.ErrIncompletePlan, "1 failed investigations"},
		{"webhook sent elsewhere", func(t *testing.T, f *plan.File) {
			f.Variables["webhook_url"] = json.RawMessage(`"https://attacker.example/collect"`)
		}, engine.ErrStalePlan, `variable "webhook_url" has another value now than when the plan was made`},
		{"variable added", func(t *testing.T, f *plan.File) {
			f.Variables["isolation_sg"] = json.RawMessage(`"sg-0a1b2c3d4e5f60718"`)
		}, engine.ErrStalePlan, `variable "isolation_sg" was set when the plan was made but is not now`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := forge(t, base, func(f *plan.File) { tc.edit(t, f) })
			calls := len(ae.emu.Calls())
			_, err := ae.apply(f)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v\nwant %v containing %q", err, tc.is, tc.want)
			}
			if n := len(ae.emu.Calls()) - calls; n != 0 {
				t.Errorf("a refused plan made %d AWS calls", n)
			}
			if list, err := ae.store.Incidents(context.Background(), state.IncidentFilter{}); err != nil || len(list) != 0 {
				t.Errorf("a refused plan recorded incidents: %v %v", list, err)
			}
		})
	}

	// The unedited plan, through the same encoding, applies.
	res, err := ae.apply(forge(t, base, func(*plan.File) {}))
	if err != nil || res.Failed() {
		t.Fatalf("the unedited plan: %v", err)
	}
}

// A plan file edited by hand (its content no longer digests to its id) is
// refused before anything is checked or changed.
func TestApplyRefusesAnEditedPlanFile(t *testing.T) {
	ae := newApplyEnv(t)
	data, err := plan.Encode(ae.plan(web1Findings))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(string) string
	}{
		{"phase", func(s string) string { return strings.Replace(s, `"phase":"disrupt"`, `"phase":"preserve"`, 1) }},
		{"isolation group", func(s string) string { return strings.ReplaceAll(s, "sg-0e1f2a3b4c5d6e7f8", "sg-0a1b2c3d4e5f60718") }},
		{"id", func(s string) string {
			return s[:strings.Index(s, `"id":"plan-`)+11] + "0000000000000000" + s[strings.Index(s, `"id":"plan-`)+27:]
		}},
		{"re-indented", func(s string) string {
			var b bytes.Buffer
			json.Indent(&b, []byte(s), "", " ")
			return b.String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := gunzip(t, data)
			edited := tc.edit(body)
			if edited == body {
				t.Fatal("the edit changed nothing")
			}
			f, err := plan.Decode(gzipBytes(t, []byte(edited)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ae.apply(f); !errors.Is(err, engine.ErrModifiedPlan) || !errors.Is(err, plan.ErrModified) {
				t.Fatalf("apply: %v", err)
			}
			if len(ae.emu.Calls()) != 0 {
				t.Error("a refused plan called AWS")
			}
		})
	}
}

// A target tagged out of its rules' scopes since the plan was made is left
// alone, where the action's Read returns the tags: here a scope excludes
// instances already tagged by another incident.
func TestApplySkipsTargetTaggedOutOfScope(t *testing.T) {
	ae := newApplyEnv(t)
	dir := t.TempDir()
	for _, name := range []string{"cordon.hcl", "policies/verdict.rego", "policies/response.rego"} {
		data, err := os.ReadFile(filepath.Join("testdata/apply", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "cordon.hcl" {
			data = bytes.Replace(data, []byte(`exclude_tags   = { "cordon:exempt" = "true" }`),
				[]byte(`exclude_tags   = { "cordon:exempt" = "true", "cordon:incident" = "inc-*" }`), 1)
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	e, diags := engine.Load(context.Background(), engine.Options{Dir: dir,
		Values: map[string]cty.Value{"webhook_url": cty.StringVal(hook.URL)}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ae.eng = e
	f := ae.plan(web1Findings)
	// Another incident's response tags web-1 after the plan was made.
	if err := ae.emu.SetTags(web1, map[string]string{"cordon:incident": "inc-another"}); err != nil {
		t.Fatal(err)
	}
	res, err := ae.apply(f)
	if err != nil {
		t.Fatal(err)
	}
	got := resultsByAddress(res, web1)
	if got["tag"] != state.ResultDrifted || got["stop"] != state.ResultSkipped || got["isolate"] != state.ResultSkipped {
		t.Errorf("results %v", got)
	}
	for _, a := range res.Actions {
		if a.Action == "tag" && !strings.Contains(a.Error, `scope.instances excludes it (tag "cordon:incident" = "inc-another")`) {
			t.Errorf("tag: %s", a.Error)
		}
	}
	if s := ae.region().Instances[web1].State; s != "running" {
		t.Errorf("web-1 is %s", s)
	}
}

func gunzip(t *testing.T, data []byte) string {
	t.Helper()
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

func gzipBytes(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
