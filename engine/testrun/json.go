package testrun

import (
	"encoding/json"
	"io"
	"time"

	"github.com/cordonhq/cordon/internal/ui"
)

// JSONFormatVersion is the version of the -format json document. It
// changes only when a key changes meaning or goes away.
const JSONFormatVersion = "1.0"

type jsonReport struct {
	FormatVersion string              `json:"format_version"`
	Summary       jsonSummary         `json:"summary"`
	Files         []jsonFile          `json:"files"`
	Coverage      *Coverage           `json:"coverage,omitempty"`
	Diagnostics   []ui.JSONDiagnostic `json:"diagnostics"`
}

type jsonSummary struct {
	Passed     int     `json:"passed"`
	Failed     int     `json:"failed"`
	Skipped    int     `json:"skipped"`
	DurationMs float64 `json:"duration_ms"`
}

type jsonFile struct {
	File        string              `json:"file"`
	Kind        Kind                `json:"kind"`
	Status      string              `json:"status"` // pass, fail or invalid
	Tests       []jsonTest          `json:"tests"`
	Diagnostics []ui.JSONDiagnostic `json:"diagnostics"`
}

type jsonTest struct {
	Name        string              `json:"name"`
	FullName    string              `json:"full_name"`
	Group       string              `json:"group"`
	File        string              `json:"file"`
	Line        int                 `json:"line"`
	Status      string              `json:"status"`
	DurationMs  float64             `json:"duration_ms"`
	Message     string              `json:"message,omitempty"`
	Detail      string              `json:"detail,omitempty"`
	Output      string              `json:"output,omitempty"`
	Diagnostics []ui.JSONDiagnostic `json:"diagnostics,omitempty"`
	Scenario    *ScenarioOutcome    `json:"scenario,omitempty"`
	Benchmark   *BenchmarkResult    `json:"benchmark,omitempty"`
}

// WriteJSON writes the report as one JSON document: the summary, every
// file with every test (name, location, status, duration, why it failed,
// and for scenarios what was expected and planned), the coverage with the
// lines not covered, and the configuration's diagnostics.
func WriteJSON(w io.Writer, rep *Report) error {
	counts := rep.Counts()
	doc := jsonReport{
		FormatVersion: JSONFormatVersion,
		Summary:       jsonSummary{counts.Passed, counts.Failed, counts.Skipped, ms(rep.Duration)},
		Files:         make([]jsonFile, 0, len(rep.Files)),
		Coverage:      rep.Coverage,
		Diagnostics:   ui.JSONDiagnostics(rep.Diagnostics),
	}
	for _, f := range rep.Files {
		jf := jsonFile{File: f.File, Kind: f.Kind, Status: "pass", Tests: make([]jsonTest, 0, len(f.Tests)), Diagnostics: ui.JSONDiagnostics(f.Diagnostics)}
		switch {
		case f.Invalid():
			jf.Status = "invalid"
		case f.Counts().Failed > 0:
			jf.Status = "fail"
		}
		for _, t := range f.Tests {
			jt := jsonTest{
				Name: t.Name, FullName: t.FullName(), Group: t.Group, File: t.File, Line: t.Line,
				Status: t.Status.String(), DurationMs: ms(t.Duration),
				Message: t.Message, Detail: t.Detail, Output: t.Output,
				Scenario: t.Scenario, Benchmark: t.Benchmark,
			}
			if len(t.Diagnostics) > 0 {
				jt.Diagnostics = ui.JSONDiagnostics(t.Diagnostics)
			}
			jf.Tests = append(jf.Tests, jt)
		}
		doc.Files = append(doc.Files, jf)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
