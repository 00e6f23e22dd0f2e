package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// Memory is acquired before any stop (docs/evidence.md): the aws_ssm_memory
// collector runs before planning, and a rule that lists it never plans
// (nor applies) a disruption of an instance whose image S3 has not
// confirmed. testdata/memory tags and stops every instance, after
// acquiring its memory into the emulator's evidence bucket.

var memoryTool = []byte("\x7fELF avml (the emulator's hosts hash it, never run it)")

type memoryEnv struct {
	t     *testing.T
	emu   *awsemu.Emulator
	aws   *awsclient.Factory
	eng   *engine.Engine
	store state.Store
}

func newMemoryEnv(t *testing.T, vars map[string]cty.Value) *memoryEnv {
	t.Helper()
	seed, err := demo.Fleet()
	if err != nil {
		t.Fatal(err)
	}
	for i := range seed.Accounts {
		if a := &seed.Accounts[i]; a.ID == demo.ProdAccount {
			r := a.Regions[demo.Region]
			r.S3Buckets = append(r.S3Buckets,
				awsemu.SeedBucket{Name: "cordon-evidence-test", Versioning: "Enabled"},
				awsemu.SeedBucket{Name: "cordon-tools-test", Objects: []awsemu.SeedObject{{Key: "avml/avml-0.14.0", Content: string(memoryTool)}}})
			a.Regions[demo.Region] = r
		}
	}
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	me := &memoryEnv{t: t, emu: awsemu.New(seed)}
	srv := httptest.NewServer(me.emu)
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(memoryTool)
	values := map[string]cty.Value{"tool_sha256": cty.StringVal(hex.EncodeToString(sum[:]))}
	for k, v := range vars {
		values[k] = v
	}
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/memory", Values: values})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	me.eng = e
	me.aws, err = awsclient.New(context.Background(), awsclient.Options{
		Region: demo.Region, Endpoint: srv.URL, AssumeRoleARN: demo.ResponderRoleARN,
		Credentials: credentials.NewStaticCredentialsProvider(demo.CordonAccessKey, demo.CordonSecretKey, ""),
		MaxBackoff:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenSQLite(filepath.Join(t.TempDir(), ".cordon", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	me.store = st
	return me
}

// plan plans web-1's finding and returns the plan file.
func (me *memoryEnv) plan() *plan.File {
	me.t.Helper()
	files, diags := engine.ReadFindings([]string{web1Findings})
	if diags.HasErrors() {
		me.t.Fatal(diags)
	}
	res, diags := me.eng.Plan(context.Background(), files, engine.PlanOptions{AWS: me.aws, KeepData: true})
	if diags.HasErrors() {
		me.t.Fatal(diags)
	}
	f := res.File(me.eng, time.Now().UTC().Format(time.RFC3339Nano))
	id, err := plan.ID(f)
	if err != nil {
		me.t.Fatal(err)
	}
	f.ID = id
	if len(f.Plan.Incidents) != 1 {
		me.t.Fatalf("%d incidents", len(f.Plan.Incidents))
	}
	return f
}

func (me *memoryEnv) apply(f *plan.File) (*engine.ApplyResult, error) {
	return me.eng.Apply(context.Background(), f, engine.ApplyOptions{Store: me.store, AWS: me.aws, Owner: "test"})
}

func addresses(as []*plan.Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	return out
}

func TestMemoryBeforeStop(t *testing.T) {
	stop, tag := plan.Address("stop", demo.WebServerID), plan.Address("tag", demo.WebServerID)

	t.Run("confirmed: stopped after the image is evidence", func(t *testing.T) {
		me := newMemoryEnv(t, nil)
		f := me.plan()
		inc := f.Plan.Incidents[0]
		if got := addresses(inc.Actions); strings.Join(got, ",") != tag+","+stop || len(inc.Withheld) != 0 {
			t.Fatalf("actions %v, withheld %+v", got, inc.Withheld)
		}
		data := f.Incidents[inc.ID]
		if len(data.Artefacts) != 1 || data.Artefacts[0].Kind != "memory_image" {
			t.Fatalf("artefacts %+v", data.Artefacts)
		}
		res, err := me.apply(f)
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Applied != 2 {
			t.Errorf("apply %+v", res.Summary)
		}
		// The image is in the incident's chain of custody, by its digest.
		ev, err := me.store.Evidence(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		var image *state.Evidence
		for i := range ev {
			if ev[i].Kind == "memory_image" {
				image = &ev[i]
			}
		}
		key, _ := data.Facts["memory"]["key"].(string)
		obj, ok := me.emu.S3Object("cordon-evidence-test", key)
		if image == nil || !ok || image.SHA256 != obj.SHA256 || image.Size != obj.Size || image.Name != "s3://cordon-evidence-test/"+key || image.Data != nil {
			t.Fatalf("memory_image evidence %+v, object %+v", image, obj)
		}
		custody, err := me.store.Custody(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := state.VerifyCustody(custody, ev); err != nil {
			t.Errorf("custody: %v", err)
		}
	})

	for _, tc := range []struct {
		name string
		host awsemu.MemoryHost
		vars map[string]cty.Value
		why  string
	}{
		{"SSM times out mid-acquisition", awsemu.MemoryHost{Fault: awsemu.MemoryTimeout}, map[string]cty.Value{"memory_timeout": cty.StringVal("2s")},
			"did not finish within the collector's timeout (cancelled)"},
		{"the upload does not match its checksum", awsemu.MemoryHost{Fault: awsemu.MemoryCorruptUpload}, nil, "(HTTP 400 BadDigest)"},
		{"the host refuses the tool", awsemu.MemoryHost{Fault: awsemu.MemoryToolTampered}, nil, "the host refused to run the tool"},
		{"no disk for the image", awsemu.MemoryHost{Fault: awsemu.MemoryLowDisk}, nil, "has no disk with room for its memory image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			me := newMemoryEnv(t, tc.vars)
			me.emu.SetMemoryHost(demo.WebServerID, tc.host)
			f := me.plan()
			inc := f.Plan.Incidents[0]
			data := f.Incidents[inc.ID]
			// Containment goes on; the stop waits, and the plan says why.
			if got := addresses(inc.Actions); strings.Join(got, ",") != tag {
				t.Errorf("actions %v, want only %s", got, tag)
			}
			if len(inc.Withheld) != 1 || inc.Withheld[0].Address != stop ||
				!strings.Contains(inc.Withheld[0].Reason, "rule compromised secures the volatile evidence of "+demo.WebServerID+
					" before disrupting it, and collector memory (aws_ssm_memory) has not: its memory acquisition failed: ") ||
				!strings.Contains(inc.Withheld[0].Reason, tc.why) {
				t.Fatalf("withheld %+v", inc.Withheld)
			}
			var out bytes.Buffer
			if err := f.Plan.Render(&out, plan.RenderOptions{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "has not: its memory acquisition failed") {
				t.Errorf("the rendered plan does not say why:\n%s", out.String())
			}
			// Nothing counts as acquired.
			if errMsg, _ := data.Facts["memory"]["error"].(string); !strings.Contains(errMsg, tc.why) {
				t.Errorf("facts %v", data.Facts["memory"])
			}
			if len(data.Artefacts) != 0 {
				t.Errorf("artefacts %+v", data.Artefacts)
			}
			if b := me.emu.Snapshot().Buckets["cordon-evidence-test"]; len(b.Objects) != 0 {
				t.Errorf("objects %v", b.Objects)
			}
			res, err := me.apply(f)
			if err != nil {
				t.Fatal(err)
			}
			if res.Summary.Applied != 1 {
				t.Errorf("apply %+v", res.Summary)
			}
			for _, in := range me.emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances {
				if in.ID == demo.WebServerID && in.State != "running" {
					t.Errorf("web-1 is %s", in.State)
				}
			}
			// The report shows the acquisition's failure.
			rep, err := engine.BuildReport(context.Background(), me.store, inc.ID, map[string]string{"memory": "aws_ssm_memory"})
			if err != nil {
				t.Fatal(err)
			}
			var md bytes.Buffer
			if err := rep.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(md.String(), "its memory acquisition failed") && !strings.Contains(md.String(), tc.why) {
				t.Errorf("the report does not say why:\n%s", md.String())
			}
		})
	}
}

// TestApplyRefusesUnsecuredStop: apply checks the plan again, so a plan
// listing a stop whose memory image was not confirmed (edited, or made by
// a cordon without the check) is refused with nothing changed.
func TestApplyRefusesUnsecuredStop(t *testing.T) {
	me := newMemoryEnv(t, nil)
	f := me.plan()
	stop := plan.Address("stop", demo.WebServerID)
	for name, edit := range map[string]func(*plan.File){
		"the memory facts are an error": func(g *plan.File) {
			g.Incidents[g.Plan.Incidents[0].ID].Facts["memory"] = map[string]any{"error": "timed out after 20m0s"}
		},
		"the memory facts are gone": func(g *plan.File) {
			delete(g.Incidents[g.Plan.Incidents[0].ID].Facts, "memory")
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := forge(t, f, edit)
			_, err := me.apply(g)
			if !errors.Is(err, engine.ErrPlanMismatch) || !strings.Contains(err.Error(), stop+": it must be withheld: rule compromised secures the volatile evidence") {
				t.Fatalf("apply: %v", err)
			}
			for _, in := range me.emu.Snapshot().Accounts[demo.ProdAccount].Regions[demo.Region].Instances {
				if in.ID == demo.WebServerID && in.State != "running" {
					t.Errorf("web-1 is %s", in.State)
				}
			}
		})
	}
}
