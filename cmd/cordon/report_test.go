package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reportConfig is the apply tests' configuration with two collectors on
// its rule, so the incident has facts and a console screenshot as
// evidence.
func reportConfig(t *testing.T) string {
	t.Helper()
	dir, _ := emulatedConfig(t)
	path := filepath.Join(dir, "cordon.hcl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), `rule "respond" {`, `collector "describe" {
  type = "aws_ec2_describe"
}

collector "console" {
  type       = "aws_ec2_console"
  screenshot = true
}

rule "respond" {
  collect = [collector.describe, collector.console]`, 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// appliedIncident plans and applies the web-1 finding and returns the
// incident's id.
func appliedIncident(t *testing.T, dir string) string {
	t.Helper()
	planFile := filepath.Join(t.TempDir(), "web1.plan")
	if code, _, errOut := cordon(t, "plan", "-config", dir, "-finding", web1Finding, "-out", planFile); code != 0 {
		t.Fatalf("plan: %s", errOut)
	}
	if code, out, errOut := cordon(t, "apply", "-config", dir, "-no-color", planFile); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ := cordon(t, "state", "list", "-config", dir, "-json")
	var list struct {
		Incidents []struct{ ID string } `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Incidents) != 1 {
		t.Fatalf("state list -json: exit %d %v\n%s", code, err, out)
	}
	return list.Incidents[0].ID
}

var web1Actions = []string{
	`action.tag["i-0a1b2c3d4e5f67890"]`, `action.protect["i-0a1b2c3d4e5f67890"]`, `action.isolate["i-0a1b2c3d4e5f67890"]`,
	`action.snapshot["i-0a1b2c3d4e5f67890"]`, `action.stop["i-0a1b2c3d4e5f67890"]`, `action.notify["i-0a1b2c3d4e5f67890"]`,
}

