package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// meta holds what every command shares: its streams and the flags common
// to commands that load a configuration, read state or print.
type meta struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// out counts what the command wrote to stdout, so that a -json
	// command that fails before printing its document prints its
	// diagnostics as one instead (finish).
	out *countingWriter

	configDir string
	configSet bool
	statePath string
	vars      multiFlag
	varFiles  multiFlag
	noColor   bool
	jsonOut   bool
	debug     bool

	// files supplies sources for diagnostic snippets.
	files map[string]*hcl.File
	// pending are the diagnostics of a -json command, written when it
	// ends: as its stdout document when it failed without one, else as
	// JSON on stderr.
	pending hcl.Diagnostics
	// usage prints the current command's usage.
	usage func(w io.Writer)
}

func newMeta(stdin io.Reader, stdout, stderr io.Writer) *meta {
	out := &countingWriter{w: stdout}
	return &meta{stdin: stdin, stdout: out, stderr: stderr, out: out, files: map[string]*hcl.File{}, usage: func(io.Writer) {}}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// terminal returns the *os.File under w, for terminal checks.
func terminal(w io.Writer) io.Writer {
	if c, ok := w.(*countingWriter); ok {
		return c.w
	}
	return w
}

// flagSet makes a command's flag set: name is the usage line, synopsis
// the short form printed after "Usage: cordon". -help prints the usage
// to stdout (as Terraform's does); a bad flag prints it to stderr.
func (m *meta) flagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	print := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: cordon %s\n\n", synopsis)
		if name != synopsis {
			fmt.Fprintf(w, "  cordon %s\n\n", name)
		}
		fmt.Fprintln(w, "Options:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(m.stderr)
	}
	m.usage = print
	fs.Usage = func() { print(m.stderr) }
	return fs
}

// parseArgs parses the flags of a command given before and after its
// positional arguments (cordon apply PLANFILE -json, as the README shows
// it), which Go's flag package stops at, and returns the positional
// arguments. "--" ends the flags. It returns the exit code when parsing
// ended the command: -help (usage on stdout) 0, a bad flag 1.
func (m *meta) parseArgs(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				m.usage(m.stdout)
				return nil, 0, false
			}
			usage()
			return nil, 1, false
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

// noArgs fails a command that takes no positional argument and was given
// one.
func (m *meta) noArgs(fs *flag.FlagSet, command string, pos []string, hint string) bool {
	if len(pos) == 0 {
		return true
	}
	fmt.Fprintf(m.stderr, "cordon %s: unexpected argument %q%s\n", command, pos[0], hint)
	fs.Usage()
	return false
}

// configDirFlag is -config: a directory, remembered as given, so that
// -config and -state can be told apart.
type configDirFlag struct{ m *meta }

func (f configDirFlag) String() string {
	if f.m == nil {
		return "."
	}
	return f.m.configDir
}

func (f configDirFlag) Set(v string) error {
	f.m.configDir, f.m.configSet = v, true
	return nil
}

// configFlags adds -config, -var and -var-file.
func (m *meta) configFlags(fs *flag.FlagSet) {
	m.configOnlyFlag(fs)
	fs.Var(&m.vars, "var", "set a variable (`NAME=VALUE`; repeatable)")
	fs.Var(&m.varFiles, "var-file", "set variables from an HCL `FILE` (repeatable)")
}

// configOnlyFlag adds -config alone, for commands that take no
// variables.
func (m *meta) configOnlyFlag(fs *flag.FlagSet) {
	if m.configDir == "" {
		m.configDir = "."
	}
	fs.Var(configDirFlag{m}, "config", "configuration `DIR` (default: the current directory)")
}

// stateFlag adds -state, for commands that only read or edit state: they
// then need no configuration.
func (m *meta) stateFlag(fs *flag.FlagSet) {
	fs.StringVar(&m.statePath, "state", "", "use this state instead of the configuration's: a SQLite database `PATH`, or a PostgreSQL postgres:// URL")
}

// outputFlags adds -no-color.
func (m *meta) outputFlags(fs *flag.FlagSet) {
	fs.BoolVar(&m.noColor, "no-color", false, "disable colour (so does the NO_COLOR environment variable)")
}

// jsonFlag adds -json.
func (m *meta) jsonFlag(fs *flag.FlagSet, help string) {
	fs.BoolVar(&m.jsonOut, "json", false, help)
}

// color reports whether w gets ANSI colour: only a terminal, never with
// -no-color or NO_COLOR.
func (m *meta) color(w io.Writer) bool {
	return ui.Color(terminal(w), m.noColor)
}

// loadEngine loads the configuration named by the flags, its policies
// compiled.
func (m *meta) loadEngine(ctx context.Context, includeTests bool) (*engine.Engine, hcl.Diagnostics) {
	return m.load(ctx, engine.Options{IncludeTests: includeTests})
}

