package plan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cordonhq/cordon/actions"
)

func TestWriteJSONMatchesMarshalIndent(t *testing.T) {
	conf := 0.9
	plans := []*Plan{
		{FormatVersion: FormatVersion, Warnings: []*Warning{}, Incidents: []*Incident{}, Unmatched: []*Unmatched{}},
		{
			FormatVersion: FormatVersion, CordonVersion: "1.2.3", ConfigDigest: "sha256:ab",
			Warnings: []*Warning{{Collector: "triage", Summary: "Collector triage failed", Detail: "dial tcp: connection refused",
				Findings: 2, Incidents: []string{"inc-1", "inc-2"}}},
			Incidents: []*Incident{{
				ID:       "inc-1",
				Finding:  FindingSummary{ID: "f<1>&", Type: "Backdoor:EC2/C&CActivity.B!DNS"},
				Matches:  []Match{{Rule: "r", Scope: "s"}},
				Verdicts: []Verdict{{Rule: "r", Verdict: "malicious", Confidence: &conf, Reasons: []string{"x"}}},
				Actions: []*Action{{Address: `action.stop["i-1"]`, Target: actions.Target{Type: "aws_instance", ID: "i-1"},
					Change: actions.Change{Before: map[string]any{"state": "running"}, After: map[string]any{"state": "stopped"}}}},
				Errors: []IncidentError{},
			}, {ID: "inc-2", Actions: []*Action{}}},
			Unmatched: []*Unmatched{{FindingID: "f2", Reason: "no rule matched"}},
			Summary:   Summary{Findings: 3, Incidents: 2, Actions: 1, Unmatched: 1},
		},
	}
	for _, p := range plans {
		var got bytes.Buffer
		if err := p.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		want, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != string(want)+"\n" {
			t.Errorf("WriteJSON:\n%s\nMarshalIndent:\n%s", got.String(), want)
		}
	}
}
