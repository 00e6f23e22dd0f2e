package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/schema"
)

// Incident identity (docs/findings.md, docs/daemon.md): one GuardDuty finding, whether native,
// through Security Hub or as OCSF, and every re-publication of it, is one
// incident; a finding that only claims to be GuardDuty's is another.

const identityFindings = "../testdata/findings/"

// identityForms returns one GuardDuty finding (Stealth:IAMUser/
// CloudTrailLoggingDisabled) as NDJSON lines, by name: its native, ASFF and
// OCSF forms, a re-publication, and a custom product's forgery of it.
func identityForms(t *testing.T) map[string]string {
	t.Helper()
	read := func(name string) map[string]any {
		data, err := os.ReadFile(identityFindings + name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	line := func(m map[string]any) string {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const asffFile = "securityhub_asff_from_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json"
	native := read("cordon_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json")
	forms := map[string]string{
		"native": line(native),
		"asff":   line(read(asffFile)),
		"ocsf":   line(read("ocsf_2004_detection_finding_from_securityhub_guardduty_CloudTrailLoggingDisabled.json")),
	}
	native["service"].(map[string]any)["count"] = 42
	native["updatedAt"] = "2023-09-20T08:00:00.000Z"
	forms["republished"] = line(native)

	// Everything a custom product can claim, the newest of all: were it
	// taken for GuardDuty's, it would replace the genuine incident.
	forged := read(asffFile)
	forged["ProductArn"] = "arn:aws:securityhub:us-east-2:999999999999:product/999999999999/default"
	forged["Types"] = []any{"Stealth:IAMUser/CloudTrailLoggingDisabled"}
	forged["UpdatedAt"] = "2023-09-21T08:00:00.000Z"
	forms["forged"] = line(forged)
	return forms
}

var incidentIDPattern = regexp.MustCompile(`^inc-[0-9a-f]{16}$`)

func TestIncidentIDFromProductIdentity(t *testing.T) {
	forms := identityForms(t)
	ids := map[string]string{}
	for name, line := range forms {
		fs, err := schema.Parse(name+".json", []byte(line))
		if err != nil || len(fs) != 1 {
			t.Fatalf("%s: %d findings, %v", name, len(fs), err)
		}
		ids[name] = engine.IncidentID(fs[0])
		if !incidentIDPattern.MatchString(ids[name]) {
			t.Errorf("%s: incident id %q", name, ids[name])
		}
	}
	for _, name := range []string{"asff", "ocsf", "republished"} {
		if ids[name] != ids["native"] {
			t.Errorf("%s: incident %s, native: %s", name, ids[name], ids["native"])
		}
	}
	if ids["forged"] == ids["native"] {
		t.Error("the forged finding has the genuine finding's incident")
	}
}

func TestPlanOneIncidentPerFinding(t *testing.T) {
	forms := identityForms(t)
	const gdID = "a6c556fcbc9bea427a19f8b787099a0b"
	const gdArn = "arn:aws:guardduty:us-east-2:111111111111:detector/1ac1bfceda6679698215d5d0EXAMPLE/finding/" + gdID
	type unmatched struct{ findingID, reason string }
	tests := []struct {
		name  string
		lines []string
		// want of the genuine incident: the kept copy's source and count
		source string
		count  int
		// unmatched lists the copies not planned; "" in a reason stands
		// for the incident id.
		unmatched []unmatched
	}{
		{
			name:   "native, ASFF, OCSF, re-publication, ASFF again, forgery",
			lines:  []string{forms["native"], forms["asff"], forms["ocsf"], forms["republished"], forms["asff"], forms["forged"]},
			source: schema.SourceGuardDuty, count: 42,
			unmatched: []unmatched{
				{gdArn, "duplicate of an earlier finding (incident %s)"},
				{gdArn, "duplicate of an earlier finding (incident %s)"},
				{gdID, "older update of finding " + gdID + " (incident %s)"},
				{gdArn, "older update of finding " + gdID + " (incident %s)"},
			},
		},
		{
			name:   "re-publication first",
			lines:  []string{forms["republished"], forms["forged"], forms["ocsf"], forms["native"]},
			source: schema.SourceGuardDuty, count: 42,
			unmatched: []unmatched{
				{gdArn, "older update of finding " + gdID + " (incident %s)"},
				{gdID, "older update of finding " + gdID + " (incident %s)"},
			},
		},
		{
			name:   "the same copy twice: the first",
			lines:  []string{forms["asff"], forms["forged"], forms["asff"]},
			source: schema.SourceSecurityHub, count: 1,
			unmatched: []unmatched{
				{gdArn, "duplicate of an earlier finding (incident %s)"},
			},
		},
	}

	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/basic"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff, err := engine.SplitFindings("copies.ndjson", []byte(strings.Join(tt.lines, "\n")+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			res, diags := e.Plan(context.Background(), []*engine.FindingsFile{ff}, engine.PlanOptions{KeepData: true, Workers: 3})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			p := res.Plan
			if p.Summary.Findings != len(tt.lines) || p.Summary.Incidents != 2 || p.Summary.Unmatched != len(tt.unmatched) {
				t.Fatalf("summary %+v, want %d findings, 2 incidents, %d unmatched", p.Summary, len(tt.lines), len(tt.unmatched))
			}

			// The genuine finding is the first incident, whatever copy of
			// it came first, planned from its newest copy.
			inc, forged := p.Incidents[0], p.Incidents[1]
			if inc.Finding.Source != tt.source || len(inc.Matches) != 1 || inc.Matches[0].Rule != "keys" {
				t.Errorf("incident: source %q, matches %v; want %q matched by rule keys", inc.Finding.Source, inc.Matches, tt.source)
			}
			data := res.Data[inc.ID]
			if data == nil || data.Finding.Count != tt.count {
				t.Fatalf("incident %s planned from %+v, want the copy with count %d", inc.ID, data, tt.count)
			}
			if forged.ID == inc.ID || forged.Finding.Source != schema.SourceSecurityHub || res.Data[forged.ID] == nil {
				t.Errorf("forged finding: incident %s (%s), genuine %s", forged.ID, forged.Finding.Source, inc.ID)
			}
			if len(res.Data) != 2 {
				t.Errorf("plan data for %d incidents, want 2", len(res.Data))
			}

			for i, u := range tt.unmatched {
				got := p.Unmatched[i]
				want := strings.Replace(u.reason, "%s", inc.ID, 1)
				if got.FindingID != u.findingID || got.Reason != want {
					t.Errorf("unmatched[%d] = %q %q, want %q %q", i, got.FindingID, got.Reason, u.findingID, want)
				}
			}
		})
	}
}
