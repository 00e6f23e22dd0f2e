package policy

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
)

// diagnostics turns OPA's parse and compile errors into HCL diagnostics, one
// per error, with a Subject range the CLI renders as a source snippet the
// way it renders HCL errors.
func diagnostics(errs ast.Errors, files map[string]*hcl.File) hcl.Diagnostics {
	diags := make(hcl.Diagnostics, 0, len(errs))
	for _, e := range errs {
		diags = append(diags, diagnostic(e, files))
	}
	sortDiagnostics(diags)
	return diags
}

func diagnostic(e *ast.Error, files map[string]*hcl.File) *hcl.Diagnostic {
	d := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  ErrorSummary(e),
		Detail:   detail(e),
	}
	if e.Location != nil && e.Location.File != "" {
		var src []byte
		if f := files[e.Location.File]; f != nil {
			src = f.Bytes
		}
		rng := subjectRange(e.Location, src, highlightLength(e, src))
		d.Subject = &rng
	}
	return d
}

// ErrorSummary is the short headline of a Rego error, in the style of
// HCL's; `cordon test` uses it for the errors of test files too.
func ErrorSummary(e *ast.Error) string {
	switch e.Code {
	case ast.ParseErr:
		return "Invalid Rego syntax"
	case ast.UnsafeVarErr:
		return "Unsafe variable in Rego"
	case ast.RecursionErr:
		return "Recursive Rego rule"
	case ast.CompileErr:
		if strings.HasPrefix(e.Message, schemaAnnotationError) {
			return "Invalid schema annotation"
		}
	case ast.TypeErr:
		switch {
		case strings.HasPrefix(e.Message, "undefined function"):
			return "Undefined function"
		case strings.HasPrefix(e.Message, "undefined ref"):
			return "Undefined reference"
		}
		return "Rego type error"
	}
	return "Rego compile error"
}

// detail is OPA's message with its details, plus what cordon knows beyond
// OPA: why a built-in is missing, and the closest name to a mistyped key.
func detail(e *ast.Error) string {
	var b strings.Builder
	b.WriteString(e.Message)
	if fn, ok := strings.CutPrefix(e.Message, "undefined function "); ok {
		if r, removed := removed[fn]; removed {
			fmt.Fprintf(&b, ": cordon policies cannot call %s because %s; %s", fn, r.why, r.principle)
		}
	}
	b.WriteString(".")
	if e.Details == nil {
		return b.String()
	}
	if d, ok := e.Details.(*ast.RefErrInvalidDetail); ok && len(d.OneOf) > 0 && d.Pos < len(d.Ref) {
		if have, ok := d.Ref[d.Pos].Value.(ast.String); ok {
			if s := suggest(string(have), d.OneOf); s != "" {
				fmt.Fprintf(&b, " Did you mean %q?", s)
			}
		}
	}
	if _, parse := e.Details.(*ast.ParserErrorDetail); parse {
		// The snippet already shows the line and the caret.
		return b.String()
	}
	for _, l := range e.Details.Lines() {
		b.WriteString("\n")
		b.WriteString(strings.TrimRight(l, " "))
	}
	return b.String()
}

// highlightLength is how many bytes from the error's offset the snippet
// highlights: OPA's location text, except that for a reference error it
// covers the reference up to the offending key (input.finding.severty, not
// just input).
func highlightLength(e *ast.Error, src []byte) int {
	loc := e.Location
	n := len(loc.Text)
	if d, ok := e.Details.(*ast.RefErrInvalidDetail); ok && d.Pos < len(d.Ref) && src != nil {
		want := d.Ref[:d.Pos+1].String()
		off := byteOffset(src, loc.Row, loc.Col)
		if off+len(want) <= len(src) && string(src[off:off+len(want)]) == want {
			n = len(want)
		}
	}
	return n
}

// subjectRange converts an OPA location to an HCL range. Lines and columns
// come from OPA; the byte offsets HCL's snippet renderer relies on are
// recomputed from the source so that they agree with them. The range is
// cut at the end of its first line: a whole rule highlighted is no help.
func subjectRange(loc *ast.Location, src []byte, length int) hcl.Range {
	start := hcl.Pos{Line: loc.Row, Column: loc.Col, Byte: loc.Offset}
	if start.Line < 1 {
		start.Line = 1
	}
	if start.Column < 1 {
		start.Column = 1
	}
	if src == nil {
		return hcl.Range{Filename: loc.File, Start: start, End: start}
	}
	start.Byte = byteOffset(src, start.Line, start.Column)
	end := start
	text := src[start.Byte:min(start.Byte+max(length, 0), len(src))]
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	end.Byte += len(text)
	end.Column += utf8.RuneCount(text)
	return hcl.Range{Filename: loc.File, Start: start, End: end}
}

// byteOffset finds the byte offset of a 1-based line and (rune) column in
// src, clamped to the line's end.
func byteOffset(src []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(src) && src[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(src[off:])
		off += size
	}
	return off
}

func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
}

// suggest returns the candidate closest to have, if one is close enough to
// be the likely intent.
func suggest(have string, candidates []ast.Value) string {
	best, bestDist := "", len(have)/3+1
	for _, c := range candidates {
		s, ok := c.(ast.String)
		if !ok {
			continue
		}
		if d := levenshtein(have, string(s)); d < bestDist || (d == bestDist && best != "" && string(s) < best) {
			best, bestDist = string(s), d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
