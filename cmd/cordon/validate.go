package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/internal/ui"
)

func runValidate(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("validate [-config DIR] [-var 'name=value'] [-var-file FILE] [-json]",
		"validate [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	fs.BoolVar(&m.jsonOut, "json", false, "print the result as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.stderr, "cordon validate: unexpected argument %q (use -config DIR)\n", fs.Arg(0))
		fs.Usage()
		return 1
	}
	_, diags := m.loadEngine(ctx, false)
	if m.jsonOut {
		// The shape of `terraform validate -json`, so editor and CI
		// integrations built for it read ours.
		errs, warns := count(diags)
		m.writeJSON(struct {
			FormatVersion string              `json:"format_version"`
			Valid         bool                `json:"valid"`
			ErrorCount    int                 `json:"error_count"`
			WarningCount  int                 `json:"warning_count"`
			Diagnostics   []ui.JSONDiagnostic `json:"diagnostics"`
		}{"1.0", errs == 0, errs, warns, ui.JSONDiagnostics(diags)})
		if errs > 0 {
			return 1
		}
		return 0
	}
	m.showDiags(diags)
	if diags.HasErrors() {
		return 1
	}
	fmt.Fprintln(m.stdout, paint(m.color(m.stdout), "\x1b[32;1m", "Success!")+" The configuration is valid.")
	return 0
}

func count(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

func paint(color bool, code, s string) string {
	if !color {
		return s
	}
	return code + s + "\x1b[0m"
}