func TestReport(t *testing.T) {
	dir := reportConfig(t)
	id := appliedIncident(t, dir)

	// Markdown, the default, on stdout.
	code, out, errOut := cordon(t, "report", "-config", dir, id)
	if code != 0 {
		t.Fatalf("report: exit %d\n%s", code, errOut)
	}
	for _, want := range append([]string{
		"# Incident " + id, "**Verdict: MALICIOUS** (confidence 0.90)", "GuardDuty reported",
		"## Timeline", "## Response actions", "| security\\_groups |", "✅ applied", "## Evidence",
		"`describe`", "`console`", "### Console screenshots",
	}, web1Actions...) {
		if !strings.Contains(out, want) {
			t.Errorf("markdown report lacks %q:\n%s", want, out)
		}
	}

	// JSON, flags after the incident as in the synopsis.
	code, out, errOut = cordon(t, "report", id, "-config", dir, "-format", "json")
	if code != 0 {
		t.Fatalf("report -format json: exit %d\n%s", code, errOut)
	}
	var r struct {
		FormatVersion string `json:"format_version"`
		CordonVersion string `json:"cordon_version"`
		Incident      struct{ ID string }
		Verdict       struct {
			Verdict    string
			Confidence float64
			Reasons    []string
		}
		Timeline struct {
			Entries []struct{ Source, Kind, Title, Result string }
		}
		Facts struct {
			SHA256     string
			Verified   *bool
			Collectors []struct {
				Name, Type, SHA256 string
				Verified           *bool
			}
		}
		Evidence struct {
			Snapshots []struct {
				SnapshotID string `json:"snapshot_id"`
			}
			Screenshots []struct {
				ContentType string `json:"content_type"`
				SHA256      string
			}
		}
		Actions []struct {
			Address, Result string
			Changes         []struct{ Attribute string }
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report -format json: %v\n%s", err, out)
	}
	if r.FormatVersion != "1.0" || r.CordonVersion == "" || r.Incident.ID != id {
		t.Errorf("header %+v", r)
	}
	if r.Verdict.Verdict != "malicious" || r.Verdict.Confidence != 0.9 || len(r.Verdict.Reasons) == 0 {
		t.Errorf("verdict %+v", r.Verdict)
	}
	if len(r.Actions) != len(web1Actions) {
		t.Fatalf("%d actions: %+v", len(r.Actions), r.Actions)
	}
	onTimeline := map[string]string{}
	kinds := map[string]int{}
	for _, e := range r.Timeline.Entries {
		kinds[e.Source+" "+e.Kind]++
		if e.Kind == "action.apply" {
			onTimeline[strings.TrimSuffix(e.Title, ": "+e.Result)] = e.Result
		}
	}
	for _, a := range r.Actions {
		if a.Result != "applied" {
			t.Errorf("%s: %s", a.Address, a.Result)
		}
		if onTimeline[a.Address] != "applied" {
			t.Errorf("%s is not on the timeline as applied: %v", a.Address, onTimeline)
		}
	}
	if kinds["cordon incident.recorded"] != 1 || kinds["finding finding.created"] != 1 {
		t.Errorf("timeline kinds %v", kinds)
	}
	// web-1 has two volumes: the snapshot action's snapshots are on the
	// timeline as acquisitions, once each.
	if kinds["acquisition snapshot"] != 2 {
		t.Errorf("timeline kinds %v: want the snapshot action's 2 snapshots", kinds)
	}
	for _, a := range r.Actions {
		if strings.HasPrefix(a.Address, "action.isolate") && (len(a.Changes) == 0 || a.Changes[len(a.Changes)-1].Attribute != "security_groups") {
			t.Errorf("isolate changes %+v", a.Changes)
		}
	}
	if r.Facts.SHA256 == "" || r.Facts.Verified == nil || !*r.Facts.Verified || len(r.Facts.Collectors) != 2 {
		t.Errorf("facts %+v", r.Facts)
	}
	for _, c := range r.Facts.Collectors {
		if c.Type == "" || c.SHA256 == "" || c.Verified == nil || !*c.Verified {
			t.Errorf("collector %+v", c)
		}
	}
	if len(r.Evidence.Screenshots) != 1 || r.Evidence.Screenshots[0].ContentType == "" || len(r.Evidence.Screenshots[0].SHA256) != 64 {
		t.Errorf("screenshots %+v", r.Evidence.Screenshots)
	}
	if len(r.Evidence.Snapshots) == 0 {
		t.Errorf("no snapshot in the evidence: %+v", r.Evidence)
	}

	// HTML to a file: 0600, nothing on stdout, self-contained, the
	// screenshot embedded.
	outDir := t.TempDir()
	file := filepath.Join(outDir, "report.html")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cordon(t, "report", "-config", dir, "-format", "html", "-out", file, id)
	if code != 0 || out != "" || !strings.Contains(errOut, file) {
		t.Fatalf("report -format html -out: exit %d\nstdout %q\n%s", code, out, errOut)
	}
	html, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("report file mode %v", info.Mode().Perm())
	}
	for _, want := range []string{"<!DOCTYPE html>", `http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;`, `id="tl-list"`, "data:image/", `action.isolate[&#34;i-0a1b2c3d4e5f67890&#34;]`, "MALICIOUS"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if strings.Contains(string(html), `src="http`) || strings.Contains(string(html), `href="http`) {
		t.Error("the HTML report links to the network")
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
		t.Errorf("files left beside the report: %v", entries)
	}

	// -state reads the database directly, without the configuration.
	db := filepath.Join(dir, ".cordon", "state.db")
	code, out, errOut = cordon(t, "report", "-state", db, "-format", "json", id)
	if code != 0 || !strings.Contains(out, `"verdict": "malicious"`) {
		t.Errorf("report -state: exit %d\n%s", code, errOut)
	}
}

func TestReportErrors(t *testing.T) {
	dir := reportConfig(t)
	id := appliedIncident(t, dir)
	outDir := t.TempDir()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown incident", []string{"report", "-config", dir, "inc-nope"}, "incident inc-nope is not in the state"},
		{"bad format", []string{"report", "-config", dir, "-format", "pdf", id}, `unknown -format "pdf"`},
		{"no incident", []string{"report", "-config", dir}, "expected exactly one INCIDENT"},
		{"two incidents", []string{"report", "-config", dir, id, id}, "expected exactly one INCIDENT"},
		{"unknown flag", []string{"report", "-config", dir, "-pdf", id}, "flag provided but not defined"},
		{"config and state", []string{"report", "-config", dir, "-state", filepath.Join(dir, ".cordon", "state.db"), id}, "-config and -state"},
		{"missing state", []string{"report", "-state", filepath.Join(outDir, "none.db"), id}, "none.db"},
		{"unwritable out", []string{"report", "-config", dir, "-out", filepath.Join(outDir, "missing", "r.md"), id}, "Cannot write the report"},
		{"out is a directory", []string{"report", "-config", dir, "-out", outDir, id}, "Cannot write the report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cordon(t, tc.args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr:\n%s", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
	// Nothing was written, not even a temporary file, and -state did not
	// create the database it was pointed at.
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("files left in the output directory: %v", entries)
	}
}

func TestStateShowTimeline(t *testing.T) {
	dir := reportConfig(t)
	id := appliedIncident(t, dir)
	code, out, errOut := cordon(t, "state", "show", "-config", dir, "-no-color", id)
	if code != 0 {
		t.Fatalf("state show: exit %d\n%s", code, errOut)
	}
	i := strings.Index(out, "\nTimeline")
	if i < 0 || i < strings.Index(out, "\nActions:") {
		t.Fatalf("no timeline after the actions:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out[i:]), "\n")[1:]
	var prev string
	sources := map[string]bool{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 {
			t.Fatalf("timeline line %q", l)
		}
		when := f[0] + " " + strings.TrimSuffix(f[1], "~")
		if when < prev {
			t.Errorf("timeline not sorted at %q", l)
		}
		prev = when
		sources[f[2]] = true
	}
	if !sources["finding"] || !sources["cordon"] {
		t.Errorf("timeline sources %v:\n%s", sources, out[i:])
	}
	for _, a := range web1Actions {
		if !strings.Contains(out[i:], a+": applied") {
			t.Errorf("timeline lacks %s:\n%s", a, out[i:])
		}
	}

	code, out, _ = cordon(t, "state", "show", id, "-config", dir, "-json") // flags after the incident
	var d struct {
		Incident struct{ ID string }
		Actions  []json.RawMessage
		Timeline struct {
			Entries []struct {
				Time   time.Time
				Source string
				Title  string
			}
			Total int
		}
	}
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("state show -json: exit %d %v\n%s", code, err, out)
	}
	if d.Incident.ID != id || len(d.Actions) != len(web1Actions) || len(d.Timeline.Entries) == 0 || d.Timeline.Total != len(d.Timeline.Entries) {
		t.Errorf("state show -json: %+v", d)
	}
	for j := 1; j < len(d.Timeline.Entries); j++ {
		if d.Timeline.Entries[j].Time.Before(d.Timeline.Entries[j-1].Time) || d.Timeline.Entries[j].Source == "" {
			t.Errorf("timeline entry %d %+v", j, d.Timeline.Entries[j])
		}
	}
}
