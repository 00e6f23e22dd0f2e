// Package ui renders cordon's output for people and for programs:
// diagnostics with source snippets or as JSON, colour only on a terminal,
// the approval prompt, and the escaping that keeps text from findings
// from acting on the terminal it is shown on.
package ui

import (
	"encoding/json"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"
)

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// WriteDiagnostics renders diags the way Terraform does: severity and
// summary, the source line with the range underlined, then the detail.
// files supplies the sources for the snippets. Summaries and details can
// quote findings, so they are written through SafeDiagnostics.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	if len(diags) == 0 {
		return nil
	}
	diags = SafeDiagnostics(diags)
	width := 0
	if f, ok := w.(*os.File); ok && IsTerminal(f) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = cols
		}
	}
	tw := hcl.NewDiagnosticTextWriter(w, files, uint(width), color)
	return tw.WriteDiagnostics(diags)
}

// JSONDiagnostic is one diagnostic in JSON form (docs/configuration.md): severity,
// summary, detail and the source range.
type JSONDiagnostic struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *JSONRange `json:"range,omitempty"`
}

// JSONRange is a source range with 1-based lines and columns.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position in a source file.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONDiagnostics converts diags to their JSON form.
func JSONDiagnostics(diags hcl.Diagnostics) []JSONDiagnostic {
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range diags {
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if d.Subject != nil {
			r := d.Subject
			jd.Range = &JSONRange{
				Filename: r.Filename,
				Start:    JSONPos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
				End:      JSONPos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
			}
		}
		out = append(out, jd)
	}
	return out
}

// WriteJSONDiagnostics writes {"diagnostics": [...]} on one line.
func WriteJSONDiagnostics(w io.Writer, diags hcl.Diagnostics) error {
	return json.NewEncoder(w).Encode(struct {
		Diagnostics []JSONDiagnostic `json:"diagnostics"`
	}{JSONDiagnostics(diags)})
}

// ErrorDiag makes a diagnostic without a source range, for errors about
// files and arguments rather than configuration.
func ErrorDiag(summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
}
