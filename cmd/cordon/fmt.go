package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/internal/ui"
)

// runFmt behaves as `terraform fmt` for the HCL and as `opa fmt` for the
// Rego: it lists the files it changed, and with -check changes nothing and
// exits 3 when any file needs formatting.
func runFmt(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("fmt [options] [TARGET…]", "fmt [options] [DIR|FILE|-]…")
	m.outputFlags(fs)
	var check, diff, recursive, list, write bool
	fs.BoolVar(&check, "check", false, "check formatting only; exit 3 if any file needs it")
	fs.BoolVar(&diff, "diff", false, "show the formatting changes as a unified diff (patch -p1 applies it)")
	fs.BoolVar(&recursive, "recursive", false, "also format files in subdirectories")
	fs.BoolVar(&list, "list", true, "list the files that need or got formatting")
	fs.BoolVar(&write, "write", true, "write the formatted files (false with -check)")
	targets, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if check {
		write = false
	}
	if len(targets) == 0 {
		targets = []string{"."}
	}
	if len(targets) == 1 && targets[0] == "-" {
		return m.fmtStdin()
	}

	hclPaths, regoPaths, diags := formatFiles(targets, recursive)
	var results []*engine.FormatResult
	if len(hclPaths) > 0 {
		r, d := engine.FormatTargets(hclPaths, false)
		results = append(results, r...)
		diags = append(diags, d...)
	}
	for _, p := range regoPaths {
		r, d := formatRego(p)
		diags = append(diags, d...)
		if r != nil {
			results = append(results, r)
		}
	}
	if diags.HasErrors() {
		m.files = map[string]*hcl.File{}
		for _, d := range diags {
			if d.Subject != nil {
				if src, err := os.ReadFile(d.Subject.Filename); err == nil {
					m.files[d.Subject.Filename] = &hcl.File{Bytes: src}
				}
			}
		}
		m.showDiags(diags)
		return 1
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Path < results[j].Path })
	changed := 0
	for _, r := range results {
		if !r.Changed() {
			continue
		}
		changed++
		if list {
			fmt.Fprintln(m.stdout, r.Path)
		}
		if diff {
			io.WriteString(m.stdout, unifiedDiff(r.Path, r.Original, r.Formatted))
		}
		if write {
			info, err := os.Stat(r.Path)
			if err != nil {
				return m.fail("Cannot write "+r.Path, err)
			}
			if err := os.WriteFile(r.Path, r.Formatted, info.Mode().Perm()); err != nil {
				return m.fail("Cannot write "+r.Path, err)
			}
		}
	}
	if check && changed > 0 {
		return 3
	}
	return 0
}

// formatFiles resolves fmt's targets to the HCL and Rego files to format:
// a file as given (by its extension: .rego is Rego, anything else HCL), a
// directory's *.hcl and *.rego files (with recursive, its subdirectories'
// too, hidden ones such as .cordon and .git skipped).
func formatFiles(targets []string, recursive bool) (hclPaths, regoPaths []string, diags hcl.Diagnostics) {
	for _, t := range targets {
		info, err := os.Stat(t)
		if err != nil {
			diags = append(diags, ui.ErrorDiag("Cannot read path", err.Error()))
			continue
		}
		if !info.IsDir() {
			if strings.HasSuffix(t, ".rego") {
				regoPaths = append(regoPaths, t)
			} else {
				hclPaths = append(hclPaths, t)
			}
			continue
		}
		var found []string
		err = filepath.WalkDir(t, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != t && (!recursive || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(d.Name(), ".hcl") || strings.HasSuffix(d.Name(), ".rego") {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			diags = append(diags, ui.ErrorDiag("Cannot read directory", err.Error()))
			continue
		}
		sort.Strings(found)
		for _, p := range found {
			if strings.HasSuffix(p, ".rego") {
				regoPaths = append(regoPaths, p)
			} else {
				hclPaths = append(hclPaths, p)
			}
		}
	}
	return hclPaths, regoPaths, diags
}

// formatRego formats a Rego file as `opa fmt` does (Rego v1). A file that
// does not parse is a diagnostic and is never formatted.
func formatRego(path string) (*engine.FormatResult, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{ui.ErrorDiag("Cannot read file", err.Error())}
	}
	out, err := format.SourceWithOpts(path, src, format.Opts{
		RegoVersion:   ast.RegoV1,
		ParserOptions: &ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true},
	})
	if err != nil {
		return nil, regoDiagnostics(path, src, err)
	}
	return &engine.FormatResult{Path: path, Original: src, Formatted: out}, nil
}

// regoDiagnostics turns a Rego parse error into diagnostics at its place.
func regoDiagnostics(path string, src []byte, err error) hcl.Diagnostics {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return hcl.Diagnostics{ui.ErrorDiag("Invalid Rego", fmt.Sprintf("%s: %v", path, err))}
	}
	var diags hcl.Diagnostics
	for _, e := range errs {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid Rego", Detail: e.Message}
		if e.Location != nil {
			off := lineOffset(src, e.Location.Row) + max(e.Location.Col-1, 0)
			pos := hcl.Pos{Line: e.Location.Row, Column: e.Location.Col, Byte: off}
			d.Subject = &hcl.Range{Filename: path, Start: pos, End: hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: off + 1}}
		} else {
			d.Detail = path + ": " + d.Detail
		}
		diags = append(diags, d)
	}
	return diags
}

// lineOffset is the byte offset where line (1-based) starts.
func lineOffset(src []byte, line int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	return off
}

func (m *meta) fmtStdin() int {
	src, err := io.ReadAll(m.stdin)
	if err != nil {
		return m.fail("Cannot read standard input", err)
	}
	out, diags := config.Format("<stdin>", src)
	if diags.HasErrors() {
		m.files = map[string]*hcl.File{"<stdin>": {Bytes: src}}
		m.showDiags(diags)
		return 1
	}
	m.stdout.Write(out)
	return 0
}

// unifiedDiff is the unified diff from a to b of the file at path, with
// git's a/ and b/ prefixes, so that `patch -p1` run where fmt was run
// applies it; a last line without a newline is marked as diff marks it.
func unifiedDiff(path string, a, b []byte) string {
	name := filepath.ToSlash(filepath.Clean(path))
	al, bl := diffLines(string(a)), diffLines(string(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", name, name)
	line := func(prefix, l string) {
		out.WriteString(prefix + l)
		if !strings.HasSuffix(l, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
	for _, g := range difflib.NewMatcher(al, bl).GetGroupedOpCodes(3) {
		first, last := g[0], g[len(g)-1]
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", diffRange(first.I1, last.I2), diffRange(first.J1, last.J2))
		for _, c := range g {
			if c.Tag == 'e' {
				for _, l := range al[c.I1:c.I2] {
					line(" ", l)
				}
				continue
			}
			if c.Tag == 'r' || c.Tag == 'd' {
				for _, l := range al[c.I1:c.I2] {
					line("-", l)
				}
			}
			if c.Tag == 'r' || c.Tag == 'i' {
				for _, l := range bl[c.J1:c.J2] {
					line("+", l)
				}
			}
		}
	}
	return out.String()
}

// diffLines splits s into lines, each with its newline (the last may
// have none).
func diffLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diffRange is a hunk's range as diff writes it: start,length, with
// length 1 left out and an empty range starting before its place.
func diffRange(start, stop int) string {
	n := stop - start
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
