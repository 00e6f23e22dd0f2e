package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/state"
)

// runReport writes an incident's report (SPEC §8): verdict, timeline,
// root cause, scope, impact, evidence and actions, as Markdown, a
// self-contained HTML file or JSON.
func runReport(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("report INCIDENT [options]", "report INCIDENT [-format md|html|json] [-out FILE] [-config DIR | -state PATH|URL]")
	m.configFlags(fs)
	var format, out, statePath string
	fs.StringVar(&format, "format", "md", "report format: `md`, html or json")
	fs.StringVar(&out, "out", "", "write the report to `FILE` (mode 0600, replaced atomically) instead of stdout")
	fs.StringVar(&statePath, "state", "", "read this state instead of the configuration's: a SQLite database `PATH`, or a PostgreSQL postgres:// URL")
	pos, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
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
	var configSet bool
	fs.Visit(func(f *flag.Flag) { configSet = configSet || f.Name == "config" })
	if statePath != "" && configSet {
		fmt.Fprintln(m.stderr, "cordon report: -config and -state are alternatives: give one")
		return 1
	}

	st, types, code := m.openReportState(ctx, statePath)
	if st == nil {
		return code
	}
	defer st.Close()
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

// openReportState opens the state a report reads: the state statePath
// names when given (a SQLite database, which must exist, or a PostgreSQL
// database by its postgres:// URL, which must hold cordon's state; no
// configuration is loaded, so facts are recognised by their shape), else
// the configuration's state, as cordon state does. It returns the
// collector types the configuration names (nil with -state).
func (m *meta) openReportState(ctx context.Context, statePath string) (state.Store, map[string]string, int) {
	if statePath == "" {
		e, st, code := m.openState(ctx)
		if st == nil {
			return nil, nil, code
		}
		return st, e.CollectorTypes(), 0
	}
	if isPostgresURL(statePath) {
		// The URL's password stays out of the errors: the store scrubs
		// them.
		st, err := state.OpenPostgres(ctx, statePath, state.PostgresOptions{MustExist: true})
		if err != nil {
			return nil, nil, m.fail("Cannot open state", err)
		}
		return st, nil, 0
	}
	fi, err := os.Stat(statePath)
	if err == nil && fi.IsDir() {
		err = fmt.Errorf("%s is a directory, not a state database", statePath)
	}
	if err != nil {
		return nil, nil, m.fail("Cannot open state", err)
	}
	st, err := state.OpenSQLite(statePath)
	if err != nil {
		return nil, nil, m.fail("Cannot open state", err)
	}
	return st, nil, 0
}

// isPostgresURL reports whether a -state value names a PostgreSQL
// database rather than a SQLite file.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// parseInterspersed parses flags given before and after the positional
// arguments (cordon report INCIDENT -format html), which Go's flag package
// stops at. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := parse(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		// flag stops at "--" (consumed) or at the first non-flag.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
