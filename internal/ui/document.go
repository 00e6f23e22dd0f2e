package ui

import (
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
)

// FormatVersion is the version of every JSON document the CLI prints
// (`format_version`): it changes only when a key changes meaning or goes
// away; new keys may be added.
const FormatVersion = "1.0"

// DiagnosticsDocument is what a command run with -json prints on stdout
// when it fails before it has a document of its own to print: the shape
// of `cordon validate -json`, which is `terraform validate -json`'s, so
// that one reader handles every command's errors.
type DiagnosticsDocument struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []JSONDiagnostic `json:"diagnostics"`
}

// NewDiagnosticsDocument summarises diags: valid when none is an error.
func NewDiagnosticsDocument(diags hcl.Diagnostics) DiagnosticsDocument {
	doc := DiagnosticsDocument{FormatVersion: FormatVersion, Diagnostics: JSONDiagnostics(diags)}
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			doc.ErrorCount++
		} else {
			doc.WarningCount++
		}
	}
	doc.Valid = doc.ErrorCount == 0
	return doc
}

// Color reports whether output to w gets ANSI colour: only on a terminal,
// never with -no-color (noColor) or when the NO_COLOR environment
// variable is set to anything (no-color.org).
func Color(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && IsTerminal(f)
}

// Paint wraps s in an ANSI style when color is set: the one place the
// CLI's own lines are coloured.
func Paint(color bool, style, s string) string {
	if !color {
		return s
	}
	return style + s + "\x1b[0m"
}

// ANSI styles for Paint.
const (
	Bold     = "\x1b[1m"
	Green    = "\x1b[32;1m"
	Yellow   = "\x1b[33m"
	YellowB  = "\x1b[33;1m"
	Red      = "\x1b[31m"
	Dim      = "\x1b[2m"
	CyanBold = "\x1b[1;36m"
)
