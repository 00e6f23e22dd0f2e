package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/state"
)

// runReport writes an incident's report (docs/state.md): verdict, timeline,
// root cause, scope, impact, evidence and actions, as Markdown, a
// self-contained HTML file or JSON.
func runReport(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("report INCIDENT [-format md|html|json] [-out FILE] [-config DIR | -state PATH|URL]", "report INCIDENT [options]")
	m.configFlags(fs)
	m.stateFlag(fs)
	m.outputFlags(fs)
	var format, out string
	fs.StringVar(&format, "format", "md", "report `FORMAT`: md, html or json")
	fs.StringVar(&out, "out", "", "write the report to `FILE` (mode 0600, replaced atomically) instead of stdout")
	m.jsonFlag(fs, "the report as JSON (-format json)")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if m.jsonOut {
		if format != "md" && format != "json" {
			fmt.Fprintf(m.stderr, "cordon report: -json and -format %s are alternatives: give one\n", format)
			return 1
		}
		format = "json"
	}
	if len(pos) != 1 {
		fmt.Fprintln(m.stderr, "cordon report: expected exactly one INCIDENT")
		fs.Usage()
		return 1
	}
	if !slices.Contains(engine.ReportFormats, format) {
		fmt.Fprintf(m.stderr, "cordon report: unknown -format %q: use md, html or json\n", format)
		fs.Usage()
		return 1
	}
	// Without a configuration (-state), facts are recognised by their
	// shape.
	e, st, code := m.openState(ctx)
	if st == nil {
		return code
	}
	defer st.Close()
	var types map[string]string
	if e != nil {
		types = e.CollectorTypes()
	}
	id := pos[0]
	r, err := engine.BuildReport(ctx, st, id, types)
	if errors.Is(err, state.ErrNotFound) {
		return m.fail("No such incident", fmt.Errorf("incident %s is not in the state (cordon state list shows those that are)", id))
	}
	if err != nil {
		return m.fail("Cannot read state", err)
	}
	// Rendered whole before anything is written: a failure leaves no
	// partial report on stdout or in -out.
	var buf bytes.Buffer
	if err := engine.RenderReport(&buf, r, format); err != nil {
		return m.fail("Cannot render the report", err)
	}
	if out == "" {
		if _, err := m.stdout.Write(buf.Bytes()); err != nil {
			return m.fail("Cannot write the report", err)
		}
		return 0
	}
	if err := engine.WriteFileAtomic(out, buf.Bytes()); err != nil {
		return m.fail("Cannot write the report", err)
	}
	entry, err := recordReport(ctx, st, id, out, format, buf.Bytes(), r.Custody.Head)
	if err != nil {
		return m.fail("Cannot record the report in the chain of custody", fmt.Errorf("the report was written to %s, but: %w", out, err))
	}
	fmt.Fprintf(m.stderr, "Report of incident %s written to %s (SHA-256 %s), custody entry %d.\n", id, out, entry.SHA256, entry.Seq)
	return 0
}
