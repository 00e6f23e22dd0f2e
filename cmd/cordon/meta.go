package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/internal/ui"
)

// meta holds what every command shares: its streams and the flags common
// to commands that load a configuration.
type meta struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configDir string
	vars      multiFlag
	varFiles  multiFlag
	noColor   bool
	jsonOut   bool
	debug     bool

	// files supplies sources for diagnostic snippets.
	files map[string]*hcl.File
}

func newMeta(stdin io.Reader, stdout, stderr io.Writer) *meta {
	return &meta{stdin: stdin, stdout: stdout, stderr: stderr, files: map[string]*hcl.File{}}
}

// flagSet makes a command's flag set. Errors and -help go to stderr with
// the command's usage; the caller returns exit 1 on a parse error.
func (m *meta) flagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.stderr, "Usage: cordon %s\n\n", usage)
		fmt.Fprintln(m.stderr, "Options:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; it returns the exit code to use when parsing ended
// the command (-help: 0, a bad flag: 1).
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 1, false
	}
	return 0, true
}

// configFlags adds -config, -var and -var-file.
func (m *meta) configFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.configDir, "config", ".", "configuration `DIR`")
	fs.Var(&m.vars, "var", "set a variable: -var 'name=value' (repeatable)")
	fs.Var(&m.varFiles, "var-file", "set variables from an HCL `FILE` (repeatable)")
}

func (m *meta) outputFlags(fs *flag.FlagSet) {
	fs.BoolVar(&m.noColor, "no-color", false, "disable colour")
}

// color reports whether w gets ANSI colour: only a terminal, never with
// -no-color.
func (m *meta) color(w io.Writer) bool {
	if m.noColor {
		return false
	}
	f, ok := w.(*os.File)
	return ok && ui.IsTerminal(f)
}

// loadEngine loads the configuration named by the flags.
func (m *meta) loadEngine(ctx context.Context, includeTests bool) (*engine.Engine, hcl.Diagnostics) {
	opts := engine.Options{
		Dir:          m.configDir,
		Vars:         m.vars,
		VarFiles:     m.varFiles,
		IncludeTests: includeTests,
	}
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

// showDiags writes diagnostics to stderr, as JSON with -json.
func (m *meta) showDiags(diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	if m.jsonOut {
		ui.WriteJSONDiagnostics(m.stderr, diags)
		return
	}
	ui.WriteDiagnostics(m.stderr, m.files, compactWarnings(diags), m.color(m.stderr))
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
		out = append(out, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  fmt.Sprintf("%d more similar warnings", seen[k]-keep),
			Detail:   "Warnings from the same place for other findings are not shown.",
		})
	}
	return out
}
