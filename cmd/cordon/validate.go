package main

import (
	"context"
	"fmt"

	"github.com/cordonhq/cordon/internal/ui"
)

func runValidate(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("validate [-config DIR] [-var 'NAME=VALUE'] [-var-file FILE] [-json]",
		"validate [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	m.jsonFlag(fs, "print the result as JSON")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "validate", pos, " (use -config DIR)") {
		return 1
	}
	_, diags := m.loadEngine(ctx, false)
	if m.jsonOut {
		// The shape of `terraform validate -json`, so editor and CI
		// integrations built for it read ours; every -json command that
		// fails prints its errors in it.
		doc := ui.NewDiagnosticsDocument(diags)
		m.writeJSON(doc)
		if !doc.Valid {
			return 1
		}
		return 0
	}
	m.showDiags(diags)
	if diags.HasErrors() {
		return 1
	}
	msg := " The configuration is valid."
	if len(diags) > 0 {
		msg = " The configuration is valid, but there were some validation warnings as shown above."
	}
	fmt.Fprintln(m.stdout, ui.Paint(m.color(m.stdout), ui.Green, "Success!")+msg)
	return 0
}
