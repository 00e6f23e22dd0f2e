package engine

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine/config"
)

// FormatResult is one file `cordon fmt` looked at.
type FormatResult struct {
	Path      string
	Original  []byte
	Formatted []byte
}

// Changed reports whether formatting changes the file.
func (r *FormatResult) Changed() bool { return !bytes.Equal(r.Original, r.Formatted) }

// FormatTargets formats the HCL files named by targets (files, or
// directories whose *.hcl files — and with recursive, their
// subdirectories' — are formatted). It writes nothing; the caller decides.
// A file that does not parse is a diagnostic and is never formatted.
func FormatTargets(targets []string, recursive bool) ([]*FormatResult, hcl.Diagnostics) {
	var (
		out   []*FormatResult
		diags hcl.Diagnostics
	)
	for _, t := range targets {
		info, err := os.Stat(t)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read path", Detail: err.Error()})
			continue
		}
		var paths []string
		if !info.IsDir() {
			paths = []string{t}
		} else {
			paths, err = hclFiles(t, recursive)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read directory", Detail: err.Error()})
				continue
			}
		}
		for _, p := range paths {
			src, err := os.ReadFile(p)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read file", Detail: err.Error()})
				continue
			}
			formatted, d := config.Format(p, src)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			out = append(out, &FormatResult{Path: p, Original: src, Formatted: formatted})
		}
	}
	return out, diags
}

// hclFiles lists *.hcl files (scenario tests included) under dir, skipping
// hidden directories such as .cordon and .git.
func hclFiles(dir string, recursive bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".hcl") {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