// loadConfig loads the configuration named by the flags without its
// policies: for what acts on recorded incidents, which a policy being
// edited must not stop.
func (m *meta) loadConfig(ctx context.Context) (*engine.Engine, hcl.Diagnostics) {
	return m.load(ctx, engine.Options{ConfigOnly: true})
}

func (m *meta) load(ctx context.Context, opts engine.Options) (*engine.Engine, hcl.Diagnostics) {
	opts.Dir, opts.Vars, opts.VarFiles = m.configDir, m.vars, m.varFiles
	if m.debug {
		opts.Debug = m.stderr
	}
	e, diags := engine.Load(ctx, opts)
	if e != nil {
		for n, f := range e.Files() {
			m.files[n] = f
		}
	}
	return e, diags
}

// openState opens the state the flags name: with -state, that database
// and no configuration (the engine is then nil); else the configuration's,
// loaded without its policies, so that a Rego file being edited never
// keeps a responder from the incident records.
func (m *meta) openState(ctx context.Context) (*engine.Engine, state.Store, int) {
	if m.statePath != "" {
		if m.configSet {
			fmt.Fprintln(m.stderr, "cordon: -config and -state are alternatives: give one")
			return nil, nil, 1
		}
		st, code := m.openStatePath(ctx, m.statePath)
		return nil, st, code
	}
	e, diags := m.loadConfig(ctx)
	if diags.HasErrors() {
		m.showDiags(diags)
		return nil, nil, 1
	}
	st, err := e.OpenState()
	if err != nil {
		return nil, nil, m.fail("Cannot open state", err)
	}
	return e, st, 0
}

// openStatePath opens the state -state names: a SQLite database, which
// must exist, or a PostgreSQL database by its postgres:// URL, which must
// hold cordon's state.
func (m *meta) openStatePath(ctx context.Context, path string) (state.Store, int) {
	if isPostgresURL(path) {
		// The URL's password stays out of the errors: the store scrubs
		// them.
		st, err := state.OpenPostgres(ctx, path, state.PostgresOptions{MustExist: true})
		if err != nil {
			return nil, m.fail("Cannot open state", err)
		}
		return st, 0
	}
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		err = fmt.Errorf("%s is a directory, not a state database", path)
	}
	if err != nil {
		return nil, m.fail("Cannot open state", err)
	}
	st, err := state.OpenSQLite(path)
	if err != nil {
		return nil, m.fail("Cannot open state", err)
	}
	return st, 0
}

// isPostgresURL reports whether a -state value names a PostgreSQL
// database rather than a SQLite file.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// showDiags writes diagnostics to stderr. With -json they are held until
// the command ends (finish).
func (m *meta) showDiags(diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	if m.jsonOut {
		m.pending = append(m.pending, diags...)
		return
	}
	ui.WriteDiagnostics(m.stderr, m.files, compactWarnings(diags), m.color(m.stderr))
}

// finish writes the diagnostics a -json command held: a command that
// failed without printing its document prints them as its document on
// stdout, in validate -json's shape, so that a script reading stdout
// always gets JSON; otherwise they go to stderr, as JSON.
func (m *meta) finish(code int) {
	if !m.jsonOut || len(m.pending) == 0 {
		return
	}
	if code != 0 && m.out.n == 0 {
		m.writeJSON(ui.NewDiagnosticsDocument(m.pending))
	} else {
		ui.WriteJSONDiagnostics(m.stderr, m.pending)
	}
	m.pending = nil
}

// fail reports an error that has no source location and returns exit 1.
func (m *meta) fail(summary string, err error) int {
	m.showDiags(hcl.Diagnostics{ui.ErrorDiag(summary, err.Error())})
	return 1
}

// writeJSON writes v as indented JSON to stdout.
func (m *meta) writeJSON(v any) error {
	enc := json.NewEncoder(m.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// compactWarnings keeps the first three warnings of each summary and
// counts the rest, so 10,000 findings failing one condition give one
// readable warning instead of a wall, as Terraform folds similar warnings.
func compactWarnings(diags hcl.Diagnostics) hcl.Diagnostics {
	const keep = 3
	seen := map[string]int{}
	var out hcl.Diagnostics
	var folded []string
	for _, d := range diags {
		if d.Severity != hcl.DiagWarning {
			out = append(out, d)
			continue
		}
		key := d.Detail
		if d.Subject != nil {
			key = d.Subject.String()
		}
		seen[key]++
		if seen[key] <= keep {
			out = append(out, d)
		} else if seen[key] == keep+1 {
			folded = append(folded, key)
		}
	}
	for _, k := range folded {
		n := seen[k] - keep
		out = append(out, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  plural(n, "more similar warning", "more similar warnings"),
			Detail:   "Warnings from the same place for other findings are not shown.",
		})
	}
	return out
}

// plural is "1 thing" or "N things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// isTerminalWriter reports whether w writes to a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := terminal(w).(*os.File)
	return ok && ui.IsTerminal(f)
}
